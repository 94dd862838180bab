//! Workload 4: new sockets that connect, authenticate and ask to join a room, as fast as
//! they come; the rate, and the latency of each phase of that handshake.

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use knock_protocol::{ClientMessage, JoinRoom, MemberStatus, RoomId, ServerMessage};

use super::{CpuMeter, Env, Scale};
use crate::{
    client::{Event, Member, STEP_TIMEOUT, Shared, Ws, authenticate, send, wait_for},
    hist::{Latency, Summary},
    room::wait_events,
};

#[derive(Clone, Debug, Default)]
pub struct ConnectRun {
    pub sockets: u64,
    pub failures: u64,
    pub concurrency: usize,
    pub per_second: f64,
    /// Connect through `joinResponse`.
    pub handshake: Summary,
    /// TCP connect and WebSocket upgrade.
    pub upgrade: Summary,
    pub authenticate: Summary,
    pub join: Summary,
    pub server_cores: f64,
    pub generator_cores: f64,
    pub first_error: Option<String>,
}

struct Timings {
    upgrade: u64,
    authenticate: u64,
    join: u64,
}

pub async fn run(env: &Env, scale: &Scale) -> anyhow::Result<Vec<ConnectRun>> {
    let mut runs = Vec::new();
    for repeat in 0..scale.repeats {
        let run = once(env, scale).await?;
        crate::util::log(format!(
            "connect #{repeat}: {:.0}/s, handshake p50 {:.2} p99 {:.2} ms, failures {}",
            run.per_second, run.handshake.p50_ms, run.handshake.p99_ms, run.failures
        ));
        runs.push(run);
        // Let the server close the last run's sockets before the next.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Ok(runs)
}

async fn once(env: &Env, scale: &Scale) -> anyhow::Result<ConnectRun> {
    let net = env.net();
    // Joiners are every account but the admin; each room gets each of them once, so every
    // join is a real request (a write), never an answer from the current state.
    let admin_account = env.accounts.first().context("accounts")?;
    let joiners = &env.accounts[1..];
    anyhow::ensure!(!joiners.is_empty(), "two accounts needed");
    let (shared, mut events) = Shared::new();
    let mut admin = Member::start(
        0,
        admin_account.user_id.clone(),
        net.open(&admin_account.token).await?,
        shared,
    );
    let rooms_needed = scale.connect_count.div_ceil(joiners.len());
    let mut rooms: Vec<RoomId> = Vec::new();
    for i in 0..rooms_needed {
        send(
            &mut admin.sink,
            &ClientMessage::CreateRoom {
                room_name: format!("connect {i}"),
            },
        )
        .await?;
        let created = wait_events(&mut events, 1, |_, event| match event {
            Event::RoomCreated(id) => Some(id.clone()),
            _ => None,
        })
        .await?;
        rooms.extend(created);
    }
    let rooms = Arc::new(rooms);

    let cpu = CpuMeter::start(&env.server);
    let started = Instant::now();
    let results: Vec<(anyhow::Result<Timings>, Option<Ws>)> = stream::iter(0..scale.connect_count)
        .map(|i| {
            let account = &joiners[i % joiners.len()];
            let room_id = rooms[i / joiners.len()].clone();
            let net = &net;
            async move {
                let mut socket = None;
                let timings = handshake(net, &account.token, room_id, &mut socket).await;
                (timings, socket)
            }
        })
        .buffer_unordered(scale.connect_concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let (server_cores, generator_cores) = cpu.stop();

    let (mut handshake_h, mut upgrade, mut auth, mut join) = (
        Latency::new(),
        Latency::new(),
        Latency::new(),
        Latency::new(),
    );
    let mut failures = 0;
    let mut first_error = None;
    let mut sockets = Vec::with_capacity(results.len());
    for (timings, socket) in results {
        match timings {
            Ok(t) => {
                upgrade.record(t.upgrade);
                auth.record(t.authenticate);
                join.record(t.join);
                handshake_h.record(t.upgrade + t.authenticate + t.join);
            }
            Err(error) => {
                failures += 1;
                first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
        sockets.extend(socket);
    }
    let ok = handshake_h.count();
    drop(sockets);
    admin.close().await;
    Ok(ConnectRun {
        sockets: ok,
        failures,
        concurrency: scale.connect_concurrency,
        per_second: crate::util::f(ok) / elapsed,
        handshake: handshake_h.summary(),
        upgrade: upgrade.summary(),
        authenticate: auth.summary(),
        join: join.summary(),
        server_cores,
        generator_cores,
        first_error,
    })
}

async fn handshake(
    net: &crate::client::Net,
    token: &str,
    room_id: RoomId,
    keep: &mut Option<Ws>,
) -> anyhow::Result<Timings> {
    let micros = |since: Instant| u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    let t0 = Instant::now();
    let mut ws = net.connect().await?;
    let upgrade = micros(t0);
    let t1 = Instant::now();
    authenticate(&mut ws, token).await?;
    let authenticate = micros(t1);
    let t2 = Instant::now();
    send(
        &mut ws,
        &ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room_id.clone()),
            reason: None,
            invite_code: None,
        }),
    )
    .await?;
    wait_for(&mut ws, STEP_TIMEOUT, |message| match message {
        ServerMessage::JoinResponse {
            room_id: id,
            status: MemberStatus::Pending,
            ..
        } if id == room_id => Some(()),
        _ => None,
    })
    .await
    .context("join request")?;
    let join = micros(t2);
    *keep = Some(ws);
    Ok(Timings {
        upgrade,
        authenticate,
        join,
    })
}

/// The median of each figure over the repeats.
pub fn median(runs: &[ConnectRun]) -> ConnectRun {
    let pick = |field: fn(&ConnectRun) -> f64| {
        crate::util::median(&runs.iter().map(field).collect::<Vec<_>>())
    };
    let summary = |field: fn(&ConnectRun) -> Summary| {
        Summary::median_of(&runs.iter().map(field).collect::<Vec<_>>())
    };
    ConnectRun {
        sockets: crate::util::round_u64(pick(|r| crate::util::f(r.sockets))),
        failures: runs.iter().map(|r| r.failures).sum(),
        concurrency: runs.first().map_or(0, |r| r.concurrency),
        per_second: pick(|r| r.per_second),
        handshake: summary(|r| r.handshake),
        upgrade: summary(|r| r.upgrade),
        authenticate: summary(|r| r.authenticate),
        join: summary(|r| r.join),
        server_cores: pick(|r| r.server_cores),
        generator_cores: pick(|r| r.generator_cores),
        first_error: runs.iter().find_map(|r| r.first_error.clone()),
    }
}
