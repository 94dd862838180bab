//! The machine's floor under workloads 2 and 3: the same deliveries at the same rates, as
//! bare loopback TCP. Plain threads write each frame to every socket of its room with
//! blocking `write`s; tokio tasks read them the way the generator's members do. No
//! WebSocket, no storage, no server process: what this costs, no server on this machine
//! can avoid, and the rest of a workload's latency is Knock's own.

use std::{
    io::Write,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use knock_protocol::{ChatMessage, MessageId, RoomId, ServerMessage, UserId};
use tokio::io::AsyncReadExt;

use super::{Scale, fanout::GRACE};
use crate::{
    client::Probes,
    hist::Summary,
    room::drain,
    sched::{Plan, parse_probe_text, probe_text},
    util::{cpu_time, f, now_us},
};

/// Rooms of sockets: message `k` goes to every socket of room `k % rooms`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    pub rooms: usize,
    pub members: usize,
}

/// One measurement: `writers` threads share the sockets.
#[derive(Clone, Debug, Default)]
pub struct FloorRun {
    pub shape: Shape,
    pub writers: usize,
    pub rate: f64,
    pub messages: u64,
    pub frame_bytes: usize,
    pub first: Summary,
    pub last: Summary,
    pub all: Summary,
    pub incomplete: u64,
    pub deliveries_per_s: f64,
    /// CPU of this whole process (writers and readers), in cores.
    pub cores: f64,
}

/// Workload 2's room at its rate under 20 msg/s (the one its latency target is set for),
/// for every writer count of `scale.floor_writers`; `scale.repeats` times.
pub async fn fanout(scale: &Scale) -> anyhow::Result<Vec<Vec<FloorRun>>> {
    let (rate, secs) = scale
        .fanout_steps
        .iter()
        .copied()
        .find(|(rate, _)| (10.0..20.0).contains(rate))
        .or_else(|| scale.fanout_steps.first().copied())
        .context("no fan-out steps")?;
    let shape = Shape {
        rooms: 1,
        members: scale.fanout_members,
    };
    let steps: Vec<_> = scale
        .floor_writers
        .iter()
        .map(|&writers| (writers, rate))
        .collect();
    repeat(scale, shape, &steps, secs).await
}

/// Workload 3's rooms at its highest rate (its target), written by the most writer
/// threads of `scale.floor_writers`; `scale.repeats` times.
pub async fn throughput(scale: &Scale) -> anyhow::Result<Vec<Vec<FloorRun>>> {
    let rate = scale
        .throughput_rates
        .iter()
        .copied()
        .find(|rate| *rate >= 10_000.0)
        .or_else(|| scale.throughput_rates.last().copied())
        .context("no throughput rates")?;
    let writers = scale.floor_writers.iter().copied().max().unwrap_or(1);
    let shape = Shape {
        rooms: scale.throughput_rooms,
        members: scale.throughput_members,
    };
    repeat(scale, shape, &[(writers, rate)], scale.throughput_secs).await
}

async fn repeat(
    scale: &Scale,
    shape: Shape,
    steps: &[(usize, f64)],
    secs: f64,
) -> anyhow::Result<Vec<Vec<FloorRun>>> {
    let mut repeats = Vec::new();
    for repeat in 0..scale.repeats {
        let mut runs = Vec::new();
        for &(writers, rate) in steps {
            let run = step(scale, shape, writers, rate, secs).await?;
            crate::util::log(format!(
                "floor #{repeat} {}×{} {writers} writer(s) {rate}/s: all p99 {:.2}, last p50 {:.2} p99 {:.2} ms, first p99 {:.2} ms, {:.2} cores",
                shape.rooms,
                shape.members,
                run.all.p99_ms,
                run.last.p50_ms,
                run.last.p99_ms,
                run.first.p99_ms,
                run.cores
            ));
            runs.push(run);
        }
        repeats.push(runs);
    }
    Ok(repeats)
}

/// Bytes Knock sends for one probe of `size` bytes: its `message` frame (ids of the
/// lengths Knock uses) plus the 2- or 4-byte WebSocket header.
fn knock_frame_bytes(size: usize) -> usize {
    let id = "00000000-0000-0000-0000-000000000000";
    let json = ServerMessage::Message(ChatMessage {
        room_id: RoomId::new(id),
        user_id: UserId::new("lg12345u678"),
        message: "x".repeat(size),
        timestamp: 1_764_000_000_000,
        seq: 1_000,
        message_id: MessageId::new(id),
        reply_to: None,
        edited_at: None,
        deleted: false,
        mentions: Vec::new(),
    })
    .to_json();
    json.len() + if json.len() < 126 { 2 } else { 4 }
}

async fn step(
    scale: &Scale,
    shape: Shape,
    writers: usize,
    rate: f64,
    secs: f64,
) -> anyhow::Result<FloorRun> {
    let receivers = shape.rooms * shape.members;
    let frame_bytes = knock_frame_bytes(scale.message_size);
    let (readers, sockets) = connect_pairs(receivers).await?;
    let plan = Plan::new(rate, Duration::from_secs_f64(secs), 1);
    let probes = Arc::new(Probes::new(0, plan.count));
    let reader_tasks: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(idx, mut stream)| {
            let probes = probes.clone();
            tokio::spawn(async move {
                let mut frame = vec![0_u8; frame_bytes];
                while stream.read_exact(&mut frame).await.is_ok() {
                    let arrived = now_us();
                    if let Some((_, k, sent)) =
                        std::str::from_utf8(&frame).ok().and_then(parse_probe_text)
                    {
                        probes.record(idx, k, arrived.saturating_sub(sent));
                    }
                }
            })
        })
        .collect();

    let cpu_start = cpu_time(std::process::id());
    let wall = Instant::now();
    let start = Instant::now() + Duration::from_millis(100);
    // Writer thread `t` has member `m` of every room where `m % writers == t`.
    let writers = writers.clamp(1, shape.members.max(1));
    let mut rooms_of: Vec<Vec<Vec<TcpStream>>> = (0..writers)
        .map(|_| (0..shape.rooms).map(|_| Vec::new()).collect())
        .collect();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (room, member) = (i / shape.members, i % shape.members);
        rooms_of[member % writers][room].push(socket);
    }
    let rooms = shape.rooms as u64;
    // Threads of tokio's blocking pool, awaited: joining plain threads here would block
    // one of the two workers the readers run on.
    let threads: Vec<_> = rooms_of
        .into_iter()
        .map(|mut rooms_of| {
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                for k in 0..plan.count {
                    if let Some(wait) = (start + plan.due(k)).checked_duration_since(Instant::now())
                    {
                        std::thread::sleep(wait);
                    }
                    let mut frame = probe_text(0, k, now_us(), frame_bytes).into_bytes();
                    frame.truncate(frame_bytes);
                    let room = usize::try_from(k % rooms).expect("a room index");
                    for socket in &mut rooms_of[room] {
                        socket.write_all(&frame)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .await
            .context("a writer thread")?
            .context("writing")?;
    }
    let members = u32::try_from(shape.members).context("members")?;
    let expected = plan.count * u64::from(members);
    drain(&probes, expected, GRACE).await;
    let cores = match (cpu_start, cpu_time(std::process::id())) {
        (Some(before), Some(after)) => {
            after.saturating_sub(before).as_secs_f64() / wall.elapsed().as_secs_f64()
        }
        _ => f64::NAN,
    };
    for task in reader_tasks {
        task.abort();
    }
    let results = probes.results(members);
    Ok(FloorRun {
        shape,
        writers,
        rate,
        messages: plan.count,
        frame_bytes,
        first: results.first.summary(),
        last: results.last.summary(),
        all: results.all.summary(),
        incomplete: results.incomplete,
        deliveries_per_s: f(results.delivered) / secs,
        cores,
    })
}

/// `count` connected pairs: (tokio reading ends, blocking writing ends), both with
/// `TCP_NODELAY` as Knock's sockets have.
async fn connect_pairs(
    count: usize,
) -> anyhow::Result<(Vec<tokio::net::TcpStream>, Vec<TcpStream>)> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let mut readers = Vec::with_capacity(count);
    let mut writers = Vec::with_capacity(count);
    for _ in 0..count {
        let reader = tokio::net::TcpStream::connect(addr).await?;
        reader.set_nodelay(true)?;
        // The connection is established: accept returns at once.
        let (writer, _) = listener.accept()?;
        writer.set_nodelay(true)?;
        readers.push(reader);
        writers.push(writer);
    }
    Ok((readers, writers))
}
