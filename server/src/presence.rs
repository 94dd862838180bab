//! Who is online: a user is while any socket of theirs is open on any node. Their rooms'
//! approved members see it in `roomMembers` (`online`) and are told of changes by
//! `presence` frames, at most one per room per tick ([`TICK`]), each carrying every change
//! of the room during the tick; a user who goes and comes back within a tick (a socket
//! replaced) is no change.
//!
//! # The model
//!
//! Each node's hub tells of its local transitions: a user's first socket here opened, or
//! their last closed. A single node (no Redis) takes them as they are. With Redis, which
//! holds the shared state (never a broker of Knock's own), a node records each in
//! `knock:presence:user:<userId>` (the set of nodes where the user has a socket) and
//! `knock:presence:node:<node>` (the node's users), with a script that, when the user's
//! set goes from empty to one node or back to empty (the *global* change), publishes the
//! change on the event bus in the same step, so that announcements are in the order of
//! the changes whichever nodes made them. Every node, the recording one included, takes
//! it from the bus into its [`Changes`] and, at its next tick, sends the frames to its
//! own sockets of the rooms' approved members.
//!
//! Each node renews its lease in `knock:presence:nodes` every [`HEARTBEAT`] (by Redis's
//! clock, so nodes' clocks need not agree); a node whose
//! lease ([`LEASE`]) ran out is swept by another, which takes its users out as their
//! sockets closing would: a crashed node's users stay online at most [`LEASE`] plus one
//! [`HEARTBEAT`] (20 s). At every heartbeat a node also sets what Redis says of its own
//! users right from its hub, so a change that could not be recorded while Redis was away
//! (or a node swept while cut off) is right again within a heartbeat of Redis coming back.
//! Announcements published while a node was not subscribed are lost to it: its sockets
//! see those changes only in their next `roomMembers`, which asks Redis.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use knock_protocol::{MemberStatus, RoomId, ServerMessage, UserId, limits};
use tokio::sync::mpsc;

use crate::{
    access::RoomAccess,
    fanout::{self, Fanout},
    gateway::{Hub, Outbound},
    storage::Storage,
};

/// How often each room's presence changes go out.
pub(crate) const TICK: Duration = Duration::from_millis(limits::PRESENCE_TICK_MS);
/// How often a node renews its lease and checks what Redis says of its users.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a node's users count as online without a renewal (a crashed node's).
const LEASE: Duration = Duration::from_secs(15);

const NODES_KEY: &str = "knock:presence:nodes";

fn user_key(user: &UserId) -> String {
    format!("knock:presence:user:{user}")
}

fn node_key(node: &str) -> String {
    format!("knock:presence:node:{node}")
}

/// Adds node `ARGV[1]` to the user's set and the user `ARGV[2]` to the node's; publishes
/// `ARGV[4]` on the channel `ARGV[3]` when the user was on no node before.
const ADD_SCRIPT: &str = r"
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0
";

/// The reverse: publishes when the user is now on no node.
const REMOVE_SCRIPT: &str = r"
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if removed == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0
";

// ---- coalescing (pure) ----------------------------------------------------------------

/// One room's `presence` frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RoomPresence {
    pub(crate) room_id: RoomId,
    pub(crate) online: Vec<UserId>,
    pub(crate) offline: Vec<UserId>,
}

/// The changes of each room since the last tick: per user, what they were before the
/// first change and what they are now. Changes are transitions, so the first one tells
/// what was before it.
#[derive(Default)]
pub(crate) struct Coalescer {
    rooms: HashMap<RoomId, HashMap<UserId, (bool, bool)>>,
}

impl Coalescer {
    pub(crate) fn record(&mut self, room_id: &RoomId, user: &UserId, online: bool) {
        let users = self.rooms.entry(room_id.clone()).or_default();
        users.entry(user.clone()).or_insert((!online, online)).1 = online;
    }

    /// The frames of the tick, one per room whose members' presence changed, users in
    /// order of their ids; empties the coalescer.
    pub(crate) fn flush(&mut self) -> Vec<RoomPresence> {
        let mut frames: Vec<RoomPresence> = std::mem::take(&mut self.rooms)
            .into_iter()
            .filter_map(|(room_id, users)| {
                let mut online = Vec::new();
                let mut offline = Vec::new();
                for (user, (before, now)) in users {
                    match (before, now) {
                        (false, true) => online.push(user),
                        (true, false) => offline.push(user),
                        _ => {}
                    }
                }
                if online.is_empty() && offline.is_empty() {
                    return None;
                }
                online.sort_unstable();
                offline.sort_unstable();
                Some(RoomPresence {
                    room_id,
                    online,
                    offline,
                })
            })
            .collect();
        frames.sort_unstable_by(|a, b| a.room_id.cmp(&b.room_id));
        frames
    }
}

/// This node's [`Coalescer`], shared by whoever hears of changes (the bus, or the hub on
/// a single node) and the tick that sends them.
#[derive(Clone, Default)]
pub(crate) struct Changes(Arc<Mutex<Coalescer>>);

impl Changes {
    /// The user came online (or went offline) for every node; `rooms` are those they are
    /// an approved member of.
    pub(crate) fn record(&self, user: &UserId, online: bool, rooms: &[RoomId]) {
        let mut coalescer = self.lock();
        for room_id in rooms {
            coalescer.record(room_id, user, online);
        }
    }

    fn flush(&self) -> Vec<RoomPresence> {
        self.lock().flush()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Coalescer> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

// ---- the service ----------------------------------------------------------------------

/// Who is online, for `roomMembers`; the tasks that keep it are started with it.
#[derive(Clone)]
pub struct Presence {
    hub: Arc<Hub>,
    registry: Option<Registry>,
}

/// What this node keeps in Redis.
#[derive(Clone)]
struct Registry {
    redis: redis::aio::ConnectionManager,
    node: Arc<str>,
    add: Arc<redis::Script>,
    remove: Arc<redis::Script>,
}

impl Presence {
    /// Starts watching the hub's sockets (with Redis when `fanout` has it) and sending
    /// each room's changes every tick. `changes` must be the ones the fan-out was given.
    pub(crate) fn start(
        fanout: &Fanout,
        access: RoomAccess,
        storage: Arc<dyn Storage>,
        changes: Changes,
    ) -> Self {
        let hub = fanout.hub().clone();
        let registry = fanout
            .redis()
            .zip(fanout.node())
            .map(|(redis, node)| Registry {
                redis,
                node,
                add: Arc::new(redis::Script::new(ADD_SCRIPT)),
                remove: Arc::new(redis::Script::new(REMOVE_SCRIPT)),
            });
        if let Some(transitions) = hub.watch_presence() {
            tokio::spawn(watch(
                hub.clone(),
                storage,
                registry.clone(),
                changes.clone(),
                transitions,
            ));
        }
        tokio::spawn(tick(hub.clone(), access, changes));
        Self { hub, registry }
    }

    /// Whether each user is online, in one lookup (one Redis round trip for them all).
    pub(crate) async fn online(&self, users: &[UserId]) -> Vec<bool> {
        let local = || -> Vec<bool> {
            users
                .iter()
                .map(|user| self.hub.sockets_of(user) > 0)
                .collect()
        };
        let Some(registry) = &self.registry else {
            return local();
        };
        if users.is_empty() {
            return Vec::new();
        }
        let mut pipe = redis::pipe();
        for user in users {
            pipe.exists(user_key(user));
        }
        match pipe
            .query_async::<Vec<bool>>(&mut registry.redis.clone())
            .await
        {
            Ok(online) => online,
            Err(error) => {
                // The member list still comes; this node's own sockets are what it knows.
                tracing::warn!(%error, "reading presence from Redis failed; answering locally");
                local()
            }
        }
    }
}

/// The rooms the user is an approved member of (whose members see their presence).
async fn approved_rooms(storage: &dyn Storage, user: &UserId) -> Vec<RoomId> {
    match storage.rooms_of_user(user).await {
        Ok(rooms) => rooms
            .into_iter()
            .filter(|room| room.status == MemberStatus::Approved)
            .map(|room| room.room_id)
            .collect(),
        Err(error) => {
            // Their rooms are not told this change; `roomMembers` still answers right.
            tracing::warn!(%error, %user, "reading a user's rooms for presence failed");
            Vec::new()
        }
    }
}

/// Takes the hub's transitions in order; with Redis, records them there (and renews the
/// lease, sets right what Redis says of this node's users, sweeps dead nodes).
async fn watch(
    hub: Arc<Hub>,
    storage: Arc<dyn Storage>,
    registry: Option<Registry>,
    changes: Changes,
    mut transitions: mpsc::UnboundedReceiver<(UserId, bool)>,
) {
    let Some(registry) = registry else {
        while let Some((user, online)) = transitions.recv().await {
            let rooms = approved_rooms(&*storage, &user).await;
            changes.record(&user, online, &rooms);
        }
        return;
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            transition = transitions.recv() => {
                let Some((user, online)) = transition else { return };
                // A failure is set right at the next heartbeat.
                if let Err(error) = registry.set(&*storage, &registry.node, &user, online).await {
                    tracing::warn!(%error, %user, "recording presence in Redis failed");
                }
            }
            _ = heartbeat.tick() => {
                if let Err(error) = registry.heartbeat(&hub, &*storage).await {
                    tracing::warn!(%error, "presence heartbeat failed");
                }
            }
        }
    }
}

impl Registry {
    /// Records that `user` has a socket on `node` (or no longer), announcing it when it
    /// is a change for every node.
    async fn set(
        &self,
        storage: &dyn Storage,
        node: &str,
        user: &UserId,
        online: bool,
    ) -> redis::RedisResult<()> {
        let rooms = approved_rooms(storage, user).await;
        let event = Fanout::presence_event(&self.node, user, online, rooms);
        let script = if online { &self.add } else { &self.remove };
        script
            .key(user_key(user))
            .key(node_key(node))
            .arg(node)
            .arg(user.as_str())
            .arg(fanout::CHANNEL)
            .arg(event)
            .invoke_async::<i64>(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, hub: &Hub, storage: &dyn Storage) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        // Redis's clock, not this node's: leases are compared across nodes.
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut redis).await?;
        let now = secs * 1_000 + micros / 1_000;
        let expires = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        redis::cmd("ZADD")
            .arg(NODES_KEY)
            .arg(expires)
            .arg(&*self.node)
            .query_async::<()>(&mut redis)
            .await?;
        // What Redis says of this node's users, set right from the hub.
        let recorded: HashSet<UserId> = redis::cmd("SMEMBERS")
            .arg(node_key(&self.node))
            .query_async::<Vec<String>>(&mut redis)
            .await?
            .into_iter()
            .map(UserId::new)
            .collect();
        let here: HashSet<UserId> = hub.online_users().into_iter().collect();
        for user in here.difference(&recorded) {
            self.set(storage, &self.node, user, true).await?;
        }
        for user in recorded.difference(&here) {
            self.set(storage, &self.node, user, false).await?;
        }
        // Nodes whose lease ran out: the one that takes a node out of the list sweeps it.
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(NODES_KEY)
            .arg("-inf")
            .arg(now)
            .query_async(&mut redis)
            .await?;
        for node in dead {
            let taken: i64 = redis::cmd("ZREM")
                .arg(NODES_KEY)
                .arg(&node)
                .query_async(&mut redis)
                .await?;
            if taken == 0 || *node == *self.node {
                continue;
            }
            let users: Vec<String> = redis::cmd("SMEMBERS")
                .arg(node_key(&node))
                .query_async(&mut redis)
                .await?;
            tracing::info!(%node, users = users.len(), "sweeping the presence of a node that stopped renewing its lease");
            for user in users {
                self.set(storage, &node, &UserId::new(user), false).await?;
            }
        }
        Ok(())
    }
}

/// Every tick, each room's changes to the room's approved members on this node.
async fn tick(hub: Arc<Hub>, access: RoomAccess, changes: Changes) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for RoomPresence {
            room_id,
            online,
            offline,
        } in changes.flush()
        {
            let room = match access.room(&room_id).await {
                Ok(Some(room)) => room,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, room = %room_id, "loading a room for presence failed");
                    continue;
                }
            };
            let frame = ServerMessage::Presence {
                room_id,
                online,
                offline,
            };
            hub.send_to_users(room.receivers(), &Outbound::message(&frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<UserId> {
        names.iter().map(|name| UserId::new(*name)).collect()
    }

    #[test]
    fn a_ticks_changes_make_one_frame_per_room() {
        let mut coalescer = Coalescer::default();
        let (general, random) = (RoomId::new("general"), RoomId::new("random"));
        for name in ["carol", "bob", "dave"] {
            coalescer.record(&general, &UserId::new(name), true);
        }
        coalescer.record(&general, &UserId::new("erin"), false);
        coalescer.record(&random, &UserId::new("bob"), true);
        assert_eq!(
            coalescer.flush(),
            [
                RoomPresence {
                    room_id: general,
                    online: users(&["bob", "carol", "dave"]),
                    offline: users(&["erin"]),
                },
                RoomPresence {
                    room_id: random,
                    online: users(&["bob"]),
                    offline: vec![],
                },
            ]
        );
        assert_eq!(coalescer.flush(), [], "a flush empties it");
    }

    #[test]
    fn going_and_coming_back_within_a_tick_is_no_change() {
        let mut coalescer = Coalescer::default();
        let room = RoomId::new("general");
        let bob = UserId::new("bob");
        coalescer.record(&room, &bob, false);
        coalescer.record(&room, &bob, true);
        let carol = UserId::new("carol");
        coalescer.record(&room, &carol, true);
        coalescer.record(&room, &carol, false);
        assert_eq!(coalescer.flush(), []);
        // Out, back and out again: out.
        coalescer.record(&room, &bob, false);
        coalescer.record(&room, &bob, true);
        coalescer.record(&room, &bob, false);
        assert_eq!(
            coalescer.flush(),
            [RoomPresence {
                room_id: room,
                online: vec![],
                offline: users(&["bob"]),
            }]
        );
    }

    #[test]
    fn a_thousand_arrivals_are_one_frame() {
        let changes = Changes::default();
        let rooms = [RoomId::new("big"), RoomId::new("small")];
        for i in 0..1_000 {
            changes.record(&UserId::new(format!("user{i:04}")), true, &rooms[..1]);
        }
        changes.record(&UserId::new("user0000"), true, &rooms[1..]);
        let frames = changes.flush();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].online.len(), 1_000);
        assert_eq!(frames[1].online, users(&["user0000"]));
    }
}
