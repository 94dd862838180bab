//! Sign-ups (issue 17): a burst of registrations from one address, many in flight at once,
//! and what it does to the server's memory. Every registration hashes a password with
//! argon2id in 19 MiB. The server's RSS is read before the burst, sampled during it, read
//! right after it and again after a few idle seconds. A refusal (429: the queue of
//! passwords waiting for a hashing thread is full) is retried after its `Retry-After`, as
//! a client would, so that every account is created; then a sample of the accounts signs
//! in and authenticates a socket.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use reqwest::StatusCode;

use super::{Env, Scale, slow::Sampler};
use crate::{
    client::{Account, Answer, post_credentials},
    util::{f, round_u64},
};

/// Limits the burst meets at the server's default rather than lifted: the queue of
/// passwords waiting for a hashing thread. The registrations per address stay lifted
/// (at their default, 10 at once and 60 an hour, a burst from one address is refused for
/// an hour).
pub const DEFAULTS: [&str; 1] = ["KNOCK_MAX_HASHING_WAITING"];

/// Issue 17's bound: RSS after the burst within this many MiB of where it started.
pub const RETURN_BOUND_MIB: f64 = 64.0;

/// How long one registration keeps retrying its 429s before it counts as failed.
const GIVE_UP: Duration = Duration::from_secs(300);

/// How often RSS is sampled during the burst.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, Default)]
pub struct SignupRun {
    pub asked: u64,
    pub in_flight: usize,
    pub created: u64,
    /// 429 answers; each was retried after its `Retry-After`.
    pub refused: u64,
    /// Registrations that failed otherwise, or were still refused after [`GIVE_UP`].
    pub failures: u64,
    /// From the first request to the last answer.
    pub seconds: f64,
    /// Accounts created per second of the burst.
    pub per_second: f64,
    pub rss_start_kib: u64,
    pub rss_peak_kib: u64,
    /// Right after the last answer.
    pub rss_after_kib: u64,
    /// After `idle_secs` more with nothing to do.
    pub rss_idle_kib: u64,
    pub idle_secs: f64,
    /// Accounts of the burst that signed in (`/api/login`), and of those, how many
    /// authenticated a socket with the new token.
    pub sign_ins: u64,
    pub signed_in: u64,
    pub first_error: Option<String>,
}

impl SignupRun {
    /// RSS after the idle seconds, less RSS at the start, in MiB.
    pub fn kept_mib(&self) -> f64 {
        (f(self.rss_idle_kib) - f(self.rss_start_kib)) / 1024.0
    }
}

/// Each repeat on a freshly started server (when this tool started it), with the hashing
/// queue at the server's default.
pub async fn run(env: &mut Env, scale: &Scale) -> anyhow::Result<Vec<SignupRun>> {
    let mut runs = Vec::new();
    for repeat in 0..scale.repeats {
        env.fresh_server_with_defaults(&DEFAULTS).await?;
        let run = once(env, scale, repeat).await?;
        crate::util::log(format!(
            "sign-ups #{repeat}: {} of {} created ({} refused with 429 and retried, {} failed) in {:.1} s, {:.0}/s; RSS {} -> peak {} -> {} -> {} KiB after {} s idle; {} of {} signed in",
            run.created,
            run.asked,
            run.refused,
            run.failures,
            run.seconds,
            run.per_second,
            run.rss_start_kib,
            run.rss_peak_kib,
            run.rss_after_kib,
            run.rss_idle_kib,
            run.idle_secs,
            run.signed_in,
            run.sign_ins
        ));
        runs.push(run);
    }
    Ok(runs)
}

/// What became of one account's registration.
struct Attempts {
    username: String,
    account: anyhow::Result<Account>,
    refused: u64,
}

async fn once(env: &Env, scale: &Scale, repeat: usize) -> anyhow::Result<SignupRun> {
    let client = reqwest::Client::new();
    let register_url = format!("{}/api/register", env.server.http());
    let prefix = format!("su{}r{repeat}u", std::process::id());
    let rss_start_kib = env.server.rss_kib().unwrap_or(0);

    let sampler = Sampler::every(env.server.pid, SAMPLE_EVERY);
    let started = Instant::now();
    let attempts: Vec<Attempts> = stream::iter(0..scale.signups)
        .map(|i| {
            until_accepted(
                &client,
                &register_url,
                format!("{prefix}{i}"),
                StatusCode::CREATED,
            )
        })
        .buffer_unordered(scale.signups_in_flight.max(1))
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let rss_after_kib = env.server.rss_kib().unwrap_or(0);
    let rss_samples = sampler.stop().await;
    let rss_peak_kib = rss_samples
        .iter()
        .map(|(_, mib)| round_u64(mib * 1024.0))
        .chain([rss_start_kib, rss_after_kib])
        .max()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs_f64(scale.signups_idle_secs)).await;
    let rss_idle_kib = env.server.rss_kib().unwrap_or(0);

    let created: Vec<&str> = attempts
        .iter()
        .filter(|a| a.account.is_ok())
        .map(|a| a.username.as_str())
        .collect();
    let mut first_error = attempts
        .iter()
        .find_map(|a| a.account.as_ref().err().map(|e| format!("{e:#}")));
    let sample = spread(&created, scale.signups_sign_ins);
    let (signed_in, sign_in_error) = sign_in(env, &client, &sample).await;
    first_error = first_error.or(sign_in_error);

    let created_count = created.len() as u64;
    Ok(SignupRun {
        asked: scale.signups as u64,
        in_flight: scale.signups_in_flight,
        created: created_count,
        refused: attempts.iter().map(|a| a.refused).sum(),
        failures: scale.signups as u64 - created_count,
        seconds,
        per_second: f(created_count) / seconds.max(1e-3),
        rss_start_kib,
        rss_peak_kib,
        rss_after_kib,
        rss_idle_kib,
        idle_secs: scale.signups_idle_secs,
        sign_ins: sample.len() as u64,
        signed_in,
        first_error,
    })
}

/// Posts `username`'s credentials until the server answers `expected`, waiting out each
/// 429's `Retry-After`; any other answer, or refusals past [`GIVE_UP`], is an error.
async fn until_accepted(
    client: &reqwest::Client,
    url: &str,
    username: String,
    expected: StatusCode,
) -> Attempts {
    let deadline = Instant::now() + GIVE_UP;
    let mut refused = 0;
    let account = loop {
        match post_credentials(client, url, &username, expected).await {
            Ok(Answer::Signed(account)) => break Ok(account),
            Ok(Answer::Refused(after)) => {
                refused += 1;
                if Instant::now() + after > deadline {
                    break Err(anyhow::anyhow!(
                        "{url} as {username}: still refused (429) after {refused} tries"
                    ));
                }
                tokio::time::sleep(after).await;
            }
            Err(error) => break Err(error),
        }
    };
    Attempts {
        username,
        account,
        refused,
    }
}

/// Up to `count` of `items`, evenly spread (first, last and between).
fn spread<'a>(items: &[&'a str], count: usize) -> Vec<&'a str> {
    if items.len() <= count {
        return items.to_vec();
    }
    if count <= 1 {
        return items.iter().take(count).copied().collect();
    }
    (0..count)
        .map(|i| items[i * (items.len() - 1) / (count - 1)])
        .collect()
}

/// Signs in as each of `usernames` (a few at a time) and authenticates a socket with the
/// new token; how many did both, and the first failure.
async fn sign_in(env: &Env, client: &reqwest::Client, usernames: &[&str]) -> (u64, Option<String>) {
    let login_url = format!("{}/api/login", env.server.http());
    let net = env.net();
    let results: Vec<anyhow::Result<()>> = stream::iter(usernames)
        .map(|username| {
            let (login_url, net) = (&login_url, &net);
            async move {
                let attempts =
                    until_accepted(client, login_url, (*username).to_owned(), StatusCode::OK).await;
                let ws = net.open(&attempts.account?.token).await?;
                drop(ws);
                Ok(())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
    let first_error = results
        .iter()
        .find_map(|r| r.as_ref().err().map(|e| format!("sign-in: {e:#}")));
    (ok, first_error)
}

/// The median over the runs of the RSS kept after the idle seconds, in MiB.
pub fn median_kept_mib(runs: &[SignupRun]) -> f64 {
    crate::util::median(&runs.iter().map(SignupRun::kept_mib).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_first_last_and_between() {
        let items: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let items: Vec<&str> = items.iter().map(String::as_str).collect();
        assert_eq!(spread(&items, 3), ["0", "4", "9"]);
        assert_eq!(spread(&items, 1), ["0"]);
        assert_eq!(spread(&items, 0), Vec::<&str>::new());
        assert_eq!(spread(&items[..2], 5), ["0", "1"]);
    }
}
