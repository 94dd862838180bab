//! `knock-loadgen`: drives a real Knock server over its wire contract and measures it.
//!
//! `all` runs the five workloads of issue 5 and the sign-ups of issue 17, and writes
//! `docs/benchmarks.md` and the plots;
//! `smoke` runs a tiny version of each and fails when the protocol flow breaks.

mod client;
mod hist;
mod plot;
mod report;
mod room;
mod sched;
mod server;
mod util;
mod workloads;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    report::Results,
    server::Server,
    workloads::{
        Env, Scale, connect, fanout, floor, idle, presence, search, signups, slow, throughput,
    },
};

#[derive(Parser)]
#[command(
    name = "knock-loadgen",
    about = "Load generator and benchmarks for Knock"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every workload at full scale; writes docs/benchmarks.md and docs/bench/*.svg.
    All(RunArgs),
    /// A tiny version of every workload; exits non-zero when the protocol flow breaks.
    Smoke(RunArgs),
    /// Workload 1: idle authenticated sockets and server RSS per socket.
    Idle(RunArgs),
    /// Workload 2: fan-out latency in one large room.
    Fanout(RunArgs),
    /// Workload 3: stored messages per second in many small rooms.
    Throughput(RunArgs),
    /// Workload 4: connect + authenticate + join rate.
    Connect(RunArgs),
    /// Workload 5: one member that never reads.
    Slow(RunArgs),
    /// Sign-ups (issue 17): a burst of registrations and the server's RSS before, during
    /// and after it.
    Signups(RunArgs),
    /// Search latency (issue 19) against a running server on a filled database; see
    /// `scripts/bench-search.sh`. Prints a table; not part of `all` or `smoke`.
    Search(search::SearchArgs),
    /// Presence and typing (issue 18): the fan-out room with members coming and going,
    /// and with members typing. Prints a table; not part of `all` or `smoke`.
    Presence(presence::PresenceArgs),
    /// (internal) holds idle sockets for `idle`, in its own process.
    #[command(hide = true)]
    IdleWorker(idle::WorkerArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScaleName {
    Full,
    Smoke,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// The server binary to start on a fresh temporary database.
    #[arg(long, default_value = "target/release/knock-server")]
    server_bin: PathBuf,
    /// Use the server already running at this address (`127.0.0.1:3000`) instead.
    #[arg(long)]
    url: Option<String>,
    /// Process id of the `--url` server, for its RSS and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// More nodes of the same cluster (comma separated `host:port`, loopback): sockets
    /// are spread round-robin over `--url` and these. RSS and CPU are `--url`'s only.
    #[arg(long, value_delimiter = ',', requires = "url")]
    also_url: Vec<SocketAddr>,
    /// Workload sizes (default: smoke for `smoke`, full otherwise).
    #[arg(long, value_enum)]
    scale: Option<ScaleName>,
    /// Runs of each measurement (the report shows medians).
    #[arg(long)]
    repeats: Option<usize>,
    /// Idle sockets to open.
    #[arg(long)]
    idle_connections: Option<usize>,
    /// Members of the fan-out room, instead of the scale's.
    #[arg(long)]
    fanout_members: Option<usize>,
    /// Fan-out rates (messages/s), 10 s each, instead of the scale's steps.
    #[arg(long, value_delimiter = ',')]
    fanout_rates: Option<Vec<f64>>,
    /// Fan-out members send `markRead` as the web client does: the newest `seq` they
    /// got, when it moved, at most once a second each (issue 18). Off by default.
    #[arg(long)]
    mark_read: bool,
    /// Throughput input rates to sweep (messages/s), instead of the scale's.
    #[arg(long, value_delimiter = ',')]
    throughput_rates: Option<Vec<f64>>,
    /// Seconds of each throughput step, instead of the scale's.
    #[arg(long)]
    throughput_secs: Option<f64>,
    /// Registrations in the sign-up burst, instead of the scale's.
    #[arg(long)]
    signups: Option<usize>,
    /// Registrations in flight at once in the sign-up burst, instead of the scale's.
    #[arg(long)]
    signups_in_flight: Option<usize>,
    /// Loopback source addresses to spread sockets over (127.0.0.1 ..).
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Write the report here (kept text outside the generated markers); `all` defaults
    /// to docs/benchmarks.md.
    #[arg(long)]
    doc: Option<PathBuf>,
    /// Folder for the plots (default: `bench/` beside the report).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Keep the temporary folder (database, server log).
    #[arg(long)]
    keep_temp: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    All,
    Smoke,
    Idle,
    Fanout,
    Throughput,
    Connect,
    Slow,
    Signups,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (kind, args) = match cli.command {
        Command::IdleWorker(args) => return runtime.block_on(idle::worker(args)),
        Command::Search(args) => return runtime.block_on(search::run(args)),
        Command::Presence(args) => return runtime.block_on(presence::run(args)),
        Command::All(args) => (Kind::All, args),
        Command::Smoke(args) => (Kind::Smoke, args),
        Command::Idle(args) => (Kind::Idle, args),
        Command::Fanout(args) => (Kind::Fanout, args),
        Command::Throughput(args) => (Kind::Throughput, args),
        Command::Connect(args) => (Kind::Connect, args),
        Command::Slow(args) => (Kind::Slow, args),
        Command::Signups(args) => (Kind::Signups, args),
    };
    runtime.block_on(run(kind, args))
}

async fn run(kind: Kind, args: RunArgs) -> anyhow::Result<()> {
    util::start_clock();
    let started = Instant::now();
    let nofile = util::raise_nofile();
    let (scale_name, scale) = scale_for(kind, &args, nofile);
    let mut results = Results {
        machine: util::Machine::probe(),
        scale_name: match scale_name {
            ScaleName::Full => "full".into(),
            ScaleName::Smoke => "smoke".into(),
        },
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ..Results::default()
    };

    let temp = std::env::temp_dir().join(format!("knock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let server = start_server(&args, &mut results, &temp).await?;
    crate::util::log(format!(
        "server on {} (pid {:?}), temp {}",
        server.addr,
        server.pid,
        temp.display()
    ));

    let needed = match kind {
        Kind::Fanout => scale.fanout_members,
        Kind::Slow => scale.slow_members + 1,
        Kind::Throughput => scale.throughput_rooms * scale.throughput_members,
        Kind::Idle | Kind::Connect => 1_000,
        // The burst registers its own accounts, on a fresh server.
        Kind::Signups => 2,
        Kind::All | Kind::Smoke => scale.accounts_needed(),
    }
    .min(scale.accounts_needed())
    .max(2);
    let registering = Instant::now();
    let prefix = format!("lg{}u", std::process::id());
    let accounts = client::register_many(&server.http(), &prefix, needed, 8)
        .await
        .context("registering accounts")?;
    results.accounts = accounts.len();
    results.registration_secs = registering.elapsed().as_secs_f64();
    crate::util::log(format!(
        "{} accounts registered in {:.1} s",
        accounts.len(),
        results.registration_secs
    ));

    anyhow::ensure!(
        args.also_url.iter().all(|addr| addr.ip().is_loopback()),
        "only loopback servers are measured"
    );
    let mut env = Env::new(server, accounts, args.sources, temp.clone());
    env.other_nodes.clone_from(&args.also_url);
    let outcome = workloads(kind, &scale, &mut env, &mut results).await;
    env.server.stop().await;
    results.machine.load_after = util::loadavg();
    results.total_secs = started.elapsed().as_secs_f64();
    if !args.keep_temp && outcome.is_ok() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    outcome?;

    let doc = args
        .doc
        .clone()
        .or_else(|| (kind == Kind::All).then(|| PathBuf::from("docs/benchmarks.md")));
    let plots_md = match &doc {
        Some(doc) => {
            let dir = args
                .plots
                .clone()
                .unwrap_or_else(|| doc.parent().unwrap_or(Path::new(".")).join("bench"));
            let prefix = relative_prefix(doc, &dir);
            plot::all(&results, &scale, &dir, &prefix)?
        }
        None => String::new(),
    };
    let markdown = report::render(&results, &scale, &plots_md);
    println!("{markdown}");
    if let Some(doc) = &doc {
        report::write_doc(doc, &markdown)?;
        crate::util::log(format!("wrote {}", doc.display()));
    }
    if kind == Kind::Smoke {
        check_smoke(&results, &scale)?;
        crate::util::log("smoke: every workload ran and every message arrived");
    }
    Ok(())
}

/// The workload sizes for this command, with the command line's overrides.
fn scale_for(kind: Kind, args: &RunArgs, nofile: u64) -> (ScaleName, Scale) {
    let scale_name = args.scale.unwrap_or(if kind == Kind::Smoke {
        ScaleName::Smoke
    } else {
        ScaleName::Full
    });
    let mut scale = match scale_name {
        ScaleName::Full => Scale::full(),
        ScaleName::Smoke => Scale::smoke(),
    };
    if let Some(repeats) = args.repeats {
        scale.repeats = repeats.max(1);
    }
    if let Some(members) = args.fanout_members {
        scale.fanout_members = members.max(2);
    }
    scale.mark_read |= args.mark_read;
    if let Some(rates) = &args.fanout_rates {
        scale.fanout_steps = rates.iter().map(|rate| (*rate, 10.0)).collect();
    }
    if let Some(rates) = &args.throughput_rates {
        scale.throughput_rates.clone_from(rates);
    }
    if let Some(secs) = args.throughput_secs {
        scale.throughput_secs = secs;
    }
    if let Some(idle) = args.idle_connections {
        scale.idle_connections = idle;
    }
    if let Some(signups) = args.signups {
        scale.signups = signups;
    }
    if let Some(in_flight) = args.signups_in_flight {
        scale.signups_in_flight = in_flight.max(1);
    }
    // A worker's own limit caps its sockets; leave room for its other files.
    let per_process_cap = usize::try_from(nofile.saturating_sub(200))
        .unwrap_or(usize::MAX)
        .max(1);
    scale.idle_per_process = scale.idle_per_process.min(per_process_cap);

    (scale_name, scale)
}

/// The server under test: started here on a temporary database, or the one at `--url`.
async fn start_server(
    args: &RunArgs,
    results: &mut Results,
    temp: &Path,
) -> anyhow::Result<Server> {
    if let Some(url) = &args.url {
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("--url {url}: expected host:port on loopback"))?;
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "only loopback servers are measured"
        );
        results.server = format!("already running at {addr}, on the database it was started with");
        return Ok(Server::external(addr, args.server_pid));
    }
    if !args.server_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p knock-server`",
            args.server_bin.display()
        );
    }
    results.server = server_description(&args.server_bin);
    Server::start(
        &args.server_bin,
        &temp.join("bench.db"),
        &temp.join("server.log"),
    )
    .await
}

async fn workloads(
    kind: Kind,
    scale: &Scale,
    env: &mut Env,
    results: &mut Results,
) -> anyhow::Result<()> {
    let every = matches!(kind, Kind::All | Kind::Smoke);
    // The latency workloads go first: after the idle and connect workloads have opened
    // and closed some 75,000 loopback connections, the fan-out's p99 at 100 msg/s was
    // 23-25 ms instead of 8-9 ms with the same binaries (docs/benchmarks.md).
    if every || kind == Kind::Fanout {
        env.fresh_server().await?;
        util::log("workload 2: setting up the fan-out room");
        let mut room = fanout::setup(env, scale).await?;
        util::log("fan-out room ready");
        results.fanout = Some(
            fanout::run(env, scale, &mut room)
                .await
                .context("fan-out workload")?,
        );
        room.close().await;
        util::log("workload 2's floor: bare loopback TCP, no server");
        results.floor = Some(floor::fanout(scale).await.context("floor of workload 2")?);
    }
    if every || kind == Kind::Slow {
        env.fresh_server().await?;
        util::log("workload 5: slow consumer");
        let members = &env.accounts[..scale.slow_members.min(env.accounts.len() - 1)];
        let mut room = room::setup_room(&env.net(), members, "slow consumer").await?;
        results.slow = Some(
            slow::run(env, scale, &mut room)
                .await
                .context("slow-consumer workload")?,
        );
        room.close().await;
    }
    if every || kind == Kind::Throughput {
        env.fresh_server().await?;
        util::log("workload 3: setting up the throughput rooms");
        let mut rooms = throughput::setup(env, scale).await?;
        util::log("throughput rooms ready");
        results.throughput = Some(
            throughput::run(env, scale, &mut rooms)
                .await
                .context("throughput workload")?,
        );
        futures_util::future::join_all(rooms.into_iter().map(room::Room::close)).await;
        util::log("workload 3's floor: bare loopback TCP, no server");
        results.throughput_floor = Some(
            floor::throughput(scale)
                .await
                .context("floor of workload 3")?,
        );
    }
    if every || kind == Kind::Idle {
        util::log("workload 1: idle connections");
        let exe = std::env::current_exe()?;
        results.idle = Some(idle::run(env, scale, &exe).await.context("idle workload")?);
    }
    if every || kind == Kind::Connect {
        env.fresh_server().await?;
        util::log("workload 4: connect rate");
        results.connect = Some(connect::run(env, scale).await.context("connect workload")?);
    }
    if every || kind == Kind::Signups {
        util::log("sign-ups: a burst of registrations and the server's memory");
        results.signups = Some(signups::run(env, scale).await.context("sign-up workload")?);
    }
    Ok(())
}

/// The protocol checks of `smoke`: everything arrived, nothing failed. No timings.
fn check_smoke(results: &Results, scale: &Scale) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for run in results.idle.iter().flatten() {
        if run.held != run.target || run.failures > 0 {
            problems.push(format!(
                "idle: held {} of {} sockets ({} failed: {:?})",
                run.held, run.target, run.failures, run.first_error
            ));
        }
    }
    for run in results.connect.iter().flatten() {
        if run.failures > 0 || run.sockets != scale.connect_count as u64 {
            problems.push(format!(
                "connect: {} failures: {:?}",
                run.failures, run.first_error
            ));
        }
    }
    for step in results.fanout.iter().flatten().flatten() {
        if step.incomplete > 0 || step.errors > 0 {
            problems.push(format!(
                "fan-out {} msg/s: {} messages missed a member, {} error frames",
                step.rate, step.incomplete, step.errors
            ));
        }
    }
    for run in results
        .floor
        .iter()
        .chain(&results.throughput_floor)
        .flatten()
        .flatten()
    {
        if run.incomplete > 0 {
            problems.push(format!(
                "floor: {} messages missed a receiver",
                run.incomplete
            ));
        }
    }
    for run in results.slow.iter().flatten() {
        if run.baseline.incomplete > 0
            || run.with_slow.incomplete > 0
            || run.baseline.errors > 0
            || run.with_slow.errors > 0
        {
            problems.push("slow consumer: a reading member missed messages".to_owned());
        }
    }
    for step in results.throughput.iter().flatten().flatten() {
        if step.incomplete > 0 || step.errors > 0 {
            problems.push(format!(
                "throughput {} msg/s: {} messages missed a member, {} error frames",
                step.rate, step.incomplete, step.errors
            ));
        }
    }
    for run in results.signups.iter().flatten() {
        if run.failures > 0 || run.signed_in != run.sign_ins {
            problems.push(format!(
                "sign-ups: {} of {} created, {} of {} signed in: {:?}",
                run.created, run.asked, run.signed_in, run.sign_ins, run.first_error
            ));
        }
    }
    if results.idle.is_none()
        || results.connect.is_none()
        || results.signups.is_none()
        || results.fanout.is_none()
        || results.floor.is_none()
        || results.throughput_floor.is_none()
        || results.slow.is_none()
        || results.throughput.is_none()
    {
        problems.push("a workload did not run".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("smoke failed:\n  {}", problems.join("\n  "))
    }
}

/// `../bench/`-style prefix from the report's folder to the plots' folder.
fn relative_prefix(doc: &Path, plots: &Path) -> String {
    let doc_dir = doc.parent().unwrap_or(Path::new(""));
    match plots.strip_prefix(doc_dir) {
        Ok(rest) if !rest.as_os_str().is_empty() => format!("{}/", rest.display()),
        Ok(_) => String::new(),
        Err(_) => format!("{}/", plots.display()),
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn server_description(bin: &Path) -> String {
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_output(
        "git",
        &["status", "--porcelain", "--", "server", "protocol"],
    )
    .is_empty();
    let built = command_output(
        "date",
        &["-u", "-r", &bin.display().to_string(), "+%H:%M UTC"],
    );
    format!(
        "`{}` (release build of {built}; the work tree was at commit {}{} when measured), SQLite file in the temp folder (WAL, synchronous=FULL), flags `{}` and `{}` \
         in the environment (the abuse limits lifted), everything else default, log level `{}`",
        bin.display(),
        if commit.is_empty() {
            "unknown".to_owned()
        } else {
            commit
        },
        if dirty {
            " with uncommitted changes in server/ or protocol/"
        } else {
            ""
        },
        server::BENCH_FLAGS.join(" "),
        server::BENCH_ENV
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" "),
        std::env::var("KNOCK_BENCH_LOG").unwrap_or_else(|_| "info".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_links_are_relative_to_the_report() {
        assert_eq!(
            relative_prefix(Path::new("docs/benchmarks.md"), Path::new("docs/bench")),
            "bench/"
        );
        assert_eq!(
            relative_prefix(Path::new("docs/benchmarks.md"), Path::new("docs")),
            ""
        );
        assert_eq!(
            relative_prefix(Path::new("docs/b.md"), Path::new("/tmp/p")),
            "/tmp/p/"
        );
    }
}
