//! Presence and typing (issue 18): what they add to the fan-out room. One room of
//! `members`; a probe message stream as in workload 2; then the same stream while members
//! of the room come and go (a pool of extra members, half of them online: each step one
//! goes offline and another comes online, two presence changes), and while some members
//! send `typing` every `TYPING_THROTTLE_SECS`. Prints one table; not part of `all`. A
//! server without presence or typing (an older build) answers `typing` with
//! `unknown_action`: that run is the "without" column.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::Context;
use clap::Args;
use knock_protocol::{ClientMessage, RoomId, limits};

use super::CpuMeter;
use crate::{
    client::{self, Member, Net, Probes, Shared, send},
    room::{Room, Sender, drain, send_plan, setup_room},
    sched::Plan,
    server::Server,
    util,
};

#[derive(Args, Clone)]
pub struct PresenceArgs {
    #[arg(long, default_value = "target/release/knock-server")]
    server_bin: PathBuf,
    /// Members of the room who stay connected and receive every probe message.
    #[arg(long, default_value_t = 1_000)]
    members: usize,
    /// Further members who come and go (half online at any time).
    #[arg(long, default_value_t = 100)]
    churners: usize,
    /// Probe messages per second into the room.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Presence steps per second (each: one churner leaves, another comes).
    #[arg(long, default_value_t = 20.0)]
    churn: f64,
    /// Members who send `typing` every `limits::TYPING_THROTTLE_SECS`.
    #[arg(long, default_value_t = 40)]
    typists: usize,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 15.0)]
    secs: f64,
    #[arg(long, default_value_t = 4)]
    sources: u8,
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    last_p50_ms: f64,
    last_p99_ms: f64,
    incomplete: u64,
    server_cores: f64,
    presence_per_member_s: f64,
    typing_per_member_s: f64,
    errors: u64,
}

pub async fn run(args: PresenceArgs) -> anyhow::Result<()> {
    util::start_clock();
    util::raise_nofile();
    let temp = std::env::temp_dir().join(format!("knock-presence-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let mut server = Server::start(
        &args.server_bin,
        &temp.join("bench.db"),
        &temp.join("server.log"),
    )
    .await?;
    let prefix = format!("lg{}p", std::process::id());
    let accounts = client::register_many(&server.http(), &prefix, args.members + args.churners, 8)
        .await
        .context("registering accounts")?;
    let net = Net::new(server.addr, args.sources);
    let mut room = setup_room(&net, &accounts, "presence")
        .await
        .context("setting up the room")?;
    // The churners leave the probe room's readers: their own sockets, their own counts.
    let churner_accounts = accounts[args.members..].to_vec();
    for member in room.members.split_off(args.members) {
        member.close().await;
    }
    let (churn_shared, _churn_events) = Shared::new();
    let mut online: Vec<Member> = Vec::new();
    for (i, account) in churner_accounts.iter().enumerate().take(args.churners / 2) {
        let ws = net.open(&account.token).await?;
        online.push(Member::start(
            i,
            account.user_id.clone(),
            ws,
            churn_shared.clone(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    util::log(format!(
        "room of {} members, {} churners ({} online); {} msg/s, {} steps/s, {} typists, {} s a phase",
        args.members,
        args.churners,
        online.len(),
        args.rate,
        args.churn,
        args.typists,
        args.secs
    ));

    let mut phases = Vec::new();
    let mut run_no = 0;
    for name in [
        "messages only",
        "messages + presence churn",
        "messages + typing",
    ] {
        run_no += 1;
        let churn = name.contains("churn");
        let typing = name.contains("typing");
        let phase = phase(
            name,
            &args,
            &server,
            &mut room,
            run_no,
            churn.then_some((&net, &churner_accounts, &churn_shared, &mut online)),
            typing,
        )
        .await?;
        util::log(format!(
            "{name}: last p50 {:.2} p99 {:.2} ms, server {:.2} cores, presence {:.3} and typing {:.3} frames per member per s",
            phase.last_p50_ms,
            phase.last_p99_ms,
            phase.server_cores,
            phase.presence_per_member_s,
            phase.typing_per_member_s
        ));
        phases.push(phase);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for member in online {
        member.close().await;
    }
    room.close().await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&temp);

    print_table(&phases);
    Ok(())
}

fn print_table(phases: &[Phase]) {
    println!(
        "| phase | last recipient p50 ms | p99 ms | messages short of someone | server cores | `presence` frames per member per s | `typing` frames per member per s | error frames |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in phases {
        println!(
            "| {} | {:.2} | {:.2} | {} | {:.2} | {:.3} | {:.3} | {} |",
            p.name,
            p.last_p50_ms,
            p.last_p99_ms,
            p.incomplete,
            p.server_cores,
            p.presence_per_member_s,
            p.typing_per_member_s,
            p.errors
        );
    }
}

type Churn<'a> = (
    &'a Net,
    &'a [client::Account],
    &'a Arc<Shared>,
    &'a mut Vec<Member>,
);

async fn phase(
    name: &'static str,
    args: &PresenceArgs,
    server: &Server,
    room: &mut Room,
    run: u32,
    churn: Option<Churn<'_>>,
    typing: bool,
) -> anyhow::Result<Phase> {
    let duration = Duration::from_secs_f64(args.secs);
    // Two senders, after the admin, as in workload 2's steps.
    let senders = 2.min(room.members.len() - 1);
    let plan = Plan::new(args.rate, duration, senders);
    let probes = Arc::new(Probes::new(run, plan.count));
    room.shared.set_probes(Some(probes.clone()));
    let recipients = u32::try_from(room.members.len()).context("room size")?;
    let expected = plan.count * u64::from(recipients);
    let counted = |shared: &Shared| {
        (
            shared.presence.load(Ordering::Relaxed),
            shared.typing.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed),
        )
    };
    let before = counted(&room.shared);
    let cpu = CpuMeter::start(server);
    let room_id = room.room_id.clone();
    let (sending, typists) = room.members[1..].split_at_mut(senders);
    let mut list: Vec<Sender<'_>> = sending
        .iter_mut()
        .map(|member| Sender {
            sink: &mut member.sink,
            room_id: room_id.clone(),
        })
        .collect();
    let typing_count = args.typists.min(typists.len());
    let typists = &mut typists[..typing_count];
    let side = async {
        if let Some(churn) = churn {
            churn_for(churn, args.churn, duration).await
        } else if typing {
            type_for(typists, &room_id, duration).await
        } else {
            Ok(())
        }
    };
    let (lag, side) = tokio::join!(send_plan(&mut list, &plan, run, 64), side);
    lag?;
    side?;
    drain(&probes, expected, Duration::from_secs(10)).await;
    let (server_cores, _) = cpu.stop();
    room.shared.set_probes(None);
    let after = counted(&room.shared);
    let results = probes.results(recipients);
    let per_member_s = |count: u64| util::f(count) / f64::from(recipients) / args.secs;
    Ok(Phase {
        name,
        last_p50_ms: results.last.summary().p50_ms,
        last_p99_ms: results.last.summary().p99_ms,
        incomplete: results.incomplete,
        server_cores,
        presence_per_member_s: per_member_s(after.0 - before.0),
        typing_per_member_s: per_member_s(after.1 - before.1),
        errors: after.2 - before.2,
    })
}

/// Each step, the oldest online churner closes its socket and the next offline one opens
/// one: two presence changes a step.
async fn churn_for(
    (net, accounts, shared, online): Churn<'_>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<()> {
    let steps = util::round_u64(rate * duration.as_secs_f64());
    let start = tokio::time::Instant::now();
    let mut opened = online.len();
    for step in 0..steps {
        tokio::time::sleep_until(start + Duration::from_secs_f64(util::f(step) / rate)).await;
        if !online.is_empty() {
            online.remove(0).close().await;
        }
        let account = &accounts[opened % accounts.len()];
        opened += 1;
        let ws = net.open(&account.token).await?;
        online.push(Member::start(
            opened,
            account.user_id.clone(),
            ws,
            shared.clone(),
        ));
    }
    Ok(())
}

/// Every typist sends `typing` once per throttle period, spread over it.
async fn type_for(
    typists: &mut [Member],
    room_id: &RoomId,
    duration: Duration,
) -> anyhow::Result<()> {
    if typists.is_empty() {
        return Ok(());
    }
    let period = Duration::from_secs(limits::TYPING_THROTTLE_SECS);
    let gap = period / u32::try_from(typists.len()).unwrap_or(u32::MAX);
    let start = tokio::time::Instant::now();
    let frame = ClientMessage::Typing {
        room_id: room_id.clone(),
    };
    let mut k: u32 = 0;
    while start.elapsed() < duration {
        tokio::time::sleep_until(start + gap * k).await;
        let typist = &mut typists[k as usize % typists.len()];
        send(&mut typist.sink, &frame).await?;
        k += 1;
    }
    Ok(())
}
