//! Workload 1: as many authenticated idle sockets as the server holds, spread over
//! several worker processes (each under its own open-file limit) and several loopback
//! source addresses; server RSS per connection.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
    sync::mpsc,
};

use super::{Env, Scale};
use crate::{client::Net, util::f};

#[derive(Clone, Debug, Default)]
pub struct IdleRun {
    pub target: u64,
    pub held: u64,
    pub failures: u64,
    pub processes: usize,
    pub baseline_kib: u64,
    pub final_kib: u64,
    /// (final - baseline) / held.
    pub per_connection_kib: f64,
    pub connect_secs: f64,
    pub first_error: Option<String>,
    /// (connections, server RSS MiB) while connecting.
    pub samples: Vec<(f64, f64)>,
}

/// Each repeat on a freshly started server (when this tool started it).
pub async fn run(env: &mut Env, scale: &Scale, exe: &Path) -> anyhow::Result<Vec<IdleRun>> {
    let tokens = env.temp.join("tokens.txt");
    let mut text = String::new();
    for account in &env.accounts {
        text.push_str(&account.token);
        text.push('\n');
    }
    std::fs::write(&tokens, text)?;
    let mut runs = Vec::new();
    for repeat in 0..scale.repeats {
        env.fresh_server().await?;
        let run = once(env, scale, exe, &tokens).await?;
        crate::util::log(format!(
            "idle #{repeat}: held {} of {} in {} processes, RSS {} -> {} KiB, {:.2} KiB per connection",
            run.held,
            run.target,
            run.processes,
            run.baseline_kib,
            run.final_kib,
            run.per_connection_kib
        ));
        runs.push(run);
    }
    env.fresh_server().await?;
    Ok(runs)
}

async fn once(env: &Env, scale: &Scale, exe: &Path, tokens: &Path) -> anyhow::Result<IdleRun> {
    let target = scale.idle_connections;
    let per_process = scale.idle_per_process.max(1);
    let processes = target.div_ceil(per_process);
    let baseline_kib = env.server.rss_kib().unwrap_or(0);
    let started = Instant::now();
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<(usize, String)>();
    let mut children = Vec::new();
    for p in 0..processes {
        let count = per_process.min(target - p * per_process);
        let mut child = Command::new(exe)
            .arg("idle-worker")
            .arg("--server")
            .arg(env.server.addr.to_string())
            .arg("--tokens")
            .arg(tokens)
            .arg("--offset")
            .arg((p * per_process).to_string())
            .arg("--count")
            .arg(count.to_string())
            .arg("--sources")
            .arg(env.sources.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting an idle worker")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let tx = lines_tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send((p, line));
            }
        });
        children.push(child);
    }
    drop(lines_tx);

    let mut progress = vec![0u64; processes];
    let mut ready = vec![None::<(u64, u64)>; processes];
    let mut samples = vec![(0.0, f(baseline_kib) / 1024.0)];
    let mut first_error = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while ready.iter().any(Option::is_none) {
        let Ok(Some((p, line))) = tokio::time::timeout_at(deadline, lines.recv()).await else {
            bail!("idle workers stopped answering before all were ready");
        };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("progress") => {
                progress[p] = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let rss = env.server.rss_kib().unwrap_or(0);
                samples.push((f(progress.iter().sum()), f(rss) / 1024.0));
            }
            Some("ready") => {
                let ok = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let failed = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                progress[p] = ok;
                ready[p] = Some((ok, failed));
            }
            Some("error") => {
                first_error.get_or_insert_with(|| words.collect::<Vec<_>>().join(" "));
            }
            _ => {}
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    // Let the server settle, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let final_kib = env.server.rss_kib().unwrap_or(0);
    let opened: u64 = ready.iter().flatten().map(|(ok, _)| ok).sum();
    let failures: u64 = ready.iter().flatten().map(|(_, failed)| failed).sum();
    samples.push((f(opened), f(final_kib) / 1024.0));

    let held = finish_workers(children, &mut lines).await;
    Ok(IdleRun {
        target: target as u64,
        held,
        failures,
        processes,
        baseline_kib,
        final_kib,
        per_connection_kib: f(final_kib.saturating_sub(baseline_kib)) / f(held.max(1)),
        connect_secs,
        first_error,
        samples,
    })
}

/// Asks every worker how many of its sockets are still open, then ends them.
async fn finish_workers(
    mut children: Vec<tokio::process::Child>,
    lines: &mut mpsc::UnboundedReceiver<(usize, String)>,
) -> u64 {
    let processes = children.len();
    let mut held = 0;
    for child in &mut children {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"close\n").await;
        }
    }
    let mut answered = 0;
    while answered < processes {
        match tokio::time::timeout(Duration::from_secs(30), lines.recv()).await {
            Ok(Some((_, line))) => {
                if let Some(n) = line.strip_prefix("held ") {
                    held += n.trim().parse::<u64>().unwrap_or(0);
                    answered += 1;
                }
            }
            _ => break,
        }
    }
    for mut child in children {
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        let _ = child.kill().await;
    }
    held
}

/// Arguments of the `idle-worker` subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    server: SocketAddr,
    #[arg(long)]
    tokens: PathBuf,
    #[arg(long)]
    offset: usize,
    #[arg(long)]
    count: usize,
    #[arg(long, default_value_t = 4)]
    sources: u8,
}

/// The worker: opens `count` authenticated sockets, reports, holds them (answering pings)
/// until told to close, then reports how many are still open.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let limit = crate::util::raise_nofile();
    if (args.count as u64) + 64 > limit {
        bail!(
            "{} sockets need more than the open-file limit {limit}",
            args.count
        );
    }
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)?
        .lines()
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!tokens.is_empty(), "no tokens");
    let net = Arc::new(Net::new(args.server, args.sources));
    let open = Arc::new(AtomicU64::new(0));
    let mut opened = 0u64;
    let mut failed = 0u64;
    let mut attempts = stream::iter(0..args.count)
        .map(|i| {
            let net = net.clone();
            let token = tokens[(args.offset + i) % tokens.len()].clone();
            async move { net.open(&token).await }
        })
        .buffer_unordered(128);
    while let Some(result) = attempts.next().await {
        match result {
            Ok(mut ws) => {
                opened += 1;
                open.fetch_add(1, Ordering::Relaxed);
                let open = open.clone();
                tokio::spawn(async move {
                    // Reading answers the server's pings; the loop ends when the socket does.
                    while let Some(Ok(frame)) = ws.next().await {
                        if frame.is_close() {
                            break;
                        }
                    }
                    open.fetch_sub(1, Ordering::Relaxed);
                });
                if opened.is_multiple_of(500) {
                    println!("progress {opened}");
                }
            }
            Err(error) => {
                if failed == 0 {
                    println!("error {error:#}");
                }
                failed += 1;
            }
        }
    }
    println!("ready {opened} {failed}");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    println!("held {}", open.load(Ordering::Relaxed));
    Ok(())
}
