//! Fan-out to users wherever their sockets are: this node's hub, and, with Redis, every
//! other node's. Each event is delivered locally at once and published once; other nodes
//! deliver what they receive to their own sockets and ignore their own events.
//!
//! An event is a small JSON header, then, for a frame, a newline and the frame exactly as
//! the sockets are sent it: the frame is neither escaped into the header nor parsed by the
//! nodes that receive it. A chat message's header names its room and `seq` but not its
//! recipients: each node sends it to the local sockets of those who may receive the room,
//! as its own room access knows them (kept current by the `roomChanged` events; since two
//! nodes' events about one membership may arrive in either order, a node keeps what
//! storage holds when an event arrives, not the event's word: `RoomAccess::apply_announced`).
//!
//! Taking access back (a removal, a ban, a deleted room) must hold on every node from the
//! moment the action is answered. Such a change is published as a *barrier*: every
//! subscribed node, the publisher's own included, applies it and then publishes an
//! `applied` event addressed to the publisher, which waits for as many as Redis said
//! received the change (at most [`BARRIER_TIMEOUT`]). Since each node handles events in
//! the order Redis delivers them, a node that has confirmed can no longer deliver to the
//! user anything it hears of later.
//!
//! Presence (who has a socket open on any node) is kept in Redis and announced on the same
//! channel by the Redis script that records it, so that announcements are in the order of
//! the changes; see `presence.rs`.
//!
//! Redis pub/sub keeps nothing: an event published while a node is disconnected is lost
//! to it. Chat messages are not: after every (re)subscription the node asks each local
//! socket to catch up from storage by `seq` (the same gap filling a socket's write task
//! does for any jump in `seq`), so nothing is lost and, since sockets skip `seq`s they
//! were already sent, nothing is doubled.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use knock_protocol::{MemberStatus, RoomId, ServerMessage, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::{
    access::RoomAccess,
    config::redact_url,
    directory::RoomEntry,
    gateway::{ChatFrame, CloseReason, Hub, Outbound},
    metrics::{self, RedisOp},
    presence,
    storage::Membership,
};

/// The one channel every node publishes to and subscribes to.
pub(crate) const CHANNEL: &str = "knock:events";
/// Events waiting to be published before new ones are dropped (and recovered by `seq`).
const PUBLISH_QUEUE: usize = 65_536;
/// Tries per event before it is given up (about 30 seconds of Redis being away).
const PUBLISH_ATTEMPTS: u32 = 20;
/// Longest wait for the nodes to confirm a barrier. A node that has not confirmed by then
/// is stalled or cut off from Redis; it forgets every room when it subscribes again.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Fanout {
    hub: Arc<Hub>,
    bus: Option<Bus>,
}

#[derive(Clone)]
struct Bus {
    node: Arc<str>,
    outgoing: mpsc::Sender<Publish>,
    barriers: Barriers,
    /// The publisher's connection, multiplexed: shared with what else the nodes keep in
    /// Redis (the login counters, presence).
    connection: redis::aio::ConnectionManager,
    /// Where announced presence changes go, to be sent out at the next tick.
    presence: presence::Changes,
}

/// One event to publish; `receivers` learns how many subscribers Redis delivered it to.
struct Publish {
    payload: Vec<u8>,
    receivers: Option<oneshot::Sender<i64>>,
}

/// The barriers this node waits on: each gets one `()` per node that confirmed it.
#[derive(Clone, Default)]
struct Barriers {
    next: Arc<AtomicU64>,
    waiting: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<()>>>>,
}

impl Barriers {
    fn open(&self) -> (u64, mpsc::UnboundedReceiver<()>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (confirm, confirmations) = mpsc::unbounded_channel();
        self.lock().insert(id, confirm);
        (id, confirmations)
    }

    fn confirm(&self, id: u64) {
        if let Some(waiter) = self.lock().get(&id) {
            let _ = waiter.send(());
        }
    }

    fn close(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<()>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The header of what travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Event {
    node: String,
    #[serde(flatten)]
    kind: EventKind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum EventKind {
    /// The frame that follows, for every socket of these users.
    Frame { users: Vec<UserId> },
    /// The frame that follows is this stored chat message, for those who may receive the
    /// members.
    Chat { room_id: RoomId, seq: u64 },
    /// A session was signed out: close its sockets.
    CloseSession { session: String },
    /// A stored membership change, for every node's room access; with a barrier, each
    /// node confirms it has applied it.
    RoomChanged {
        room_id: RoomId,
        user_id: UserId,
        status: MemberStatus,
        is_admin: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        barrier: Option<u64>,
    },
    /// A deleted room, for every node's room access; always a barrier.
    RoomDeleted { room_id: RoomId, barrier: u64 },
    /// A node has applied the barrier `barrier` that node `to` published.
    Applied { to: String, barrier: u64 },
    /// The frame that follows, for those who may receive the room but `except` (a hint
    /// such as `typing`: not stored, not caught up).
    RoomFrame {
        room_id: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<UserId>,
    },
    /// The user's first socket on any node opened (`online`), or their last closed, and
    /// the rooms they were an approved member of. Published by the Redis script that
    /// recorded the change (`presence.rs`), so every node, the recording one included,
    /// takes it from the channel.
    Presence {
        user_id: UserId,
        online: bool,
        rooms: Vec<RoomId>,
    },
}

/// Why fan-out through Redis could not start. Each names Redis by its URL without the
/// password (nor the user name): the errors are printed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to Redis at {url}: {source}")]
    Connect {
        url: String,
        source: redis::RedisError,
    },
    #[error("cannot read the Redis CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--redis-url {url}: {problem}")]
    Url { url: String, problem: &'static str },
}

impl Fanout {
    /// Fan-out within this process only.
    pub fn local(hub: Arc<Hub>) -> Self {
        Self { hub, bus: None }
    }

    /// Fan-out through Redis too; fails if Redis cannot be reached at start, or refuses
    /// this node's password or certificate check.
    pub(crate) async fn with_redis(
        hub: Arc<Hub>,
        access: RoomAccess,
        presence: presence::Changes,
        url: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, BusError> {
        let client = redis_client(url, ca_file)?;
        let connect_error = |source| BusError::Connect {
            url: redact_url(url),
            source,
        };
        let mut publisher = client
            .get_connection_manager()
            .await
            .map_err(connect_error)?;
        // Without a password, a Redis that requires one accepts the connection and refuses
        // every command: ask once, so that this node stops here rather than run cut off.
        redis::cmd("PING")
            .query_async::<()>(&mut publisher)
            .await
            .map_err(connect_error)?;
        let node: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        let bus = Bus {
            node,
            outgoing,
            barriers: Barriers::default(),
            connection: publisher.clone(),
            presence,
        };
        tokio::spawn(publish_loop(publisher, queue));
        tokio::spawn(subscribe_loop(client, bus.clone(), hub.clone(), access));
        tracing::info!(node = %bus.node, "fan-out through Redis");
        Ok(Self {
            hub,
            bus: Some(bus),
        })
    }

    /// The Redis connection, when nodes share one.
    pub(crate) fn redis(&self) -> Option<redis::aio::ConnectionManager> {
        self.bus.as_ref().map(|bus| bus.connection.clone())
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// This node's id on the bus, when nodes share one.
    pub(crate) fn node(&self) -> Option<Arc<str>> {
        self.bus.as_ref().map(|bus| bus.node.clone())
    }

    /// The event announcing a presence change, as the Redis script publishes it.
    pub(crate) fn presence_event(
        node: &str,
        user_id: &UserId,
        online: bool,
        rooms: Vec<RoomId>,
    ) -> Vec<u8> {
        encode_event(
            &EventRef {
                node,
                kind: &EventKind::Presence {
                    user_id: user_id.clone(),
                    online,
                    rooms,
                },
            },
            None,
        )
    }

    /// `message` to every socket of those who may receive the room but `except`'s, on
    /// every node: each node addresses it to the room's receivers it knows.
    pub(crate) fn to_room(
        &self,
        room: &RoomEntry,
        except: Option<&UserId>,
        message: &ServerMessage,
    ) {
        let frame = message.to_json();
        self.publish(
            || EventKind::RoomFrame {
                room_id: room.room_id.clone(),
                except: except.cloned(),
            },
            Some(&frame),
        );
        let receivers = room.receivers().iter().filter(|user| Some(*user) != except);
        self.hub
            .send_to_users(receivers, &Outbound::Frame(frame.into()));
    }

    /// `message` to every socket of every user in `users`, on every node.
    pub(crate) fn to_users(&self, users: &[UserId], message: &ServerMessage) {
        let frame = message.to_json();
        self.publish(
            || EventKind::Frame {
                users: users.to_vec(),
            },
            Some(&frame),
        );
        self.hub
            .send_to_users(users, &Outbound::Frame(frame.into()));
    }

    pub(crate) fn to_user(&self, user: &UserId, message: &ServerMessage) {
        self.to_users(std::slice::from_ref(user), message);
    }

    /// A stored chat message to its recipients, on every node.
    pub(crate) fn chat(&self, users: &[UserId], chat: ChatFrame) {
        let chat = Arc::new(chat);
        self.hub.send_to_users(users, &Outbound::Chat(chat.clone()));
        self.publish(
            || EventKind::Chat {
                room_id: chat.room_id.clone(),
                seq: chat.seq,
            },
            Some(chat.frame.as_str()),
        );
    }

    /// Closes the session's sockets on every node.
    pub(crate) fn close_session(&self, session: &str, reason: CloseReason) {
        self.hub.close_session(session, reason);
        self.publish(
            || EventKind::CloseSession {
                session: session.to_owned(),
            },
            None,
        );
    }

    /// Tells the other nodes of a stored membership change. With `barrier`, returns once
    /// every node has applied it (see the module docs).
    pub(crate) async fn room_changed(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: Membership,
        barrier: bool,
    ) {
        let Some(bus) = &self.bus else {
            return;
        };
        let kind = |barrier| EventKind::RoomChanged {
            room_id: room_id.clone(),
            user_id: user.clone(),
            status: membership.status,
            is_admin: membership.is_admin,
            barrier,
        };
        if barrier {
            bus.barrier(kind).await;
        } else {
            bus.publish(&kind(None), None, None);
        }
    }

    /// Tells the other nodes that a room was deleted; returns once every node has
    /// forgotten it.
    pub(crate) async fn room_deleted(&self, room_id: &RoomId) {
        if let Some(bus) = &self.bus {
            bus.barrier(|barrier| EventKind::RoomDeleted {
                room_id: room_id.clone(),
                barrier: barrier.unwrap_or_default(),
            })
            .await;
        }
    }

    /// Publishes the event `kind` builds, if there is a bus (single nodes build nothing).
    fn publish(&self, kind: impl FnOnce() -> EventKind, frame: Option<&str>) {
        if let Some(bus) = &self.bus {
            bus.publish(&kind(), frame, None);
        }
    }
}

impl Bus {
    fn publish(
        &self,
        kind: &EventKind,
        frame: Option<&str>,
        receivers: Option<oneshot::Sender<i64>>,
    ) {
        let payload = encode_event(
            &EventRef {
                node: &self.node,
                kind,
            },
            frame,
        );
        if self
            .outgoing
            .try_send(Publish { payload, receivers })
            .is_err()
        {
            tracing::warn!("publish queue full: an event is dropped (recovered by seq)");
            metrics::redis_event_dropped();
        }
    }

    /// Publishes the event `kind` builds with a new barrier id, and waits until as many
    /// nodes as received it have confirmed it, or [`BARRIER_TIMEOUT`].
    async fn barrier(&self, kind: impl FnOnce(Option<u64>) -> EventKind) {
        let (id, mut confirmations) = self.barriers.open();
        let (receivers, count) = oneshot::channel();
        self.publish(&kind(Some(id)), None, Some(receivers));
        let waited = tokio::time::timeout(BARRIER_TIMEOUT, async {
            let expected = count.await.unwrap_or(0);
            for _ in 0..expected {
                if confirmations.recv().await.is_none() {
                    break;
                }
            }
        })
        .await;
        self.barriers.close(id);
        if waited.is_err() {
            tracing::warn!(barrier = id, "not every node confirmed a change in time");
        }
    }
}

/// An [`Event`] to encode, borrowing what it names.
#[derive(Serialize)]
struct EventRef<'a> {
    node: &'a str,
    #[serde(flatten)]
    kind: &'a EventKind,
}

/// The header, then (when there is one) a newline and the frame as it is. The header's
/// JSON has no raw newline in it (serde escapes newlines in strings), so the first newline
/// ends it.
fn encode_event(event: &impl Serialize, frame: Option<&str>) -> Vec<u8> {
    let mut payload = serde_json::to_vec(event).expect("events serialize");
    if let Some(frame) = frame {
        payload.reserve(frame.len() + 1);
        payload.push(b'\n');
        payload.extend_from_slice(frame.as_bytes());
    }
    payload
}

/// The header and the frame of a received event.
fn decode_event(payload: &[u8]) -> Result<(Event, Option<&str>), String> {
    let (header, frame) = match payload.iter().position(|byte| *byte == b'\n') {
        Some(newline) => (&payload[..newline], Some(&payload[newline + 1..])),
        None => (payload, None),
    };
    let event: Event = serde_json::from_slice(header).map_err(|error| error.to_string())?;
    let frame = frame
        .map(std::str::from_utf8)
        .transpose()
        .map_err(|error| format!("frame is not UTF-8: {error}"))?;
    let needs_frame = matches!(
        event.kind,
        EventKind::Frame { .. } | EventKind::Chat { .. } | EventKind::RoomFrame { .. }
    );
    match (needs_frame, frame.is_some()) {
        (true, false) => return Err("a frame event without its frame".into()),
        (false, true) => return Err("an event with a frame it does not take".into()),
        _ => {}
    }
    Ok((event, frame))
}

async fn publish_loop(
    mut redis: redis::aio::ConnectionManager,
    mut queue: mpsc::Receiver<Publish>,
) {
    while let Some(Publish { payload, receivers }) = queue.recv().await {
        // Retrying in place keeps events in order; while Redis is away the queue grows up
        // to its bound, then new events are dropped (and recovered by seq).
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(&payload)
                .query_async(&mut redis)
                .await;
            match published {
                Ok(count) => {
                    if let Some(receivers) = receivers {
                        let _ = receivers.send(count);
                    }
                    break;
                }
                Err(error) if attempt == PUBLISH_ATTEMPTS => {
                    tracing::error!(%error, "giving up on an event (recovered by seq)");
                    metrics::redis_error(RedisOp::Publish);
                    metrics::redis_event_dropped();
                }
                Err(error) => {
                    metrics::redis_error(RedisOp::Publish);
                    tracing::warn!(%error, attempt, "publishing to Redis failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// The client for `url`: `redis://` in the clear, `rediss://` (or `valkeys://`) over TLS,
/// the server's certificate checked against the system's CAs or those in `ca_file`.
fn redis_client(url: &str, ca_file: Option<&Path>) -> Result<redis::Client, BusError> {
    let url_problem = |problem| BusError::Url {
        url: redact_url(url),
        problem,
    };
    let tls = url.starts_with("rediss://") || url.starts_with("valkeys://");
    // redis-rs turns off every certificate check for `#insecure`, and only when built
    // with `tls-rustls-insecure`, which Knock is not: say what to do instead.
    if tls && url.ends_with("#insecure") {
        return Err(url_problem(
            "#insecure (no certificate check) is not supported; give the CA that signed \
             the Redis server's certificate with --redis-ca-file",
        ));
    }
    let connect_error = |source| BusError::Connect {
        url: redact_url(url),
        source,
    };
    match ca_file {
        None => redis::Client::open(url).map_err(connect_error),
        Some(_) if !tls => Err(url_problem(
            "--redis-ca-file is for TLS; use a rediss:// URL",
        )),
        Some(path) => {
            let root_cert = std::fs::read(path).map_err(|source| BusError::CaFile {
                path: path.to_owned(),
                source,
            })?;
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
            .map_err(connect_error)
        }
    }
}

async fn subscribe_loop(client: redis::Client, bus: Bus, hub: Arc<Hub>, access: RoomAccess) {
    let mut pause = Duration::from_millis(200);
    loop {
        match subscribe(&client).await {
            Ok(pubsub) => {
                pause = Duration::from_millis(200);
                tracing::info!("subscribed to Redis; catching local sockets up from storage");
                // Whatever was published while this node was not listening is in storage.
                access.forget_all();
                hub.resync_all();
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    deliver(&hub, &access, &bus, message.get_payload_bytes()).await;
                }
                tracing::warn!("Redis subscription ended");
                metrics::redis_error(RedisOp::Subscribe);
            }
            Err(error) => {
                tracing::warn!(%error, "cannot subscribe to Redis");
                metrics::redis_error(RedisOp::Subscribe);
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    Ok(pubsub)
}

async fn deliver(hub: &Hub, access: &RoomAccess, bus: &Bus, payload: &[u8]) {
    let (event, frame) = match decode_event(payload) {
        Ok(decoded) => decoded,
        Err(error) => {
            tracing::warn!(%error, "ignoring an unreadable event");
            return;
        }
    };
    let own = event.node == *bus.node;
    // A barrier is confirmed by every node, this one included (Redis counted it), once
    // it has applied it; the publisher applied its own before publishing.
    let confirm = |barrier| {
        bus.publish(
            &EventKind::Applied {
                to: event.node.clone(),
                barrier,
            },
            None,
            None,
        );
    };
    match event.kind {
        EventKind::Applied { ref to, barrier } => {
            if **to == *bus.node {
                bus.barriers.confirm(barrier);
            }
            return;
        }
        EventKind::Presence {
            ref user_id,
            online,
            ref rooms,
        } => {
            bus.presence.record(user_id, online, rooms);
            return;
        }
        EventKind::RoomChanged {
            barrier: Some(barrier),
            ..
        }
        | EventKind::RoomDeleted { barrier, .. }
            if own =>
        {
            confirm(barrier);
            return;
        }
        _ if own => return,
        _ => {}
    }
    let frame = frame.unwrap_or_default();
    match event.kind {
        EventKind::Frame { users } => {
            hub.send_to_users(&users, &Outbound::Frame(frame.into()));
        }
        EventKind::Chat { room_id, seq } => {
            let room = match access.room(&room_id).await {
                Ok(Some(room)) => room,
                Ok(None) => return,
                Err(error) => {
                    // Not delivered live; local sockets find it by `seq` on their next
                    // message or resume.
                    tracing::error!(%error, room = %room_id, "loading recipients failed");
                    return;
                }
            };
            let chat = ChatFrame {
                room_id,
                seq,
                frame: frame.into(),
            };
            hub.send_to_users(room.receivers(), &Outbound::Chat(Arc::new(chat)));
        }
        EventKind::CloseSession { session } => {
            hub.close_session(&session, CloseReason::SIGNED_OUT);
        }
        EventKind::RoomChanged {
            room_id,
            user_id,
            status,
            is_admin,
            barrier,
        } => {
            let announced = Membership { status, is_admin };
            if let Err(error) = access.apply_announced(&room_id, &user_id, announced).await {
                // Not known for sure: the room is read again on its next use.
                tracing::error!(%error, room = %room_id, "reading an announced change failed");
                access.forget_room(&room_id);
            }
            if let Some(barrier) = barrier {
                confirm(barrier);
            }
        }
        EventKind::RoomDeleted { room_id, barrier } => {
            access.forget_room(&room_id);
            confirm(barrier);
        }
        EventKind::RoomFrame { room_id, except } => {
            deliver_to_room(hub, access, &room_id, except.as_ref(), frame).await;
        }
        EventKind::Applied { .. } | EventKind::Presence { .. } => {}
    }
}

/// A hint (`typing`) to this node's sockets of those who may receive the room but `except`.
async fn deliver_to_room(
    hub: &Hub,
    access: &RoomAccess,
    room_id: &RoomId,
    except: Option<&UserId>,
    frame: &str,
) {
    let room = match access.room(room_id).await {
        Ok(Some(room)) => room,
        Ok(None) => return,
        Err(error) => {
            // Not stored: lost to this node's sockets.
            tracing::warn!(%error, room = %room_id, "loading recipients failed");
            return;
        }
    };
    let receivers = room.receivers().iter().filter(|user| Some(*user) != except);
    hub.send_to_users(receivers, &Outbound::Frame(frame.into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_event() -> Event {
        Event {
            node: "node-a".into(),
            kind: EventKind::Chat {
                room_id: RoomId::new("room-1"),
                seq: 7,
            },
        }
    }

    #[test]
    fn a_frame_travels_byte_for_byte_after_the_header() {
        // Newlines, quotes and backslashes in the frame must not end or break the header.
        let frame = "{\"action\":\"message\",\"message\":\"two\\nlines \\\"quoted\\\" \\\\ é\"}\n";
        let payload = encode_event(&chat_event(), Some(frame));
        assert!(
            payload.ends_with(frame.as_bytes()),
            "the frame is not re-encoded"
        );
        let (event, decoded) = decode_event(&payload).unwrap();
        assert_eq!(decoded, Some(frame));
        assert_eq!(event.node, "node-a");
        assert!(matches!(
            event.kind,
            EventKind::Chat { room_id, seq: 7 } if room_id == RoomId::new("room-1")
        ));
    }

    #[test]
    fn events_without_a_frame_are_the_header_alone() {
        let event = Event {
            node: "node-b".into(),
            kind: EventKind::CloseSession {
                session: "line\nbreak".into(),
            },
        };
        let payload = encode_event(&event, None);
        let (event, frame) = decode_event(&payload).unwrap();
        assert_eq!(frame, None);
        assert!(
            matches!(event.kind, EventKind::CloseSession { session } if session == "line\nbreak")
        );
    }

    #[test]
    fn unreadable_events_are_refused_with_a_reason() {
        let chat_without_frame = encode_event(&chat_event(), None);
        assert!(
            decode_event(&chat_without_frame)
                .unwrap_err()
                .contains("without its frame")
        );
        let mut not_utf8 = encode_event(&chat_event(), Some("x"));
        *not_utf8.last_mut().unwrap() = 0xff;
        assert!(decode_event(&not_utf8).unwrap_err().contains("UTF-8"));
        assert!(decode_event(b"{\"node\":\"a\",\"kind\":\"nonsense\"}").is_err());
        let close = Event {
            node: "a".into(),
            kind: EventKind::CloseSession {
                session: "s".into(),
            },
        };
        assert!(
            decode_event(&encode_event(&close, Some("frame")))
                .unwrap_err()
                .contains("does not take")
        );
    }
}
