//! Workload 2: one room of many members; senders at a fixed rate; latency from send to
//! the first and to the last recipient of each message.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use anyhow::{Context, bail};

use super::{CpuMeter, Env, Scale};
use crate::{
    client::Probes,
    hist::Summary,
    room::{ReadMarking, Room, Sender, Via, drain, send_plan_marking, setup_room},
    sched::Plan,
    util::f,
};

/// How long deliveries may trail the last send before they count as lost.
pub const GRACE: Duration = Duration::from_secs(10);

/// One step at one rate.
#[derive(Clone, Debug, Default)]
pub struct StepRun {
    pub rate: f64,
    pub messages: u64,
    pub recipients: u32,
    pub first: Summary,
    pub last: Summary,
    pub all: Summary,
    /// Messages that did not reach every member within the grace period.
    pub incomplete: u64,
    pub deliveries_per_s: f64,
    pub server_cores: f64,
    pub generator_cores: f64,
    /// p99 of how late the generator sent against its schedule.
    pub send_lag_p99_ms: f64,
    /// `error` frames the members got during the step.
    pub errors: u64,
    /// With `--mark-read`: `markRead` frames sent and `readMarker` frames received per
    /// second of the step (0 without).
    pub mark_reads_per_s: f64,
    pub read_markers_per_s: f64,
}

/// The fan-out room: `scale.fanout_members` members of the first accounts.
pub async fn setup(env: &Env, scale: &Scale) -> anyhow::Result<Room> {
    let members = &env.accounts[..scale.fanout_members.min(env.accounts.len())];
    setup_room(&env.net(), members, "fan-out")
        .await
        .context("setting up the fan-out room")
}

/// Every step of `scale.fanout_steps`, `scale.repeats` times (repeats outermost, so a
/// step's runs are spread over the whole run time). Returns `[repeat][step]`.
pub async fn run(env: &Env, scale: &Scale, room: &mut Room) -> anyhow::Result<Vec<Vec<StepRun>>> {
    let mut repeats = Vec::new();
    for repeat in 0..scale.repeats {
        let mut steps = Vec::new();
        for &(rate, secs) in &scale.fanout_steps {
            let step = step_with(
                env,
                room,
                rate,
                secs,
                scale.fanout_senders,
                scale.message_size,
                scale.mark_read,
            )
            .await?;
            crate::util::log(format!(
                "fan-out #{repeat} {rate}/s: last p50 {:.2} p99 {:.2} max {:.2} ms, first p99 {:.2} ms, incomplete {}, server {:.2} cores, markRead {:.0}/s, readMarker {:.0}/s",
                step.last.p50_ms,
                step.last.p99_ms,
                step.last.max_ms,
                step.first.p99_ms,
                step.incomplete,
                step.server_cores,
                step.mark_reads_per_s,
                step.read_markers_per_s
            ));
            steps.push(step);
        }
        repeats.push(steps);
    }
    Ok(repeats)
}

/// Sends `rate` messages per second for `secs` from `senders` members and measures.
pub async fn step(
    env: &Env,
    room: &mut Room,
    rate: f64,
    secs: f64,
    senders: usize,
    size: usize,
) -> anyhow::Result<StepRun> {
    step_with(env, room, rate, secs, senders, size, false).await
}

/// [`step`]; with `mark_read`, every member also sends read markers as the web client
/// does (see [`ReadMarking`]) while the messages go out and until they have arrived.
pub async fn step_with(
    env: &Env,
    room: &mut Room,
    rate: f64,
    secs: f64,
    senders: usize,
    size: usize,
    mark_read: bool,
) -> anyhow::Result<StepRun> {
    let senders = senders.clamp(1, room.members.len());
    let plan = Plan::new(rate, Duration::from_secs_f64(secs), senders);
    let run = env.next_run();
    let probes = Arc::new(Probes::new(run, plan.count));
    room.shared.set_probes(Some(probes.clone()));
    let recipients = u32::try_from(room.members.len()).context("room size")?;
    let expected = plan.count * u64::from(recipients);
    let cpu = CpuMeter::start(&env.server);
    let errors_before = room.shared.errors.load(Relaxed);
    let started = std::time::Instant::now();
    let room_id = room.room_id.clone();
    let mut marking = mark_read.then(ReadMarking::new);
    let markers_before = marking.as_mut().map_or(0, |marking| {
        marking.add_room(room_id.clone(), room.shared.clone());
        marking.read_markers()
    });
    // The admin (member 0) is left out of sending: it is the one other tools talk to.
    let first_sender = usize::from(room.members.len() > senders);
    let mut list = Vec::with_capacity(senders);
    for (idx, member) in room.members.iter_mut().enumerate() {
        let via = if (first_sender..first_sender + senders).contains(&idx) {
            list.push(Sender {
                sink: &mut member.sink,
                room_id: room_id.clone(),
            });
            Via::Sender(list.len() - 1)
        } else {
            Via::Own(&mut member.sink)
        };
        if let Some(marking) = marking.as_mut() {
            marking.add_member(0, idx, via);
        }
    }
    let lag = send_plan_marking(&mut list, &plan, run, size, marking.as_mut()).await?;
    match marking.as_mut() {
        Some(marking) => marking.drain(&probes, expected, GRACE, &mut list).await?,
        None => drain(&probes, expected, GRACE).await,
    }
    let (server_cores, generator_cores) = cpu.stop();
    let elapsed = started.elapsed().as_secs_f64().max(1e-3);
    let (mark_reads, read_markers) = marking.map_or((0, 0), |marking| {
        marking.finish();
        (marking.sent, marking.read_markers() - markers_before)
    });
    room.shared.set_probes(None);
    let results = probes.results(recipients);
    let errors = room.shared.errors.load(Relaxed) - errors_before;
    if results.incomplete > 0 || errors > 0 {
        crate::util::log(format!(
            "{rate} msg/s: {} of {expected} deliveries arrived; {} of {} messages missed someone; {errors} error frames",
            results.delivered, results.incomplete, plan.count
        ));
    }
    if results.delivered > expected {
        bail!(
            "{} deliveries for {expected} expected: a message arrived twice",
            results.delivered
        );
    }
    Ok(StepRun {
        rate,
        messages: plan.count,
        recipients,
        first: results.first.summary(),
        last: results.last.summary(),
        all: results.all.summary(),
        incomplete: results.incomplete,
        deliveries_per_s: rate * f64::from(recipients) * f(results.delivered) / f(expected),
        server_cores,
        generator_cores,
        send_lag_p99_ms: lag.summary().p99_ms,
        errors,
        mark_reads_per_s: f(mark_reads) / elapsed,
        read_markers_per_s: f(read_markers) / elapsed,
    })
}

/// The median of each figure of one step over the repeats.
pub fn median_step(runs: &[StepRun]) -> StepRun {
    let pick = |field: fn(&StepRun) -> f64| {
        crate::util::median(&runs.iter().map(field).collect::<Vec<_>>())
    };
    let pick_summary = |field: fn(&StepRun) -> Summary| {
        Summary::median_of(&runs.iter().map(field).collect::<Vec<_>>())
    };
    let Some(first) = runs.first() else {
        return StepRun::default();
    };
    StepRun {
        rate: first.rate,
        messages: first.messages,
        recipients: first.recipients,
        first: pick_summary(|r| r.first),
        last: pick_summary(|r| r.last),
        all: pick_summary(|r| r.all),
        incomplete: runs.iter().map(|r| r.incomplete).max().unwrap_or(0),
        deliveries_per_s: pick(|r| r.deliveries_per_s),
        server_cores: pick(|r| r.server_cores),
        generator_cores: pick(|r| r.generator_cores),
        send_lag_p99_ms: pick(|r| r.send_lag_p99_ms),
        errors: runs.iter().map(|r| r.errors).sum(),
        mark_reads_per_s: pick(|r| r.mark_reads_per_s),
        read_markers_per_s: pick(|r| r.read_markers_per_s),
    }
}
