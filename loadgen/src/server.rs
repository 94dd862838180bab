//! The server under test: a `knock-server` this tool starts on a temporary SQLite file, or
//! one already running that it is pointed at.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// Flags for the server under test: its abuse limits (5 messages/s per user, 50 frames/s
/// per socket, 20 sockets per user) would refuse the load itself, so they are lifted; every
/// other setting is the default. The limits added later (sockets waiting to authenticate
/// per address, the rates of other actions) are lifted through the environment
/// ([`BENCH_ENV`]), which servers older than them ignore (a flag would stop them), so
/// that earlier builds can still be compared.
pub const BENCH_FLAGS: [&str; 8] = [
    "--message-rate",
    "1000000",
    "--message-burst",
    "1000000",
    "--frame-rate",
    "1000000",
    "--max-sockets-per-user",
    "100000",
];

/// Limits lifted through the environment (see [`BENCH_FLAGS`]).
pub const BENCH_ENV: [(&str, &str); 8] = [
    ("KNOCK_REGISTER_RATE", "100000000"),
    ("KNOCK_MAX_HASHING_WAITING", "100000"),
    ("KNOCK_MAX_WAITING_PER_ROOM", "1000000"),
    ("KNOCK_MAX_ROOMS_PER_USER", "1000000"),
    ("KNOCK_MAX_UNAUTHENTICATED_PER_ADDRESS", "1000000"),
    ("KNOCK_CREATE_ROOM_RATE", "1000000"),
    ("KNOCK_KNOCK_RATE", "1000000"),
    ("KNOCK_READ_RATE", "1000000"),
];

/// Where the server listens and, when known, its process id (for RSS and CPU).
pub struct Server {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<Child>,
    bin: Option<PathBuf>,
    db_url: String,
    log: PathBuf,
    /// Variables of [`BENCH_ENV`] left at the server's default on this start.
    defaults: Vec<&'static str>,
}

impl Server {
    /// A server that is already running (`--url`); it cannot be restarted.
    pub fn external(addr: SocketAddr, pid: Option<u32>) -> Self {
        Self {
            addr,
            pid,
            child: None,
            bin: None,
            db_url: String::new(),
            log: PathBuf::new(),
            defaults: Vec::new(),
        }
    }

    /// Starts `bin` on the SQLite file `db` (created when missing) on a free loopback port,
    /// logging to `log`, and waits until `/healthz` answers.
    pub async fn start(bin: &Path, db: &Path, log: &Path) -> anyhow::Result<Self> {
        let mut server = Self {
            addr: free_port()?,
            pid: None,
            child: None,
            bin: Some(bin.to_owned()),
            db_url: format!("sqlite:{}", db.display()),
            log: log.to_owned(),
            defaults: Vec::new(),
        };
        server.spawn().await?;
        Ok(server)
    }

    pub fn can_restart(&self) -> bool {
        self.bin.is_some()
    }

    /// `http://ADDR`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Server RSS in KiB, when the process is known.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(crate::util::rss_kib)
    }

    pub fn cpu_time(&self) -> Option<Duration> {
        self.pid.and_then(crate::util::cpu_time)
    }

    /// Stops the server and starts it again on the same database (clean memory, same
    /// users and sessions), with these variables of [`BENCH_ENV`] left unset so that the
    /// server's own default for those limits applies; a no-op for an external server.
    pub async fn restart_with_defaults(&mut self, defaults: &[&'static str]) -> anyhow::Result<()> {
        if self.bin.is_none() {
            return Ok(());
        }
        self.defaults = defaults.to_vec();
        self.stop().await;
        self.addr = free_port()?;
        self.spawn().await
    }

    /// SIGTERM (the server closes sockets with 1012 and drains its batchers), then SIGKILL
    /// after five seconds.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
        self.pid = None;
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = self.bin.clone().context("no server binary")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(&bin);
        command
            .arg("--database-url")
            .arg(&self.db_url)
            .arg("--addr")
            .arg(self.addr.to_string())
            .args(BENCH_FLAGS)
            .env(
                "RUST_LOG",
                std::env::var("KNOCK_BENCH_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        for (key, value) in BENCH_ENV {
            if self.defaults.contains(&key) {
                // Not inherited from this process either: the server's default applies.
                command.env_remove(key);
            } else {
                command.env(key, value);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.pid = child.id();
        self.child = Some(child);
        self.wait_healthy().await
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/healthz", self.http());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the server exited at start ({status}); see {}",
                    self.log.display()
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not answer {url} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
