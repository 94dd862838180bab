//! Times the storage alone, without sockets, one call after another:
//! - `Storage::insert_messages` with one-message batches (each with a clientMsgId, as the
//!   web client sends them) in 10 rooms: what the message batcher waits for;
//! - `Storage::membership`, a one-row read: what a socket's `authenticate`, `joinRoom` or
//!   a directory miss waits for.
//!
//! For each: the latency of a call (p50, p90, p99) and this process's CPU per call (user +
//! system, all threads, sqlx's and SQLite's included).
//!
//! `cargo run --release -p knock-server --example storage_latency -- [DATABASE_URL] [CALLS]`
//!
//! Without a URL: a fresh SQLite file in a temporary folder; 3,000 calls of each. A
//! PostgreSQL URL works too (users and rooms get fresh names). docs/benchmarks.md, sixth
//! round, has the figures.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use knock_protocol::{ClientMsgId, MessageId, RoomId, UserId};
use knock_server::storage::{self, NewMessage, NewRoom};

const ROOMS: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scratch = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite:{}", scratch.path().join("knock.db").display()));
    let calls: usize = args.next().map_or(Ok(3_000), |n| n.parse())?;
    anyhow::ensure!(calls > 0, "no calls to time");

    let storage = storage::open(&url).await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let rooms: Vec<(RoomId, UserId)> = (0..ROOMS)
        .map(|n| {
            (
                RoomId(format!("room-{run}-{n}")),
                UserId(format!("user-{run}-{n}")),
            )
        })
        .collect();
    for (room_id, admin) in &rooms {
        storage.create_user(admin, "not a real hash", 0).await?;
        let room = NewRoom {
            room_id: room_id.clone(),
            room_name: "bench".to_owned(),
            admin: admin.clone(),
            created_at: 0,
        };
        storage.create_room(&room).await?;
    }

    let timed = time_calls(calls, |n| {
        let (room_id, user_id) = &rooms[n % ROOMS];
        let message = NewMessage {
            room_id: room_id.clone(),
            user_id: user_id.clone(),
            message: format!("message {n}, about as long as the load generator's probes"),
            timestamp: i64::try_from(n).unwrap_or(i64::MAX),
            message_id: MessageId(uuid::Uuid::now_v7().to_string()),
            client_msg_id: Some(ClientMsgId(uuid::Uuid::new_v4().to_string())),
            reply_to: None,
            mentions: Vec::new(),
        };
        let storage = &storage;
        async move {
            storage
                .insert_messages(std::slice::from_ref(&message))
                .await?;
            Ok(())
        }
    })
    .await?;
    print_timing("one-message batches", timed);

    let timed = time_calls(calls, |n| {
        let (room_id, user_id) = &rooms[n % ROOMS];
        let storage = &storage;
        async move {
            let membership = storage.membership(room_id, user_id).await?;
            anyhow::ensure!(membership.is_some(), "the admin's membership is missing");
            Ok(())
        }
    })
    .await?;
    print_timing("membership reads", timed);
    Ok(())
}

/// Each call's latency, and this process's CPU over all of them.
async fn time_calls<F, Call>(calls: usize, mut call: F) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    F: FnMut(usize) -> Call,
    Call: Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(calls);
    let cpu_before = process_cpu()?;
    for n in 0..calls {
        let pending = call(n);
        let started = Instant::now();
        pending.await?;
        latencies.push(started.elapsed());
    }
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    Ok((latencies, cpu))
}

fn print_timing(what: &str, (mut latencies, cpu): (Vec<Duration>, Duration)) {
    latencies.sort_unstable();
    // Nearest rank below, in thousandths.
    let ms =
        |permille: usize| latencies[(latencies.len() - 1) * permille / 1000].as_secs_f64() * 1e3;
    println!(
        "{} {what}: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms; process CPU {} µs per call",
        latencies.len(),
        ms(500),
        ms(900),
        ms(990),
        cpu.as_micros() / latencies.len() as u128,
    );
}

/// User + system time of this process so far, from `/proc/self/stat` (clock ticks of
/// 10 ms: read it around thousands of calls, not one).
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(index)
            .context("short /proc/self/stat")?
            .parse()?)
    };
    // utime and stime are fields 14 and 15 of the line, 12th and 13th after the name.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
