//! The five workloads of issue 5 and the sign-ups of issue 17, each a function of an
//! [`Env`] and a [`Scale`].

pub mod connect;
pub mod fanout;
pub mod floor;
pub mod idle;
pub mod presence;
pub mod search;
pub mod signups;
pub mod slow;
pub mod throughput;

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{
    client::{Account, Net},
    server::Server,
};

/// How big every workload is.
#[derive(Clone, Debug)]
pub struct Scale {
    pub repeats: usize,
    /// Bytes of every probe message's text.
    pub message_size: usize,
    pub idle_connections: usize,
    pub idle_per_process: usize,
    pub fanout_members: usize,
    pub fanout_senders: usize,
    /// Fan-out members send read markers as the web client does (issue 18; off by
    /// default, so that earlier figures stay comparable).
    pub mark_read: bool,
    /// (messages per second, seconds) of each fan-out step.
    pub fanout_steps: Vec<(f64, f64)>,
    /// Writer threads of each bare-TCP floor run (see `floor`).
    pub floor_writers: Vec<usize>,
    pub throughput_rooms: usize,
    pub throughput_members: usize,
    pub throughput_rates: Vec<f64>,
    pub throughput_secs: f64,
    /// The p99 delivery bound of a sustained rate.
    pub throughput_p99_ms: f64,
    pub connect_count: usize,
    pub connect_concurrency: usize,
    /// Members of the slow-consumer room (the slow one comes on top).
    pub slow_members: usize,
    pub slow_rate: f64,
    pub slow_secs: f64,
    pub slow_message_size: usize,
    /// Kernel receive buffer of the slow socket.
    pub slow_recv_buffer: u32,
    /// Accounts registered in one sign-up burst, and how many requests are in flight.
    pub signups: usize,
    pub signups_in_flight: usize,
    /// Seconds the server is left idle after the burst before its RSS is read again.
    pub signups_idle_secs: f64,
    /// Accounts of the burst that then sign in (and authenticate a socket).
    pub signups_sign_ins: usize,
}

impl Scale {
    /// The published figures.
    pub fn full() -> Self {
        Self {
            repeats: 3,
            message_size: 64,
            idle_connections: 19_000,
            idle_per_process: 10_000,
            fanout_members: 1_000,
            fanout_senders: 10,
            mark_read: false,
            fanout_steps: vec![
                (1.0, 20.0),
                (10.0, 15.0),
                (50.0, 10.0),
                (100.0, 10.0),
                (200.0, 8.0),
            ],
            floor_writers: vec![1, 2],
            throughput_rooms: 100,
            throughput_members: 20,
            throughput_rates: vec![
                1_000.0, 2_500.0, 3_000.0, 3_500.0, 4_000.0, 5_000.0, 7_500.0, 10_000.0, 15_000.0,
            ],
            throughput_secs: 8.0,
            throughput_p99_ms: 50.0,
            connect_count: 6_000,
            connect_concurrency: 64,
            slow_members: 50,
            slow_rate: 200.0,
            slow_secs: 20.0,
            slow_message_size: 4_000,
            slow_recv_buffer: 4_096,
            signups: 1_000,
            signups_in_flight: 300,
            signups_idle_secs: 5.0,
            signups_sign_ins: 20,
        }
    }

    /// A tiny version of everything, to check the tool and the protocol flow (CI).
    pub fn smoke() -> Self {
        Self {
            repeats: 1,
            message_size: 64,
            idle_connections: 40,
            idle_per_process: 20,
            fanout_members: 8,
            fanout_senders: 2,
            mark_read: false,
            fanout_steps: vec![(20.0, 1.0)],
            floor_writers: vec![1],
            throughput_rooms: 3,
            throughput_members: 3,
            throughput_rates: vec![60.0],
            throughput_secs: 1.0,
            throughput_p99_ms: 50.0,
            connect_count: 30,
            connect_concurrency: 8,
            slow_members: 5,
            slow_rate: 100.0,
            slow_secs: 2.0,
            slow_message_size: 1_000,
            slow_recv_buffer: 4_096,
            signups: 12,
            signups_in_flight: 6,
            signups_idle_secs: 0.5,
            signups_sign_ins: 3,
        }
    }

    /// Accounts every workload together needs (the slow consumer is one more).
    pub fn accounts_needed(&self) -> usize {
        (self.fanout_members + 1)
            .max(self.slow_members + 1)
            .max(self.throughput_rooms * self.throughput_members)
            .max(2)
    }
}

/// What every workload runs against.
pub struct Env {
    pub server: Server,
    /// Further nodes of a cluster; sockets are spread over `server` and these.
    pub other_nodes: Vec<std::net::SocketAddr>,
    pub accounts: Vec<Account>,
    pub sources: u8,
    pub temp: PathBuf,
    runs: AtomicU32,
}

impl Env {
    pub fn new(server: Server, accounts: Vec<Account>, sources: u8, temp: PathBuf) -> Self {
        Self {
            server,
            other_nodes: Vec::new(),
            accounts,
            sources,
            temp,
            runs: AtomicU32::new(0),
        }
    }

    /// Sockets to the server as it is now (its port changes on restart).
    pub fn net(&self) -> Net {
        Net::new(self.server.addr, self.sources).with_nodes(&self.other_nodes)
    }

    /// A fresh run number, so late deliveries of an earlier run are never counted.
    pub fn next_run(&self) -> u32 {
        self.runs.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Starts the server afresh (when this tool started it) and lets it settle.
    pub async fn fresh_server(&mut self) -> anyhow::Result<()> {
        self.fresh_server_with_defaults(&[]).await
    }

    /// Like [`Env::fresh_server`], with these limits of [`crate::server::BENCH_ENV`] left
    /// at the server's default.
    pub async fn fresh_server_with_defaults(
        &mut self,
        defaults: &[&'static str],
    ) -> anyhow::Result<()> {
        if self.server.can_restart() {
            self.server.restart_with_defaults(defaults).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }
}

/// CPU used by the server and by this process over a stretch of wall time, in cores.
pub struct CpuMeter {
    server_pid: Option<u32>,
    server_start: Option<Duration>,
    own_start: Option<Duration>,
    wall: Instant,
}

impl CpuMeter {
    pub fn start(server: &Server) -> Self {
        Self {
            server_pid: server.pid,
            server_start: server.cpu_time(),
            own_start: crate::util::cpu_time(std::process::id()),
            wall: Instant::now(),
        }
    }

    /// (server cores, generator cores) since `start`; NaN when unknown.
    pub fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-3);
        let used = |start: Option<Duration>, now: Option<Duration>| match (start, now) {
            (Some(start), Some(now)) => now.saturating_sub(start).as_secs_f64() / wall,
            _ => f64::NAN,
        };
        (
            used(
                self.server_start,
                self.server_pid.and_then(crate::util::cpu_time),
            ),
            used(self.own_start, crate::util::cpu_time(std::process::id())),
        )
    }
}
