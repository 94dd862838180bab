//! Fan-out to users wherever their sockets are: this node's hub, and, with Redis, every
//! other node's. Each event is delivered locally at once and published once; other nodes
//! deliver what they receive to their own sockets and ignore their own events.
//!
//! Redis pub/sub keeps nothing: an event published while a node is disconnected is lost
//! to it. Chat messages are not: after every (re)subscription the node asks each local
//! socket to catch up from storage by `seq` (the same gap filling the socket writer does
//! for any jump in `seq`), so nothing is lost and, since sockets skip `seq`s they were
//! already sent, nothing is doubled.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use knock_protocol::{MemberStatus, RoomId, ServerMessage, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{
    directory::RoomDirectory,
    hub::{ChatFrame, CloseReason, Hub, Outbound},
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
    outgoing: mpsc::Sender<String>,
}

/// What travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Event {
    node: String,
    #[serde(flatten)]
    kind: EventKind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum EventKind {
    /// A frame for every socket of these users.
    Frame { users: Vec<UserId>, frame: String },
    /// A stored chat message for these users (the room's approved members).
    Chat {
        users: Vec<UserId>,
        room_id: RoomId,
        seq: u64,
        frame: String,
    },
    /// A session was signed out: close its sockets.
    CloseSession { session: String },
    /// A stored membership change, for every node's room directory.
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
    pub async fn with_redis(
        hub: Arc<Hub>,
        directory: Arc<RoomDirectory>,
        url: &str,
    ) -> Result<Self, BusError> {
        let client = redis::Client::open(url)?;
        let publisher = client.get_connection_manager().await?;
        let node: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(publisher, queue));
        tokio::spawn(subscribe_loop(client, node.clone(), hub.clone(), directory));
        tracing::info!(%node, "fan-out through Redis");
        Ok(Self {
            hub,
            bus: Some(Bus { node, outgoing }),
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// `message` to every socket of every user in `users`, on every node.
    pub fn to_users(&self, users: &[UserId], message: &ServerMessage) {
        let frame = message.to_json();
        self.hub
            .send_to_users(users, &Outbound::Frame(frame.clone().into()));
        self.publish(EventKind::Frame {
            users: users.to_vec(),
            frame,
        });
    }

    pub fn to_user(&self, user: &UserId, message: &ServerMessage) {
        self.to_users(std::slice::from_ref(user), message);
    }

    /// A stored chat message to its recipients, on every node.
    pub fn chat(&self, users: &[UserId], chat: ChatFrame) {
        let event = self.bus.as_ref().map(|_| EventKind::Chat {
            users: users.to_vec(),
            room_id: chat.room_id.clone(),
            seq: chat.seq,
            frame: chat.frame.to_string(),
        });
        self.hub
            .send_to_users(users, &Outbound::Chat(Arc::new(chat)));
        if let Some(event) = event {
            self.publish(event);
        }
    }

    /// Closes the session's sockets on every node.
    pub fn close_session(&self, session: &str, reason: CloseReason) {
        self.hub.close_session(session, reason);
        self.publish(EventKind::CloseSession {
            session: session.to_owned(),
        });
    }

    /// Tells the other nodes of a stored membership change.
    pub fn room_changed(&self, room_id: &RoomId, user: &UserId, membership: Membership) {
        self.publish(EventKind::RoomChanged {
            room_id: room_id.clone(),
            user_id: user.clone(),
            status: membership.status,
            is_admin: membership.is_admin,
        });
    }

    fn publish(&self, kind: EventKind) {
        let Some(bus) = &self.bus else {
            return;
        };
        let event = Event {
            node: bus.node.to_string(),
            kind,
        };
        let payload = serde_json::to_string(&event).expect("events serialize");
        if bus.outgoing.try_send(payload).is_err() {
            tracing::warn!("publish queue full: an event is dropped (recovered by seq)");
        }
    }
}

async fn publish_loop(mut redis: redis::aio::ConnectionManager, mut queue: mpsc::Receiver<String>) {
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

async fn subscribe_loop(
    client: redis::Client,
    node: Arc<str>,
    hub: Arc<Hub>,
    directory: Arc<RoomDirectory>,
) {
    let mut pause = Duration::from_millis(200);
    loop {
        match subscribe(&client).await {
            Ok(pubsub) => {
                pause = Duration::from_millis(200);
                tracing::info!("subscribed to Redis; catching local sockets up from storage");
                // Whatever was published while this node was not listening is in storage.
                directory.clear();
                hub.resync_all();
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    deliver(&hub, &directory, &node, message.get_payload_bytes());
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

fn deliver(hub: &Hub, directory: &RoomDirectory, node: &str, payload: &[u8]) {
    let event: Event = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "ignoring an unreadable event");
            return;
        }
    };
    if event.node == node {
        return;
    }
    match event.kind {
        EventKind::Frame { users, frame } => {
            hub.send_to_users(&users, &Outbound::Frame(frame.into()));
        }
        EventKind::Chat {
            users,
            room_id,
            seq,
            frame,
        } => {
            let chat = ChatFrame {
                room_id,
                seq,
                frame: frame.into(),
            };
            hub.send_to_users(&users, &Outbound::Chat(Arc::new(chat)));
        }
        EventKind::CloseSession { session } => {
            hub.close_session(&session, CloseReason::SIGNED_OUT);
        }
        EventKind::RoomChanged {
            room_id,
            user_id,
            status,
            is_admin,
        } => directory.apply(&room_id, &user_id, Membership { status, is_admin }),
    }
}
