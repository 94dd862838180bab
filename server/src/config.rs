//! Configuration: command-line flags, each with an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

// Not `Debug`: the database and Redis URLs carry passwords, and a `{:?}` in a log line
// would print them.
#[derive(Clone, Parser)]
#[command(
    name = "knock-server",
    version,
    about = "Knock: group chat with admin-approved rooms"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "KNOCK_ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) addr: SocketAddr,

    /// Where Knock keeps its data: `sqlite:PATH` (the file is created on first start) or
    /// `postgres://user:password@host:5432/db`; TLS to PostgreSQL with `?sslmode=require`
    /// (encrypted, certificate not checked) or `?sslmode=verify-full&sslrootcert=CA.pem`
    /// (certificate and host name checked against CA.pem and the system's CAs).
    // URLs carry passwords: `--help` must not print what the environment holds.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite:knock.db",
        hide_env_values = true
    )]
    pub(crate) database_url: String,

    /// Address to serve Prometheus metrics on (`GET /metrics`), for example
    /// `127.0.0.1:9090`; off when unset. Only there: the main address never serves them.
    #[arg(long, env = "KNOCK_METRICS_ADDR")]
    pub(crate) metrics_addr: Option<SocketAddr>,

    /// Browser origins besides the server's own that may call the API and open sockets,
    /// comma separated (for example the S3 site: `https://chat.example.com`).
    #[arg(long, env = "KNOCK_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub(crate) allowed_origins: Vec<String>,

    /// Redis for fan-out between several Knock nodes (`redis://127.0.0.1:6379`); without
    /// it, fan-out stays within this process. With a password, an ACL user or TLS:
    /// `redis://:PASSWORD@host:6379`, `rediss://USER:PASSWORD@host:6379` (TLS, the
    /// certificate checked against the system's CAs or `--redis-ca-file`).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub(crate) redis_url: Option<String>,

    /// PEM file of the CA(s) that signed the Redis server's certificate, for `rediss://`
    /// to a server whose CA is not among the system's (one's own CA, a self-signed
    /// certificate); used instead of the system's CAs.
    #[arg(long, env = "KNOCK_REDIS_CA_FILE")]
    pub(crate) redis_ca_file: Option<PathBuf>,

    /// Folder of the built web client (`cargo leptos build` writes `target/site`;
    /// `scripts/prepare-site.mjs` adds content-hashed names, index.html and .br/.gz copies).
    #[arg(long, env = "KNOCK_SITE_ROOT", default_value = "target/site")]
    pub(crate) site_root: PathBuf,

    /// Seconds a new socket has to authenticate before it is closed.
    #[arg(long, env = "KNOCK_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) auth_timeout_secs: u64,

    /// Seconds between the server's pings; a socket silent for three intervals is closed.
    #[arg(long, env = "KNOCK_PING_INTERVAL_SECS", default_value_t = 30)]
    pub(crate) ping_interval_secs: u64,

    /// Chat messages one user may send per second, on average.
    #[arg(long, env = "KNOCK_MESSAGE_RATE", default_value_t = knock_protocol::limits::MESSAGE_RATE_PER_SEC)]
    pub(crate) message_rate: f64,

    /// Chat messages one user may send at once before the rate applies.
    #[arg(long, env = "KNOCK_MESSAGE_BURST", default_value_t = knock_protocol::limits::MESSAGE_BURST)]
    pub(crate) message_burst: f64,

    /// Frames of any kind one socket may send per second (twice as many at once); a
    /// socket that keeps flooding past it is closed with 1008.
    #[arg(long, env = "KNOCK_FRAME_RATE", default_value_t = 50.0)]
    pub(crate) frame_rate: f64,

    /// Open sockets one user may hold at once.
    #[arg(long, env = "KNOCK_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub(crate) max_sockets_per_user: usize,

    /// How many proxies (load balancers) in front of the server append to
    /// `X-Forwarded-For`: the client's address for login throttling is then that many
    /// entries from the right. 0 (the default) uses the connection's peer address; behind
    /// a load balancer that would be the balancer's, shared by every user.
    #[arg(long, env = "KNOCK_TRUSTED_PROXIES", default_value_t = 0)]
    pub(crate) trusted_proxies: usize,

    /// Failed logins for one username in 15 minutes before its logins are refused for the
    /// rest of the window; one address may fail ten times as often.
    #[arg(long, env = "KNOCK_LOGIN_FAILURES", default_value_t = 5)]
    pub(crate) login_failures: u32,

    /// Rooms one user may create per second, on average (10 at once).
    #[arg(long, env = "KNOCK_CREATE_ROOM_RATE", default_value_t = 0.2)]
    pub(crate) create_room_rate: f64,

    /// Join requests one user may send per second, on average (20 at once).
    #[arg(long, env = "KNOCK_KNOCK_RATE", default_value_t = 1.0)]
    pub(crate) knock_rate: f64,

    /// History pages, member lists and room lists one user may ask for per second, on
    /// average (100 at once).
    #[arg(long, env = "KNOCK_READ_RATE", default_value_t = 10.0)]
    pub(crate) read_rate: f64,

    /// Searches one user may make per second, on average (20 at once).
    #[arg(long, env = "KNOCK_SEARCH_RATE", default_value_t = 2.0)]
    pub(crate) search_rate: f64,

    /// Join requests that may wait in one room; past it, knocks are refused.
    #[arg(long, env = "KNOCK_MAX_WAITING_PER_ROOM", default_value_t = 1_000)]
    pub(crate) max_waiting_per_room: usize,

    /// Rooms one user may be in or waiting for; past it, creating or knocking is refused.
    #[arg(long, env = "KNOCK_MAX_ROOMS_PER_USER", default_value_t = 1_000)]
    pub(crate) max_rooms_per_user: usize,

    /// Browsers reach this server over HTTPS (TLS ends at a proxy in front): answers tell
    /// them to use nothing else for a year (Strict-Transport-Security).
    #[arg(long, env = "KNOCK_HSTS", default_value_t = false)]
    pub(crate) hsts: bool,

    /// Seconds a client has to send a request's headers; also how long an idle
    /// keep-alive connection is kept. Half-sent requests are closed after it (slowloris).
    #[arg(long, env = "KNOCK_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) header_read_timeout_secs: u64,

    /// Open connections (web sockets included) before new ones wait for one to close.
    /// 0, the default, is the process's open-file limit less 256 for the database and
    /// the rest.
    #[arg(long, env = "KNOCK_MAX_CONNECTIONS", default_value_t = 0)]
    pub(crate) max_connections: usize,

    /// Sockets from one client address that may be waiting to authenticate at once;
    /// past it, new ones are refused with 429.
    // An office behind one NAT address reconnects all at once after a restart: each
    // socket waits for its authentication only for milliseconds, so 64 leaves room for
    // that and still bounds a flood.
    #[arg(
        long,
        env = "KNOCK_MAX_UNAUTHENTICATED_PER_ADDRESS",
        default_value_t = 64
    )]
    pub(crate) max_unauthenticated_per_address: usize,

    /// Seconds a user whose request was rejected waits before knocking on that room again
    /// (meanwhile their knocks are refused and no admin is alerted).
    #[arg(long, env = "KNOCK_KNOCK_COOLDOWN_SECS", default_value_t = knock_protocol::limits::KNOCK_COOLDOWN_SECS)]
    pub(crate) knock_cooldown_secs: u64,

    /// Passwords hashed at once (sign-ups, sign-ins, password changes), each on a thread
    /// of its own with 19 MiB of memory it keeps; 0, the default, is one per core but at
    /// most two (docs/benchmarks.md, "Password hashing": each thread's 19 MiB stays).
    #[arg(long, env = "KNOCK_MAX_HASHING", default_value_t = 0)]
    pub(crate) max_hashing: usize,

    /// Passwords that may wait for a hashing thread; past them, requests are refused with
    /// 429 at once (a hash takes tens of milliseconds of a core).
    #[arg(long, env = "KNOCK_MAX_HASHING_WAITING", default_value_t = 64)]
    pub(crate) max_hashing_waiting: usize,

    /// Accounts one client address may register per hour (10 at once).
    #[arg(long, env = "KNOCK_REGISTER_RATE", default_value_t = 60.0)]
    pub(crate) register_rate: f64,

    /// A session unused this long expires (`30days`, `12h`, `90s`).
    #[arg(long, env = "KNOCK_SESSION_IDLE", default_value = "30days")]
    pub(crate) session_idle: humantime::Duration,

    /// A session expires this long after sign-in, used or not.
    #[arg(long, env = "KNOCK_SESSION_LIFETIME", default_value = "180days")]
    pub(crate) session_lifetime: humantime::Duration,

    /// How often expired sessions are deleted (their sockets closed) and sessions with an
    /// open socket are marked used; also how fresh a session's "last used" time is.
    #[arg(long, env = "KNOCK_SESSION_SWEEP_INTERVAL", default_value = "1h")]
    pub(crate) session_sweep_interval: humantime::Duration,
}

impl Config {
    pub(crate) fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }

    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs.max(1))
    }

    pub(crate) fn message_rate(&self) -> crate::throttle::Rate {
        crate::throttle::Rate {
            per_second: self.message_rate.max(0.0),
            burst: self.message_burst.max(1.0),
        }
    }

    /// The per-user rates of actions other than messages; the bursts grow with the rates.
    pub(crate) fn action_rates(&self) -> crate::service::ActionRates {
        let rate = |per_second: f64, burst_seconds: f64| crate::throttle::Rate {
            per_second: per_second.max(0.0),
            burst: (per_second * burst_seconds).max(1.0),
        };
        crate::service::ActionRates {
            create_room: rate(self.create_room_rate, 50.0),
            knock: rate(self.knock_rate, 20.0),
            read: rate(self.read_rate, 10.0),
            search: rate(self.search_rate, 10.0),
        }
    }

    /// Registrations per client address: `register_rate` an hour, 10 at once.
    pub(crate) fn register_rate(&self) -> crate::throttle::Rate {
        crate::throttle::Rate {
            per_second: self.register_rate.max(0.0) / 3_600.0,
            burst: 10.0_f64.max(self.register_rate / 6.0),
        }
    }

    /// Hashing threads: `--max-hashing`, or one per core up to [`DEFAULT_MAX_HASHING`].
    pub(crate) fn hashing_threads(&self) -> usize {
        match self.max_hashing {
            0 => std::thread::available_parallelism()
                .map_or(DEFAULT_MAX_HASHING, std::num::NonZero::get)
                .min(DEFAULT_MAX_HASHING),
            threads => threads,
        }
    }

    pub(crate) fn session_lifetime(&self) -> crate::domain::SessionLifetime {
        let ms = |duration: humantime::Duration| {
            i64::try_from(std::time::Duration::from(duration).as_millis()).unwrap_or(i64::MAX)
        };
        crate::domain::SessionLifetime {
            idle_ms: ms(self.session_idle),
            absolute_ms: ms(self.session_lifetime),
            refresh_ms: ms(self.session_sweep_interval).max(1),
        }
    }

    pub(crate) fn frame_rate(&self) -> crate::throttle::Rate {
        let per_second = self.frame_rate.max(1.0);
        crate::throttle::Rate {
            per_second,
            burst: per_second * 2.0,
        }
    }

    /// What each connection may take (`listen.rs`).
    pub(crate) fn connection_limits(&self) -> crate::listen::ConnectionLimits {
        crate::listen::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            max_connections: match self.max_connections {
                0 => open_file_limit().saturating_sub(256).max(64),
                cap => cap,
            },
        }
    }

    /// Allowed origins in lower case without trailing slashes, empty entries dropped.
    /// Each must be `scheme://host[:port]`: a wildcard would let any site act for a
    /// signed-in user, so `*` is refused with a sentence saying what to write instead.
    pub(crate) fn normalized_origins(&self) -> Result<Vec<String>, String> {
        let mut origins = Vec::new();
        for origin in &self.allowed_origins {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            if origin.is_empty() {
                continue;
            }
            let well_formed = origin.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', '*'])
            });
            if !well_formed {
                return Err(format!(
                    "--allowed-origins: {origin:?} is not an origin; list each site that may \
                     use this server as scheme://host[:port], e.g. https://chat.example.com \
                     (a wildcard is refused: any site could then act for signed-in users)"
                ));
            }
            origins.push(origin);
        }
        Ok(origins)
    }
}

/// A database or Redis URL without its password (nor user name), for errors and logs:
/// `rediss://***@cache.internal:6379`.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Hashing threads by default, however many cores: each keeps its 19 MiB for good, and
/// issue 17 bounds what a burst of sign-ups leaves behind to 64 MiB (two threads: +48 MiB
/// measured in docs/benchmarks.md; four: +86 MiB). Two threads sign up 50 to 80 users a
/// second.
const DEFAULT_MAX_HASHING: usize = 2;

/// The process's soft limit on open files (`RLIMIT_NOFILE`).
fn open_file_limit() -> usize {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1_024, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    fn origins(list: &str) -> Result<Vec<String>, String> {
        Config::parse_from(["knock-server", "--allowed-origins", list]).normalized_origins()
    }

    #[test]
    fn urls_are_shown_without_user_name_and_password() {
        use super::redact_url;
        assert_eq!(
            redact_url("rediss://knock:pw@cache:6379"),
            "rediss://***@cache:6379"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@db/knock?sslmode=require"),
            "postgres://***@db/knock?sslmode=require"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[test]
    fn origins_are_compared_in_lower_case_and_wildcards_refused() {
        assert_eq!(
            origins("Https://Chat.Example.com/, http://127.0.0.1:8080,").unwrap(),
            ["https://chat.example.com", "http://127.0.0.1:8080"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "chat.example.com",
            "ftp://x",
            "https://a/b",
        ] {
            assert!(origins(bad).is_err(), "{bad}");
        }
    }
}
