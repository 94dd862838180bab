//! Fan-out to users wherever their sockets are: this node's hub, and, with Redis, every
//! other node's. Each event is delivered locally at once and published once; other nodes
//! deliver what they receive to their own sockets and ignore their own events.
//!
//! An event is a small JSON header, then, for a frame, a newline and the frame exactly as
//! the sockets are sent it: the frame is neither escaped into the header nor parsed by the
//! nodes that receive it. A chat message's header names its room and `seq` but not its
//! recipients: each node sends it to the local sockets of those who may receive the room,
//! as its own room access knows them (kept current by the `roomChanged` events, which one
//! node publishes in the order it stores them).
//!
//! Redis pub/sub keeps nothing: an event published while a node is disconnected is lost
//! to it. Chat messages are not: after every (re)subscription the node asks each local
//! socket to catch up from storage by `seq` (the same gap filling a socket's write task
//! does for any jump in `seq`), so nothing is lost and, since sockets skip `seq`s they
//! were already sent, nothing is doubled.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use knock_protocol::{MemberStatus, RoomId, ServerMessage, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{
    access::RoomAccess,
    gateway::{ChatFrame, CloseReason, Hub, Outbound},
    storage::Membership,
};

/// The one channel every node publishes to and subscribes to.
const CHANNEL: &str = "knock:events";
/// Events waiting to be published before new ones are dropped (and recovered by `seq`).
const PUBLISH_QUEUE: usize = 65_536;
/// Tries per event before it is given up (about 30 seconds of Redis being away).
const PUBLISH_ATTEMPTS: u32 = 20;

#[derive(Clone)]
pub struct Fanout {
    hub: Arc<Hub>,
    bus: Option<Bus>,
}

#[derive(Clone)]
struct Bus {
    node: Arc<str>,
    outgoing: mpsc::Sender<Vec<u8>>,
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
    /// A stored membership change, for every node's room access.
    RoomChanged {
        room_id: RoomId,
        user_id: UserId,
        status: MemberStatus,
        is_admin: bool,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis: {0}")]
pub struct BusError(#[from] redis::RedisError);

impl Fanout {
    /// Fan-out within this process only.
    pub fn local(hub: Arc<Hub>) -> Self {
        Self { hub, bus: None }
    }

    /// Fan-out through Redis too; fails if Redis cannot be reached at start.
    pub(crate) async fn with_redis(
        hub: Arc<Hub>,
        access: RoomAccess,
        url: &str,
    ) -> Result<Self, BusError> {
        let client = redis::Client::open(url)?;
        let publisher = client.get_connection_manager().await?;
        let node: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(publisher, queue));
        tokio::spawn(subscribe_loop(client, node.clone(), hub.clone(), access));
        tracing::info!(%node, "fan-out through Redis");
        Ok(Self {
            hub,
            bus: Some(Bus { node, outgoing }),
        })
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
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

    /// Tells the other nodes of a stored membership change.
    pub(crate) fn room_changed(&self, room_id: &RoomId, user: &UserId, membership: Membership) {
        self.publish(
            || EventKind::RoomChanged {
                room_id: room_id.clone(),
                user_id: user.clone(),
                status: membership.status,
                is_admin: membership.is_admin,
            },
            None,
        );
    }

    /// Publishes the event `kind` builds, if there is a bus (single nodes build nothing).
    fn publish(&self, kind: impl FnOnce() -> EventKind, frame: Option<&str>) {
        let Some(bus) = &self.bus else {
            return;
        };
        let payload = encode_event(
            &Event {
                node: bus.node.to_string(),
                kind: kind(),
            },
            frame,
        );
        if bus.outgoing.try_send(payload).is_err() {
            tracing::warn!("publish queue full: an event is dropped (recovered by seq)");
        }
    }
}

/// The header, then (when there is one) a newline and the frame as it is. The header's
/// JSON has no raw newline in it (serde escapes newlines in strings), so the first newline
/// ends it.
fn encode_event(event: &Event, frame: Option<&str>) -> Vec<u8> {
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
    let needs_frame = matches!(event.kind, EventKind::Frame { .. } | EventKind::Chat { .. });
    match (needs_frame, frame.is_some()) {
        (true, false) => return Err("a frame event without its frame".into()),
        (false, true) => return Err("an event with a frame it does not take".into()),
        _ => {}
    }
    Ok((event, frame))
}

async fn publish_loop(
    mut redis: redis::aio::ConnectionManager,
    mut queue: mpsc::Receiver<Vec<u8>>,
) {
    while let Some(payload) = queue.recv().await {
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
                Ok(_) => break,
                Err(error) if attempt == PUBLISH_ATTEMPTS => {
                    tracing::error!(%error, "giving up on an event (recovered by seq)");
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "publishing to Redis failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

async fn subscribe_loop(client: redis::Client, node: Arc<str>, hub: Arc<Hub>, access: RoomAccess) {
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
                    deliver(&hub, &access, &node, message.get_payload_bytes()).await;
                }
                tracing::warn!("Redis subscription ended");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to Redis"),
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

async fn deliver(hub: &Hub, access: &RoomAccess, node: &str, payload: &[u8]) {
    let (event, frame) = match decode_event(payload) {
        Ok(decoded) => decoded,
        Err(error) => {
            tracing::warn!(%error, "ignoring an unreadable event");
            return;
        }
    };
    if event.node == node {
        return;
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
        } => access.apply(&room_id, &user_id, Membership { status, is_admin }),
    }
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
