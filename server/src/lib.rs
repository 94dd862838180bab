//! Knock's server as a library: `main.rs` parses flags and calls [`run`]; tests can too.

pub mod access;
pub(crate) mod auth;
pub mod batcher;
pub mod config;
pub(crate) mod directory;
pub mod domain;
pub mod error;
pub mod fanout;
pub mod gateway;
pub(crate) mod http;
mod listen;
mod login_counters;
pub mod metrics;
pub mod presence;
pub mod service;
pub mod storage;
#[cfg(test)]
mod testing;
pub mod throttle;

use std::{future::Future, sync::Arc};

use access::RoomAccess;
use batcher::{MembershipBatcher, MessageBatcher};
pub use config::Config;
use fanout::Fanout;
use gateway::{CloseReason, Hub};
use service::{Limits, Service};

/// What every handler can reach; built once in [`run`].
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) service: Service,
    pub(crate) allowed_origins: Arc<[String]>,
    /// Sockets waiting to authenticate, per client address.
    pub(crate) unauthenticated: Arc<throttle::KeyedSlots<std::net::IpAddr>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database {url}: {source}")]
    Storage {
        /// Without its password.
        url: String,
        source: storage::StorageError,
    },
    #[error(transparent)]
    Bus(#[from] fanout::BusError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Serves until `shutdown` completes, then closes every socket with 1012 (so clients
/// reconnect), stores what is in flight and returns.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let allowed_origins = config.normalized_origins().map_err(StartError::Config)?;
    // First, so that everything after it is counted.
    let metrics_server = match config.metrics_addr {
        Some(addr) => Some(MetricsServer::start(addr, &config).await?),
        None => None,
    };
    let storage = storage::open(&config.database_url)
        .await
        .map_err(|source| StartError::Storage {
            url: config::redact_url(&config.database_url),
            source,
        })?;
    let hub = Arc::new(Hub::new());
    let access = RoomAccess::new(storage.clone());
    let presence_changes = presence::Changes::default();
    let fanout = match &config.redis_url {
        Some(url) => {
            Fanout::with_redis(
                hub.clone(),
                access.clone(),
                presence_changes.clone(),
                url,
                config.redis_ca_file.as_deref(),
            )
            .await?
        }
        None => Fanout::local(hub.clone()),
    };
    let presence =
        presence::Presence::start(&fanout, access.clone(), storage.clone(), presence_changes);
    let (messages, messages_task) =
        MessageBatcher::spawn(storage.clone(), access.clone(), fanout.clone());
    let (memberships, memberships_task) = MembershipBatcher::spawn(storage.clone());
    let limits = Limits::new(
        config.message_rate(),
        config.login_failures,
        config.knock_cooldown_secs,
    )
    .with_action_rates(config.action_rates())
    .with_caps(config.max_waiting_per_room, config.max_rooms_per_user)
    .with_register_rate(config.register_rate());
    let limits = match fanout.redis() {
        Some(redis) => limits.with_shared_login_counters(redis),
        None => limits,
    };
    let accounts = service::AccountPolicy::new(
        config.hashing_threads(),
        config.max_hashing_waiting,
        config.session_lifetime(),
    )
    .map_err(|error| StartError::Config(format!("cannot start the hashing threads: {error}")))?;
    let state = AppState {
        allowed_origins: allowed_origins.into(),
        unauthenticated: Arc::new(throttle::KeyedSlots::new(
            config.max_unauthenticated_per_address,
        )),
        service: Service::new(
            storage,
            access,
            fanout,
            messages,
            memberships,
            limits,
            accounts,
        )
        .with_presence(presence),
        config: Arc::new(config),
    };
    let addr = state.config.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    tracing::info!(
        "listening on http://{}",
        listener.local_addr().map_err(StartError::Serve)?
    );
    let connection_limits = state.config.connection_limits();
    // Holds a handle of the service (and its batchers): stopped before they are awaited.
    let sweeper = tokio::spawn(sweep_sessions(state.service.clone()));
    // The router owns the state, and with it the batchers' handles: once it is dropped
    // the batchers drain and end (awaited below).
    let app = http::router(state);
    let closing_hub = hub.clone();
    listen::serve(listener, app, connection_limits, async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets");
        closing_hub.close_all(CloseReason::RESTARTING);
    })
    .await;
    sweeper.abort();
    let _ = sweeper.await;
    // Every handler (and with it every batcher handle) is gone: the batchers drain their
    // queues.
    let _ = messages_task.await;
    let _ = memberships_task.await;
    if let Some(metrics_server) = metrics_server {
        metrics_server.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Expires sessions every `--session-sweep-interval` (`Service::sweep_sessions`) until
/// aborted.
async fn sweep_sessions(service: Service) {
    let mut ticks = tokio::time::interval(service.sweep_interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match service.sweep_sessions().await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired sessions deleted"),
            Err(error) => tracing::warn!(%error, "sweeping sessions failed"),
        }
    }
}

/// `GET /metrics` on `--metrics-addr`, a listener of its own, and the exporter's upkeep.
struct MetricsServer {
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    upkeep: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// How often the exporter's histograms are drained between scrapes.
    const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

    async fn start(addr: std::net::SocketAddr, config: &Config) -> Result<Self, StartError> {
        let handle = metrics::install().map_err(StartError::Config)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        tracing::info!(
            "metrics at http://{}/metrics",
            listener.local_addr().map_err(StartError::Serve)?
        );
        let limits = listen::ConnectionLimits {
            // A scraper or two, and someone looking.
            max_connections: 16,
            ..config.connection_limits()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(listen::serve(
            listener,
            metrics::router(handle.clone()),
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Self::UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
        Ok(Self {
            stop,
            serving,
            upkeep,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.serving.await;
        self.upkeep.abort();
    }
}
