//! Search latency (issue 19): a server already running on a database filled by
//! `scripts/bench-search.sh` (millions of messages), searched over the real WebSocket by
//! users in a few rooms and in many, for a rare word, a common word and a phrase, across
//! their rooms and in one room. One search in flight at a time: the latency a person
//! typing in the search box sees.

use std::{fmt::Write, net::SocketAddr, time::Instant};

use anyhow::{Context, bail};
use clap::Args;
use knock_protocol::{ClientMessage, MemberStatus, RoomId, ServerMessage};

use crate::{
    client::{self, Answer, Net, STEP_TIMEOUT, Ws},
    hist::{Latency, Summary},
    util,
};

#[derive(Args, Clone)]
pub struct SearchArgs {
    /// The server to measure (`127.0.0.1:3000`), started with a `--search-rate` it will not
    /// meet, on a filled database.
    #[arg(long)]
    url: String,
    /// Users who search, registered with the load generator's password (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "bench_few,bench_many")]
    users: Vec<String>,
    /// Rare words, taken in turn (comma separated).
    #[arg(long, value_delimiter = ',')]
    rare: Vec<String>,
    /// Common words, taken in turn.
    #[arg(long, value_delimiter = ',')]
    common: Vec<String>,
    /// Phrases (their words without quotes), taken in turn.
    #[arg(long, value_delimiter = ',')]
    phrase: Vec<String>,
    /// Searches per case (after `warmup`).
    #[arg(long, default_value_t = 200)]
    searches: usize,
    /// Searches per case whose latency is not kept (caches warm up).
    #[arg(long, default_value_t = 20)]
    warmup: usize,
}

/// One line of the report.
struct Case {
    user: String,
    rooms: usize,
    scope: &'static str,
    kind: &'static str,
    latency: Summary,
    /// Results of the first page, averaged over the searches.
    results: f64,
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    util::start_clock();
    let addr: SocketAddr = args
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("--url {}: expected host:port", args.url))?;
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "only loopback servers are measured"
    );
    let kinds: [(&str, Vec<String>); 3] = [
        ("rare word", args.rare.clone()),
        ("common word", args.common.clone()),
        (
            "phrase",
            args.phrase.iter().map(|p| format!("\"{p}\"")).collect(),
        ),
    ];
    let net = Net::new(addr, 1);
    let http = reqwest::Client::new();
    let mut cases = Vec::new();
    for user in &args.users {
        let token = sign_in(&http, addr, user).await?;
        let mut ws = net.open(&token).await?;
        let rooms = approved_rooms(&mut ws).await?;
        util::log(format!("{user}: approved member of {} rooms", rooms.len()));
        let Some(one_room) = rooms.first().cloned() else {
            bail!("{user} is in no room: fill the database first");
        };
        for (scope, room) in [("across rooms", None), ("one room", Some(one_room))] {
            for (kind, queries) in &kinds {
                if queries.is_empty() {
                    continue;
                }
                let (latency, results) =
                    measure(&mut ws, queries, room.as_ref(), args.warmup, args.searches).await?;
                let case = Case {
                    user: user.clone(),
                    rooms: if room.is_some() { 1 } else { rooms.len() },
                    scope,
                    kind,
                    latency: latency.summary(),
                    results,
                };
                util::log(format!(
                    "{user} {scope} {kind}: p50 {:.2} ms, p99 {:.2} ms, {:.1} results",
                    case.latency.p50_ms, case.latency.p99_ms, case.results
                ));
                cases.push(case);
            }
        }
    }
    println!("{}", render(&cases));
    Ok(())
}

/// Signs in with the load generator's password, waiting out a busy server's 429s.
async fn sign_in(http: &reqwest::Client, addr: SocketAddr, user: &str) -> anyhow::Result<String> {
    let url = format!("http://{addr}/api/login");
    loop {
        match client::post_credentials(http, &url, user, reqwest::StatusCode::OK).await? {
            Answer::Signed(account) => return Ok(account.token),
            Answer::Refused(wait) => tokio::time::sleep(wait).await,
        }
    }
}

async fn approved_rooms(ws: &mut Ws) -> anyhow::Result<Vec<RoomId>> {
    client::send(ws, &ClientMessage::MyRooms).await?;
    client::wait_for(ws, STEP_TIMEOUT, |message| match message {
        ServerMessage::Rooms { rooms } => Some(
            rooms
                .into_iter()
                .filter(|room| room.status == MemberStatus::Approved)
                .map(|room| room.room_id)
                .collect(),
        ),
        _ => None,
    })
    .await
}

/// `warmup + searches` searches, one at a time, taking the queries in turn: the latency
/// of the kept ones (frame sent to `searchResults` read), and their mean result count.
async fn measure(
    ws: &mut Ws,
    queries: &[String],
    room: Option<&RoomId>,
    warmup: usize,
    searches: usize,
) -> anyhow::Result<(Latency, f64)> {
    let mut latency = Latency::new();
    let mut results = 0usize;
    for turn in 0..warmup + searches {
        let query = &queries[turn % queries.len()];
        let frame = ClientMessage::Search {
            query: query.clone(),
            room_id: room.cloned(),
            before_seq: None,
            cursor: None,
            limit: None,
        };
        let sent = Instant::now();
        client::send(ws, &frame).await?;
        let found = client::wait_for(ws, STEP_TIMEOUT, |message| match message {
            ServerMessage::SearchResults { results, .. } => Some(results.len()),
            _ => None,
        })
        .await
        .with_context(|| format!("search {query:?}"))?;
        if turn >= warmup {
            latency.record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
            results += found;
        }
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let mean = results as f64 / searches.max(1) as f64;
    Ok((latency, mean))
}

fn render(cases: &[Case]) -> String {
    let mut table = String::from(
        "| user (rooms searched) | where | query | p50 ms | p99 ms | max ms | results (of 20) |\n\
         |---|---|---|---:|---:|---:|---:|\n",
    );
    for case in cases {
        let _ = writeln!(
            table,
            "| {} ({}) | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
            case.user,
            case.rooms,
            case.scope,
            case.kind,
            case.latency.p50_ms,
            case.latency.p99_ms,
            case.latency.max_ms,
            case.results
        );
    }
    table
}
