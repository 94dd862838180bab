//! Workload 5: one member never reads while the room is busy. The server's memory must stay
//! bounded (its per-socket queue fills, then it closes that socket with 4429) and the other
//! members' latency must not move.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::StreamExt;
use knock_protocol::{ClientMessage, JoinRoom, MemberStatus, ServerMessage, Targets};
use tokio_tungstenite::tungstenite::Message;

use super::{Env, Scale, fanout};
use crate::{
    client::{STEP_TIMEOUT, Ws, authenticate, send, wait_for},
    room::Room,
    sched::parse_probe,
};

#[derive(Clone, Debug, Default)]
pub struct SlowRun {
    pub rate: f64,
    pub message_size: usize,
    pub seconds: f64,
    /// Kernel receive buffer asked for the slow socket.
    pub recv_buffer: u32,
    /// Last-recipient latency of the readers, without and with the slow member.
    pub baseline: fanout::StepRun,
    pub with_slow: fanout::StepRun,
    pub rss_baseline_peak_kib: u64,
    pub rss_slow_peak_kib: u64,
    pub rss_after_kib: u64,
    /// The close code the slow socket found once it read again.
    pub close_code: Option<u16>,
    /// Whether the server had closed the slow socket (with a close frame, or, when even
    /// that could not be written within its grace time, by dropping the connection).
    pub closed: bool,
    /// Chat frames the slow socket had been sent before the close.
    pub frames_before_close: u64,
    /// (seconds, MiB) samples of server RSS during each phase.
    pub series_baseline: Vec<(f64, f64)>,
    pub series_slow: Vec<(f64, f64)>,
}

pub async fn run(env: &Env, scale: &Scale, room: &mut Room) -> anyhow::Result<Vec<SlowRun>> {
    let mut runs = Vec::new();
    for repeat in 0..scale.repeats {
        let run = once(env, scale, room).await?;
        crate::util::log(format!(
            "slow consumer #{repeat}: readers' last p99 {:.2} -> {:.2} ms, RSS peak {} -> {} KiB, closed {} (code {:?}) after {} frames",
            run.baseline.last.p99_ms,
            run.with_slow.last.p99_ms,
            run.rss_baseline_peak_kib,
            run.rss_slow_peak_kib,
            run.closed,
            run.close_code,
            run.frames_before_close
        ));
        runs.push(run);
    }
    Ok(runs)
}

async fn once(env: &Env, scale: &Scale, room: &mut Room) -> anyhow::Result<SlowRun> {
    let slow_account = env
        .accounts
        .get(room.members.len())
        .context("one more account than the room has members")?
        .clone();

    let sampler = Sampler::start(env.server.pid);
    let baseline = fanout::step(
        env,
        room,
        scale.slow_rate,
        scale.slow_secs,
        scale.fanout_senders,
        scale.slow_message_size,
    )
    .await?;
    let series_baseline = sampler.stop().await;

    // The slow member joins like anyone else, reading until approved; then it stops.
    let net = env.net();
    let mut slow = net.connect_with(Some(scale.slow_recv_buffer)).await?;
    authenticate(&mut slow, &slow_account.token).await?;
    send(
        &mut slow,
        &ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room.room_id.clone()),
            reason: None,
            invite_code: None,
        }),
    )
    .await?;
    let status = wait_for(&mut slow, STEP_TIMEOUT, |message| match message {
        ServerMessage::JoinResponse { status, .. } => Some(status),
        _ => None,
    })
    .await?;
    if status != MemberStatus::Approved {
        send(
            &mut room.members[0].sink,
            &ClientMessage::JoinRoom(JoinRoom::Approve {
                room_id: Some(room.room_id.clone()),
                targets: Targets::one(slow_account.user_id.clone()),
            }),
        )
        .await?;
        wait_for(&mut slow, STEP_TIMEOUT, |message| match message {
            ServerMessage::JoinResponse {
                status: MemberStatus::Approved,
                ..
            } => Some(()),
            _ => None,
        })
        .await
        .context("approving the slow member")?;
    }

    let sampler = Sampler::start(env.server.pid);
    let with_slow = fanout::step(
        env,
        room,
        scale.slow_rate,
        scale.slow_secs,
        scale.fanout_senders,
        scale.slow_message_size,
    )
    .await?;
    let series_slow = sampler.stop().await;
    let rss_after_kib = env.server.rss_kib().unwrap_or(0);
    let (closed, close_code, frames_before_close) = read_to_close(&mut slow).await;
    drop(slow);

    let peak = |series: &[(f64, f64)]| {
        crate::util::round_u64(series.iter().map(|(_, mib)| *mib).fold(0.0, f64::max) * 1024.0)
    };
    Ok(SlowRun {
        rate: scale.slow_rate,
        message_size: scale.slow_message_size,
        seconds: scale.slow_secs,
        recv_buffer: scale.slow_recv_buffer,
        rss_baseline_peak_kib: peak(&series_baseline),
        rss_slow_peak_kib: peak(&series_slow),
        baseline,
        with_slow,
        rss_after_kib,
        close_code,
        closed,
        frames_before_close,
        series_baseline,
        series_slow,
    })
}

/// Reads what the slow socket was sent until it ends (or 2 s of quiet): whether the server
/// closed it, the close code if one came, and how many chat frames came first.
async fn read_to_close(ws: &mut Ws) -> (bool, Option<u16>, u64) {
    let mut frames = 0;
    loop {
        // Once the buffers are drained, a socket that was not closed stays quiet.
        match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if parse_probe(&text).is_some() {
                    frames += 1;
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (true, frame.map(|f| u16::from(f.code)), frames);
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return (true, None, frames),
            Err(_quiet) => return (false, None, frames),
        }
    }
}

/// Samples server RSS in the background, as (seconds, MiB).
pub(super) struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(f64, f64)>>,
}

impl Sampler {
    /// Every 200 ms.
    fn start(pid: Option<u32>) -> Self {
        Self::every(pid, Duration::from_millis(200))
    }

    pub(super) fn every(pid: Option<u32>, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = pid.and_then(crate::util::rss_kib) {
                    samples.push((start.elapsed().as_secs_f64(), crate::util::f(kib) / 1024.0));
                }
                tokio::time::sleep(period).await;
            }
            samples
        });
        Self { stop, task }
    }

    pub(super) async fn stop(self) -> Vec<(f64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}
