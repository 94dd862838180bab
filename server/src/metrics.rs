//! Prometheus metrics: every metric's name, type and meaning is stated here once, and the
//! rest of the server records through the small functions below (one line per call site).
//!
//! Off by default. With `--metrics-addr`, [`install`] puts in the exporter's recorder and
//! [`router`] answers `GET /metrics` on that address only (`lib.rs` serves it on a
//! listener of its own, never on the main address).
//!
//! # Cost on the hot paths
//!
//! Frames, deliveries and written frames happen per message per recipient. A `counter!`
//! call with an installed recorder hashes its name and labels and looks them up in the
//! recorder's registry every time; so every series is registered once, in [`install`], and
//! its handle kept in [`HANDLES`]. A call is then one atomic load of that `OnceLock` and
//! one relaxed atomic add on the handle: no hashing, no allocation, no lock. With metrics
//! off the `OnceLock` is empty and a call is that load and a branch. Labels come from
//! fixed sets (the protocol's action names, the [`Refusal`] kinds): never user input.
//!
//! The recorder is process-global by the `metrics` crate's design, so the handles are too
//! (the one exception to "no globals": threading them through every layer would put a
//! parameter on every function between the socket and the batcher for the same effect).

use std::sync::OnceLock;

use ::metrics::{
    Counter, Gauge, Histogram, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use axum::{Router, http::header, response::IntoResponse, routing::get};
use knock_protocol::ClientMessage;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Sockets open on this node (web sockets upgraded, authenticated or not).
pub const SOCKETS_OPEN: &str = "knock_sockets_open";
/// Sockets that authenticated and are in this node's hub.
pub const SOCKETS_AUTHENTICATED: &str = "knock_sockets_authenticated";
/// Distinct users with at least one authenticated socket on this node.
pub const USERS_CONNECTED: &str = "knock_users_connected";
/// Client frames read and handled, by `action` (the protocol's names; `unknown` for a
/// frame that names none, or is not JSON, or is binary).
pub const FRAMES_IN: &str = "knock_frames_in_total";
/// Text frames written to sockets (replies, events, chat messages live or from storage).
pub const FRAMES_OUT: &str = "knock_frames_out_total";
/// Frames queued by the hub for a socket (one per recipient socket).
pub const DELIVERIES: &str = "knock_deliveries_total";
/// Chat messages stored (retries of a stored message not counted again).
pub const MESSAGES_STORED: &str = "knock_messages_stored_total";
/// Sockets closed because their outgoing queue was full (close code 4429, too slow).
pub const QUEUE_FULL_DISCONNECTS: &str = "knock_queue_full_disconnects_total";
/// Requests and frames refused by a rate limit, by `kind` ([`Refusal`]).
pub const RATE_LIMIT_REFUSALS: &str = "knock_rate_limit_refusals_total";
/// Writes per storage batch, by `kind` (`messages`, `memberships`).
pub const STORAGE_BATCH_SIZE: &str = "knock_storage_batch_size";
/// Time to store one batch, by `kind` (`messages`, `memberships`).
pub const STORAGE_BATCH_DURATION: &str = "knock_storage_batch_duration_seconds";
/// Failed Redis operations, by `op`: `publish` (each failed attempt) or `subscribe` (a
/// subscription that could not be made or ended).
pub const REDIS_ERRORS: &str = "knock_redis_errors_total";
/// Events for other nodes that were dropped (publish queue full, or every attempt
/// failed); clients recover what they carried by `seq`.
pub const REDIS_EVENTS_DROPPED: &str = "knock_redis_events_dropped_total";
/// Password hashes and verifications waiting for or running on the blocking pool.
pub const PASSWORD_HASHES_IN_FLIGHT: &str = "knock_password_hashes_in_flight";
/// Password hashes refused because too many were in flight.
pub const PASSWORD_HASHES_REFUSED: &str = "knock_password_hashes_refused_total";

/// Batch sizes: powers of two up to the message batch's largest (1,024 leaves room).
const BATCH_SIZE_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1_024.0,
];
/// Batch durations in seconds: 100 µs (a small SQLite batch) to 5 s (a stuck database).
const DURATION_BUCKETS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

/// What a rate-limit refusal was for: the `kind` label of [`RATE_LIMIT_REFUSALS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A chat message over the user's message rate.
    Message,
    CreateRoom,
    /// A join request (knock) over the user's knock rate.
    Knock,
    /// History, member lists and room lists over the user's read rate.
    Read,
    /// Searches over the user's search rate.
    Search,
    /// A room preview (invite page) over the address's rate.
    Preview,
    /// A login refused because the account (at that address) failed too often.
    LoginAccount,
    /// A login refused because the address failed too often.
    LoginAddress,
    /// A registration over its rate.
    Register,
    /// A frame over the socket's frame rate (dropped with a `rate_limited` error).
    Frame,
    /// A socket closed for flooding (1008).
    FrameFlood,
    /// A socket refused because its user has too many open.
    SocketsPerUser,
    /// A socket refused because its address has too many waiting to authenticate.
    UnauthenticatedPerAddress,
    /// `typing` frames over the user's rate (past the per-room throttle, which drops
    /// silently).
    Typing,
}

impl Refusal {
    pub const ALL: [Self; 14] = [
        Self::Message,
        Self::CreateRoom,
        Self::Knock,
        Self::Read,
        Self::Search,
        Self::Preview,
        Self::LoginAccount,
        Self::LoginAddress,
        Self::Register,
        Self::Frame,
        Self::FrameFlood,
        Self::SocketsPerUser,
        Self::UnauthenticatedPerAddress,
        Self::Typing,
    ];

    /// A login refused for the account (at that address) or for the address.
    pub fn login(account: bool) -> Self {
        if account {
            Self::LoginAccount
        } else {
            Self::LoginAddress
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::CreateRoom => "create_room",
            Self::Knock => "knock",
            Self::Read => "read",
            Self::Search => "search",
            Self::Preview => "preview",
            Self::LoginAccount => "login_account",
            Self::LoginAddress => "login_address",
            Self::Register => "register",
            Self::Frame => "frame",
            Self::FrameFlood => "frame_flood",
            Self::SocketsPerUser => "sockets_per_user",
            Self::UnauthenticatedPerAddress => "unauthenticated_per_address",
            Self::Typing => "typing",
        }
    }
}

/// Which batcher a storage batch came from: the `kind` label of the batch histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    Messages,
    Memberships,
}

impl Batch {
    const ALL: [Self; 2] = [Self::Messages, Self::Memberships];

    fn label(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Memberships => "memberships",
        }
    }
}

/// The `op` label of [`REDIS_ERRORS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisOp {
    Publish,
    Subscribe,
}

/// The `action` label for a frame that names no known action.
pub const UNKNOWN_ACTION: &str = "unknown";
const ACTIONS: usize = ClientMessage::ACTIONS.len();

/// Every series, registered once when the recorder is installed.
struct Handles {
    sockets_open: Gauge,
    sockets_authenticated: Gauge,
    users_connected: Gauge,
    /// By the action's place in `ClientMessage::ACTIONS`; the last is `unknown`.
    frames_in: [Counter; ACTIONS + 1],
    frames_out: Counter,
    deliveries: Counter,
    messages_stored: Counter,
    queue_full_disconnects: Counter,
    refusals: [Counter; Refusal::ALL.len()],
    batch_size: [Histogram; Batch::ALL.len()],
    batch_duration: [Histogram; Batch::ALL.len()],
    redis_publish_errors: Counter,
    redis_subscribe_errors: Counter,
    redis_events_dropped: Counter,
    hashes_in_flight: Gauge,
    hashes_refused: Counter,
}

static HANDLES: OnceLock<Handles> = OnceLock::new();
static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process; later calls return the same
/// handle) and registers every series, so that each is exposed from the start, at 0.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = PROMETHEUS.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(STORAGE_BATCH_SIZE.into()),
            &BATCH_SIZE_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(STORAGE_BATCH_DURATION.into()),
                &DURATION_BUCKETS,
            )
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))?;
    describe();
    let _ = HANDLES.set(register());
    Ok(PROMETHEUS.get_or_init(|| handle).clone())
}

fn describe() {
    describe_gauge!(
        SOCKETS_OPEN,
        "Web sockets open on this node, authenticated or not."
    );
    describe_gauge!(
        SOCKETS_AUTHENTICATED,
        "Authenticated sockets in this node's hub."
    );
    describe_gauge!(
        USERS_CONNECTED,
        "Distinct users with an authenticated socket on this node."
    );
    describe_counter!(FRAMES_IN, "Client frames handled, by protocol action.");
    describe_counter!(FRAMES_OUT, "Text frames written to sockets.");
    describe_counter!(
        DELIVERIES,
        "Frames queued for a socket (one per recipient socket)."
    );
    describe_counter!(MESSAGES_STORED, "Chat messages stored.");
    describe_counter!(
        QUEUE_FULL_DISCONNECTS,
        "Sockets closed because their outgoing queue was full (4429)."
    );
    describe_counter!(
        RATE_LIMIT_REFUSALS,
        "Requests, frames and sockets refused by a rate limit, by kind."
    );
    describe_histogram!(STORAGE_BATCH_SIZE, "Writes per storage batch, by kind.");
    describe_histogram!(
        STORAGE_BATCH_DURATION,
        "Seconds to store one batch, by kind."
    );
    describe_counter!(
        REDIS_ERRORS,
        "Failed Redis publishes (each attempt) and subscriptions."
    );
    describe_counter!(
        REDIS_EVENTS_DROPPED,
        "Events for other nodes dropped (recovered by seq)."
    );
    describe_gauge!(
        PASSWORD_HASHES_IN_FLIGHT,
        "Password hashes and verifications queued or running."
    );
    describe_counter!(
        PASSWORD_HASHES_REFUSED,
        "Password hashes refused because too many were in flight."
    );
}

fn register() -> Handles {
    let batch =
        |name: &'static str| Batch::ALL.map(|kind| histogram!(name, "kind" => kind.label()));
    Handles {
        sockets_open: gauge!(SOCKETS_OPEN),
        sockets_authenticated: gauge!(SOCKETS_AUTHENTICATED),
        users_connected: gauge!(USERS_CONNECTED),
        frames_in: std::array::from_fn(|index| {
            let action = ClientMessage::ACTIONS
                .get(index)
                .copied()
                .unwrap_or(UNKNOWN_ACTION);
            counter!(FRAMES_IN, "action" => action)
        }),
        frames_out: counter!(FRAMES_OUT),
        deliveries: counter!(DELIVERIES),
        messages_stored: counter!(MESSAGES_STORED),
        queue_full_disconnects: counter!(QUEUE_FULL_DISCONNECTS),
        refusals: Refusal::ALL.map(|kind| counter!(RATE_LIMIT_REFUSALS, "kind" => kind.label())),
        batch_size: batch(STORAGE_BATCH_SIZE),
        batch_duration: batch(STORAGE_BATCH_DURATION),
        redis_publish_errors: counter!(REDIS_ERRORS, "op" => "publish"),
        redis_subscribe_errors: counter!(REDIS_ERRORS, "op" => "subscribe"),
        redis_events_dropped: counter!(REDIS_EVENTS_DROPPED),
        hashes_in_flight: gauge!(PASSWORD_HASHES_IN_FLIGHT),
        hashes_refused: counter!(PASSWORD_HASHES_REFUSED),
    }
}

/// `GET /metrics`: the exposition text, rendered by the exporter. Served on the metrics
/// address only.
pub(crate) fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    )
}

#[inline]
fn handles() -> Option<&'static Handles> {
    HANDLES.get()
}

/// Held while a web socket is open; the gauge goes down when it is dropped.
#[must_use = "the socket counts as open while this is held"]
pub struct OpenSocket(());

impl Drop for OpenSocket {
    fn drop(&mut self) {
        if let Some(handles) = handles() {
            handles.sockets_open.decrement(1.0);
        }
    }
}

/// A web socket was upgraded; it counts as open until the guard is dropped.
pub fn socket_opened() -> OpenSocket {
    if let Some(handles) = handles() {
        handles.sockets_open.increment(1.0);
    }
    OpenSocket(())
}

/// The hub now holds `sockets` authenticated sockets of `users` distinct users (set
/// under the hub's lock, so the gauges cannot drift).
pub fn authenticated(sockets: usize, users: usize) {
    if let Some(handles) = handles() {
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 sockets
        {
            handles.sockets_authenticated.set(sockets as f64);
            handles.users_connected.set(users as f64);
        }
    }
}

/// A client frame naming `action` (one of `ClientMessage::ACTIONS`, or anything else for
/// `unknown`) is handled.
pub fn frame_in(action: Option<&str>) {
    if let Some(handles) = handles() {
        let index = action
            .and_then(|action| {
                ClientMessage::ACTIONS
                    .iter()
                    .position(|known| *known == action)
            })
            .unwrap_or(ACTIONS);
        handles.frames_in[index].increment(1);
    }
}

/// A text frame was written (or handed to the socket's write half) for a client.
#[inline]
pub fn frame_out() {
    if let Some(handles) = handles() {
        handles.frames_out.increment(1);
    }
}

/// The hub queued `count` frames for sockets.
#[inline]
pub fn delivered(count: u64) {
    if let Some(handles) = handles()
        && count > 0
    {
        handles.deliveries.increment(count);
    }
}

/// `count` new chat messages were stored.
pub fn messages_stored(count: u64) {
    if let Some(handles) = handles() {
        handles.messages_stored.increment(count);
    }
}

/// A socket was closed because its outgoing queue was full.
pub fn queue_full_disconnect() {
    if let Some(handles) = handles() {
        handles.queue_full_disconnects.increment(1);
    }
}

/// Something was refused by a rate limit.
pub fn refused(kind: Refusal) {
    if let Some(handles) = handles() {
        // `ALL` lists the kinds in their declared order (tested below).
        handles.refusals[kind as usize].increment(1);
    }
}

/// A batch of `size` writes was stored (or failed) in `elapsed`.
pub fn storage_batch(kind: Batch, size: usize, elapsed: std::time::Duration) {
    if let Some(handles) = handles() {
        // `ALL` lists the kinds in their declared order (tested below).
        let index = kind as usize;
        #[allow(clippy::cast_precision_loss)] // batches are small
        handles.batch_size[index].record(size as f64);
        handles.batch_duration[index].record(elapsed.as_secs_f64());
    }
}

/// A Redis operation failed.
pub fn redis_error(op: RedisOp) {
    if let Some(handles) = handles() {
        match op {
            RedisOp::Publish => handles.redis_publish_errors.increment(1),
            RedisOp::Subscribe => handles.redis_subscribe_errors.increment(1),
        }
    }
}

/// An event for the other nodes was dropped.
pub fn redis_event_dropped() {
    if let Some(handles) = handles() {
        handles.redis_events_dropped.increment(1);
    }
}

/// Held while a password hash or verification is queued or running.
#[must_use = "the hash counts as in flight while this is held"]
pub struct Hashing(());

impl Drop for Hashing {
    fn drop(&mut self) {
        hashing_finished();
    }
}

/// A password hash or verification was queued; it counts as in flight until the guard is
/// dropped (which calls [`hashing_finished`]).
pub fn hashing_started() -> Hashing {
    if let Some(handles) = handles() {
        handles.hashes_in_flight.increment(1.0);
    }
    Hashing(())
}

/// A password hash or verification ended. Called by [`Hashing`]'s drop: call it directly
/// only for work not started with [`hashing_started`]'s guard.
pub fn hashing_finished() {
    if let Some(handles) = handles() {
        handles.hashes_in_flight.decrement(1.0);
    }
}

/// A password hash was refused because too many were in flight.
pub fn hashing_refused() {
    if let Some(handles) = handles() {
        handles.hashes_refused.increment(1);
    }
}

/// Runs `work` (a password hash or verification) counted as in flight while it runs.
pub async fn hashing<T>(work: impl Future<Output = T>) -> T {
    let _in_flight = hashing_started();
    work.await
}

#[cfg(test)]
mod tests {
    use super::{Batch, Refusal};

    #[test]
    fn kinds_index_their_handles_in_declared_order() {
        for (index, kind) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?}");
        }
        for (index, kind) in Batch::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?}");
        }
        let labels: std::collections::HashSet<_> = Refusal::ALL.map(Refusal::label).into();
        assert_eq!(labels.len(), Refusal::ALL.len(), "labels are distinct");
    }
}
