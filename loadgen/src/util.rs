//! Small helpers: a process-wide clock, conversions, medians, and what `/proc` tells about
//! a process and the machine.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since this process's clock started; the send stamps in probe messages use
/// it, so sender and receivers must be in one process (they are).
pub fn now_us() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Prints a progress line to stderr, stamped with seconds since start.
pub fn log(message: impl std::fmt::Display) {
    eprintln!("[{:7.1}s] {message}", ms(now_us()) / 1000.0);
}

/// Starts the clock (call once at start so stamps are small).
pub fn start_clock() {
    let _ = now_us();
}

/// A count as a float, for rates and averages (exact below 2^53, which every count here is).
#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
pub fn f(value: u64) -> f64 {
    value as f64
}

/// Microseconds to milliseconds.
pub fn ms(us: u64) -> f64 {
    f(us) / 1000.0
}

/// A non-negative float rounded to an integer count.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to >= 0 first
pub fn round_u64(value: f64) -> u64 {
    value.max(0.0).round() as u64
}

/// The median of `values` (the mean of the middle two for an even count); `NaN` when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    }
}

/// Resident memory of a process in KiB (`VmRSS`), or `None` when it cannot be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_millis(ticks * 10))
}

/// utime + stime from a `/proc/PID/stat` line, in clock ticks (100 per second on Linux).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses; fields after the last ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' come state (3), ppid (4) ... utime is field 14, stime 15 (1-based overall).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The machine a run happened on, for the report.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0);
        Self {
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu_model,
            memory_gib: f(mem_kib) / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
            load_before: loadavg(),
            load_after: String::new(),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Raises this process's soft open-file limit to its hard limit; returns the new limit.
pub fn raise_nofile() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            crate::util::log(format!("cannot raise the open-file limit: {error}"));
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert!(median(&[]).is_nan());
        assert!((median(&[3.0]) - 3.0).abs() < f64::EPSILON);
        assert!((median(&[5.0, 1.0, 3.0]) - 3.0).abs() < f64::EPSILON);
        assert!((median(&[4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < f64::EPSILON);
        assert!((median(&[f64::NAN, 1.0]) - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn cpu_ticks_from_stat() {
        let stat = "1234 (knock server) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }
}
