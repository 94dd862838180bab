//! Workload 3: many small rooms, every member sending; the highest input rate at which
//! every message is stored and delivered with p99 under the bound.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures_util::{StreamExt, stream};

use super::{CpuMeter, Env, Scale, fanout::GRACE};
use crate::{
    client::Probes,
    hist::Summary,
    room::{ReadMarking, Room, Sender, Via, drain, send_plan_marking, setup_room},
    sched::Plan,
    util::f,
};

#[derive(Clone, Debug, Default)]
pub struct RateRun {
    pub rate: f64,
    pub messages: u64,
    /// Messages stored and delivered to every member, per second of the run.
    pub stored_per_s: f64,
    pub deliveries_per_s: f64,
    pub all: Summary,
    pub last: Summary,
    pub incomplete: u64,
    /// Every message delivered, and p99 of deliveries within the bound.
    pub sustained: bool,
    pub server_cores: f64,
    pub generator_cores: f64,
    pub send_lag_p99_ms: f64,
    /// `error` frames the members got during the step.
    pub errors: u64,
    /// With `--mark-read`: `markRead` frames sent and `readMarker` frames received per
    /// second of the step (0 without).
    pub mark_reads_per_s: f64,
    pub read_markers_per_s: f64,
}

/// Rooms of `throughput_members` accounts each, set up a few at a time.
pub async fn setup(env: &Env, scale: &Scale) -> anyhow::Result<Vec<Room>> {
    let net = env.net();
    let needed = scale.throughput_rooms * scale.throughput_members;
    anyhow::ensure!(env.accounts.len() >= needed, "{needed} accounts needed");
    let rooms: Vec<anyhow::Result<Room>> = stream::iter(
        env.accounts[..needed]
            .chunks(scale.throughput_members)
            .enumerate(),
    )
    .map(|(i, members)| {
        let net = &net;
        async move {
            setup_room(net, members, &format!("throughput {i}"))
                .await
                .with_context(|| format!("setting up throughput room {i}"))
        }
    })
    .buffer_unordered(8)
    .collect()
    .await;
    rooms.into_iter().collect()
}

/// The rate sweep, `scale.repeats` times; each sweep stops at the first rate that is not
/// sustained. Returns `[repeat][rate]`.
pub async fn run(
    env: &Env,
    scale: &Scale,
    rooms: &mut [Room],
) -> anyhow::Result<Vec<Vec<RateRun>>> {
    let mut repeats = Vec::new();
    for repeat in 0..scale.repeats {
        let mut steps = Vec::new();
        for &rate in &scale.throughput_rates {
            let step = step(env, scale, rooms, rate).await?;
            crate::util::log(format!(
                "throughput #{repeat} {rate}/s: stored {:.0}/s, deliveries p50 {:.2} p99 {:.2} max {:.2} ms, incomplete {}, errors {}, server {:.2} cores, markRead {:.0}/s, readMarker {:.0}/s",
                step.stored_per_s,
                step.all.p50_ms,
                step.all.p99_ms,
                step.all.max_ms,
                step.incomplete,
                step.errors,
                step.server_cores,
                step.mark_reads_per_s,
                step.read_markers_per_s
            ));
            let sustained = step.sustained;
            steps.push(step);
            if !sustained {
                break;
            }
        }
        repeats.push(steps);
    }
    Ok(repeats)
}

async fn step(env: &Env, scale: &Scale, rooms: &mut [Room], rate: f64) -> anyhow::Result<RateRun> {
    let senders: usize = rooms.iter().map(|room| room.members.len()).sum();
    let recipients = u32::try_from(scale.throughput_members).context("room size")?;
    let plan = Plan::new(
        rate,
        Duration::from_secs_f64(scale.throughput_secs),
        senders,
    );
    let run = env.next_run();
    let probes = Arc::new(Probes::new(run, plan.count));
    for room in rooms.iter() {
        room.shared.set_probes(Some(probes.clone()));
    }
    let expected = plan.count * u64::from(recipients);
    let cpu = CpuMeter::start(&env.server);
    let error_count = |rooms: &[Room]| -> u64 {
        rooms
            .iter()
            .map(|room| {
                room.shared
                    .errors
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    };
    let errors_before = error_count(rooms);
    let started = std::time::Instant::now();
    let mut marking = scale.mark_read.then(ReadMarking::new);
    let markers_before = marking.as_mut().map_or(0, |marking| {
        for room in rooms.iter() {
            marking.add_room(room.room_id.clone(), room.shared.clone());
        }
        marking.read_markers()
    });
    let mut list = interleave(rooms, senders, marking.as_mut());
    debug_assert_eq!(list.len(), senders);
    let lag =
        send_plan_marking(&mut list, &plan, run, scale.message_size, marking.as_mut()).await?;
    match marking.as_mut() {
        Some(marking) => marking.drain(&probes, expected, GRACE, &mut list).await?,
        None => drain(&probes, expected, GRACE).await,
    }
    drop(list);
    let (server_cores, generator_cores) = cpu.stop();
    let elapsed = started.elapsed().as_secs_f64().max(1e-3);
    let (mark_reads, read_markers) = marking.map_or((0, 0), |marking| {
        marking.finish();
        (marking.sent, marking.read_markers() - markers_before)
    });
    let results = probes.results(recipients);
    let all = results.all.summary();
    let sustained = results.incomplete == 0 && all.p99_ms < scale.throughput_p99_ms;
    if !sustained {
        // Let the backlog drain before anything else runs.
        let mut previous = probes.delivered();
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = probes.delivered();
            if now == previous {
                break;
            }
            previous = now;
        }
    }
    for room in rooms.iter() {
        room.shared.set_probes(None);
    }
    let complete = plan.count - results.incomplete;
    let errors = error_count(rooms) - errors_before;
    Ok(RateRun {
        rate,
        messages: plan.count,
        stored_per_s: rate * f(complete) / f(plan.count),
        deliveries_per_s: rate * f(u64::from(recipients)) * f(results.delivered) / f(expected),
        all,
        last: results.last.summary(),
        incomplete: results.incomplete,
        sustained,
        server_cores,
        generator_cores,
        send_lag_p99_ms: lag.summary().p99_ms,
        errors,
        mark_reads_per_s: f(mark_reads) / elapsed,
        read_markers_per_s: f(read_markers) / elapsed,
    })
}

/// The plan's senders: sender k of the plan is member k / rooms of room k % rooms, so
/// consecutive messages go to different rooms. Each is added to `marking` as it comes.
fn interleave<'a>(
    rooms: &'a mut [Room],
    senders: usize,
    mut marking: Option<&mut ReadMarking<'_>>,
) -> Vec<Sender<'a>> {
    let mut by_room: Vec<_> = rooms
        .iter_mut()
        .map(|room| {
            let room_id = room.room_id.clone();
            room.members
                .iter_mut()
                .map(|member| Sender {
                    sink: &mut member.sink,
                    room_id: room_id.clone(),
                })
                .enumerate()
                .collect::<Vec<_>>()
                .into_iter()
        })
        .collect();
    let mut list = Vec::with_capacity(senders);
    while list.len() < senders {
        for (r, room) in by_room.iter_mut().enumerate() {
            if let Some((idx, sender)) = room.next() {
                if let Some(marking) = marking.as_deref_mut() {
                    marking.add_member(r, idx, Via::Sender(list.len()));
                }
                list.push(sender);
            }
        }
    }
    list
}

/// Per rate, the median of each figure over the repeats that reached it.
pub fn median_by_rate(scale: &Scale, repeats: &[Vec<RateRun>]) -> Vec<(RateRun, usize)> {
    let mut rows = Vec::new();
    for &rate in &scale.throughput_rates {
        let runs: Vec<&RateRun> = repeats
            .iter()
            .flatten()
            .filter(|run| (run.rate - rate).abs() < f64::EPSILON)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let pick = |field: fn(&RateRun) -> f64| {
            crate::util::median(&runs.iter().map(|r| field(r)).collect::<Vec<_>>())
        };
        let summary = |field: fn(&RateRun) -> Summary| {
            Summary::median_of(&runs.iter().map(|r| field(r)).collect::<Vec<_>>())
        };
        let sustained = runs.iter().filter(|r| r.sustained).count();
        rows.push((
            RateRun {
                rate,
                messages: runs[0].messages,
                stored_per_s: pick(|r| r.stored_per_s),
                deliveries_per_s: pick(|r| r.deliveries_per_s),
                all: summary(|r| r.all),
                last: summary(|r| r.last),
                incomplete: runs.iter().map(|r| r.incomplete).max().unwrap_or(0),
                // Sustained when most repeats sustained it.
                sustained: sustained * 2 > runs.len(),
                server_cores: pick(|r| r.server_cores),
                generator_cores: pick(|r| r.generator_cores),
                send_lag_p99_ms: pick(|r| r.send_lag_p99_ms),
                errors: runs.iter().map(|r| r.errors).sum(),
                mark_reads_per_s: pick(|r| r.mark_reads_per_s),
                read_markers_per_s: pick(|r| r.read_markers_per_s),
            },
            runs.len(),
        ));
    }
    rows
}

/// The highest rate sustained in each repeat, as a median over repeats.
pub fn max_sustained(repeats: &[Vec<RateRun>]) -> f64 {
    let best: Vec<f64> = repeats
        .iter()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s.sustained)
                .map(|s| s.rate)
                .fold(0.0, f64::max)
        })
        .collect();
    crate::util::median(&best)
}
