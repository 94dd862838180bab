//! In-process fan-out: every open socket has a bounded queue, indexed by its user.
//!
//! Frames are serialized once and shared (`Utf8Bytes` is reference counted), so a message
//! to a thousand sockets costs a thousand queue pushes, not a thousand encodings. The
//! hub's write threads then write the queued frames to the sockets (see
//! [`super::mailbox`]).
//! A socket whose queue is full is closed rather than allowed to grow memory or delay
//! the others; its client resumes from the last `seq` it saw.

use std::{
    collections::HashMap,
    sync::{
        OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use knock_protocol::UserId;
use tokio::sync::mpsc;

use super::{
    frames::{CloseReason, ConnId, Outbound},
    mailbox::{self, SendError, Sender, WriteJob},
    socket_task::{SocketCloseSignal, SocketQueue, SocketSink},
    write_threads::SocketWriteThreads,
};
use crate::metrics;

/// Frames waiting for one socket.
pub(crate) const QUEUE_CAPACITY: usize = 512;
/// Bytes of frames waiting for one socket: room for many of the largest history pages
/// (100 messages of 4,000 characters, each up to six bytes escaped: 2.4 MB), a bound on
/// what a client that reads nothing can make the server hold.
pub(crate) const QUEUE_BYTES: usize = 16 << 20;

struct Connection {
    user_id: UserId,
    session: String,
    mailbox: Sender<SocketSink>,
}

impl Connection {
    fn close(&self, reason: CloseReason) {
        self.mailbox.close(reason);
    }
}

/// What a socket gets when it joins the hub.
pub struct Registration {
    pub id: ConnId,
    pub queue: SocketQueue,
    /// Fires when the server wants the socket closed (or dropped it from the hub).
    pub(crate) close: SocketCloseSignal,
}

/// Every recipient of every message is looked up here; foldhash is fast and randomly
/// seeded (user ids are chosen by users).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Index {
    connections: FastMap<ConnId, Connection>,
    by_user: FastMap<UserId, Vec<ConnId>>,
}

pub struct Hub {
    next_id: AtomicU64,
    index: RwLock<Index>,
    write_threads: SocketWriteThreads<SocketSink>,
    /// Told of each user whose first socket here opened (`true`) or last closed (`false`),
    /// in the order it happened (sent under the index's lock): presence (`presence.rs`).
    presence: OnceLock<mpsc::UnboundedSender<(UserId, bool)>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with one write thread per core.
    pub fn new() -> Self {
        Self {
            next_id: AtomicU64::default(),
            index: RwLock::default(),
            write_threads: SocketWriteThreads::for_this_machine(),
            presence: OnceLock::new(),
        }
    }

    /// From now on, each user whose first socket on this node opens, or whose last one
    /// closes, in order. Only one watcher: a second call gets `None`.
    pub(crate) fn watch_presence(&self) -> Option<mpsc::UnboundedReceiver<(UserId, bool)>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.presence.set(sender).ok().map(|()| receiver)
    }

    fn presence_changed(&self, user: &UserId, online: bool) {
        if let Some(watcher) = self.presence.get() {
            let _ = watcher.send((user.clone(), online));
        }
    }

    /// The users with a socket open on this node.
    pub(crate) fn online_users(&self) -> Vec<UserId> {
        self.read().by_user.keys().cloned().collect()
    }

    /// Adds an authenticated socket of `user_id`, signed in with the session whose token
    /// hashes to `session`.
    pub fn register(&self, user_id: &UserId, session: &str) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (sender, queue, close) = mailbox::mailbox(QUEUE_CAPACITY, QUEUE_BYTES);
        let mut index = self.write();
        index.connections.insert(
            id,
            Connection {
                user_id: user_id.clone(),
                session: session.to_owned(),
                mailbox: sender,
            },
        );
        let sockets = index.by_user.entry(user_id.clone()).or_default();
        sockets.push(id);
        if sockets.len() == 1 {
            self.presence_changed(user_id, true);
        }
        metrics::authenticated(index.connections.len(), index.by_user.len());
        Registration { id, queue, close }
    }

    pub(crate) fn unregister(&self, id: ConnId) {
        let mut index = self.write();
        if let Some(connection) = index.connections.remove(&id)
            && let Some(ids) = index.by_user.get_mut(&connection.user_id)
        {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                index.by_user.remove(&connection.user_id);
                self.presence_changed(&connection.user_id, false);
            }
            metrics::authenticated(index.connections.len(), index.by_user.len());
        }
    }

    /// Queues `item` for one socket.
    pub(crate) fn send(&self, id: ConnId, item: Outbound) {
        let mut jobs = Vec::new();
        let mut delivered = 0;
        let too_slow = {
            let index = self.read();
            index
                .connections
                .get(&id)
                .is_some_and(|connection| !enqueue(connection, item, &mut jobs, &mut delivered))
        };
        metrics::delivered(delivered);
        self.write_threads.submit(jobs);
        if too_slow {
            self.drop_slow(&[id]);
        }
    }

    /// Queues `item` for every open socket of every user in `users`.
    pub(crate) fn send_to_users<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId>,
        item: &Outbound,
    ) {
        let mut too_slow = Vec::new();
        let mut jobs = Vec::new();
        // Counted here and added once: one atomic add per fan-out, not per recipient.
        let mut delivered = 0;
        {
            let index = self.read();
            for user in users {
                for id in index.by_user.get(user).into_iter().flatten() {
                    if let Some(connection) = index.connections.get(id)
                        && !enqueue(connection, item.clone(), &mut jobs, &mut delivered)
                    {
                        too_slow.push(*id);
                    }
                }
            }
        }
        metrics::delivered(delivered);
        self.write_threads.submit(jobs);
        if !too_slow.is_empty() {
            self.drop_slow(&too_slow);
        }
    }

    /// Closes every socket opened with this session (after logout).
    pub(crate) fn close_session(&self, session: &str, reason: CloseReason) {
        let index = self.read();
        for connection in index.connections.values() {
            if connection.session == session {
                connection.close(reason);
            }
        }
    }

    /// The sessions (token hashes) that have a socket here, each once.
    pub(crate) fn open_sessions(&self) -> Vec<String> {
        let mut sessions: Vec<String> = self
            .read()
            .connections
            .values()
            .map(|connection| connection.session.clone())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    pub(crate) fn close(&self, id: ConnId, reason: CloseReason) {
        if let Some(connection) = self.read().connections.get(&id) {
            connection.close(reason);
        }
    }

    /// Asks every socket to catch up from storage.
    pub(crate) fn resync_all(&self) {
        let ids: Vec<ConnId> = self.read().connections.keys().copied().collect();
        for id in ids {
            self.send(id, Outbound::Resync);
        }
    }

    /// Closes every socket (shutdown).
    pub(crate) fn close_all(&self, reason: CloseReason) {
        for connection in self.read().connections.values() {
            connection.close(reason);
        }
    }

    /// How many sockets `user` has open.
    pub(crate) fn sockets_of(&self, user: &UserId) -> usize {
        self.read().by_user.get(user).map_or(0, Vec::len)
    }

    #[cfg(test)]
    fn connection_count(&self) -> usize {
        self.read().connections.len()
    }

    fn drop_slow(&self, ids: &[ConnId]) {
        let mut dropped = Vec::new();
        {
            let index = self.read();
            for id in ids {
                if let Some(connection) = index.connections.get(id) {
                    connection.close(CloseReason::TOO_SLOW);
                    dropped.push(*id);
                }
            }
        }
        for id in dropped {
            tracing::warn!(conn = id, "closing a socket whose outgoing queue is full");
            metrics::queue_full_disconnect();
            self.unregister(id);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (every mutation is a
        // single insert or remove), so a poisoned lock is still usable.
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Queues `item`, adding the job that writes it to `jobs` when one is needed and counting
/// it in `delivered`. False when the socket's queue is full (a closed queue means the
/// socket is already going away, which is not the sender's problem).
fn enqueue(
    connection: &Connection,
    item: Outbound,
    jobs: &mut Vec<WriteJob<SocketSink>>,
    delivered: &mut u64,
) -> bool {
    match connection.mailbox.try_send(item) {
        Ok(job) => {
            jobs.extend(job);
            *delivered += 1;
            true
        }
        Err(SendError::Closed) => true,
        Err(SendError::Full) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(text.to_owned().into())
    }

    fn text_of(item: Outbound) -> String {
        match item {
            Outbound::Frame(frame) => frame.to_string(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_user_gets_frames_on_every_socket() {
        let hub = Hub::new();
        let alice = UserId::new("alice");
        let tab1 = hub.register(&alice, "s1");
        let tab2 = hub.register(&alice, "s2");
        let bob = hub.register(&UserId::new("bob"), "s3");
        hub.send_to_users([&alice], &frame("hi"));
        assert_eq!(text_of(tab1.queue.try_recv().unwrap()), "hi");
        assert_eq!(text_of(tab2.queue.try_recv().unwrap()), "hi");
        assert!(bob.queue.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_full_queue_closes_only_that_socket() {
        let hub = Hub::new();
        let alice = UserId::new("alice");
        let bob = UserId::new("bob");
        let slow = hub.register(&alice, "s1");
        let fast = hub.register(&bob, "s2");
        for i in 0..=QUEUE_CAPACITY {
            hub.send_to_users([&alice, &bob], &frame(&i.to_string()));
            fast.queue.try_recv().unwrap();
        }
        assert_eq!(slow.close.reason(), Some(CloseReason::TOO_SLOW));
        assert_eq!(hub.connection_count(), 1, "the slow socket left the hub");
        assert_eq!(fast.close.reason(), None);
    }

    #[tokio::test]
    async fn logout_closes_the_sessions_sockets_only() {
        let hub = Hub::new();
        let alice = UserId::new("alice");
        let phone = hub.register(&alice, "phone");
        let laptop = hub.register(&alice, "laptop");
        hub.close_session("phone", CloseReason::SIGNED_OUT);
        assert_eq!(phone.close.reason(), Some(CloseReason::SIGNED_OUT));
        assert_eq!(laptop.close.reason(), None);
    }

    #[tokio::test]
    async fn presence_changes_at_the_first_and_last_socket_only() {
        let hub = Hub::new();
        let mut changes = hub.watch_presence().unwrap();
        assert!(hub.watch_presence().is_none(), "one watcher");
        let alice = UserId::new("alice");
        let tab1 = hub.register(&alice, "s1");
        let tab2 = hub.register(&alice, "s2");
        hub.unregister(tab1.id);
        assert_eq!(hub.online_users(), std::slice::from_ref(&alice));
        hub.unregister(tab2.id);
        assert_eq!(changes.try_recv().unwrap(), (alice.clone(), true));
        assert_eq!(changes.try_recv().unwrap(), (alice, false));
        assert!(
            changes.try_recv().is_err(),
            "the second tab changed nothing"
        );
    }

    #[tokio::test]
    async fn unregistered_sockets_get_nothing() {
        let hub = Hub::new();
        let alice = UserId::new("alice");
        let gone = hub.register(&alice, "s");
        hub.unregister(gone.id);
        hub.send_to_users([&alice], &frame("late"));
        assert!(gone.queue.try_recv().is_none());
        assert!(!gone.queue.woken().await, "queue closed with the socket");
        assert_eq!(hub.connection_count(), 0);
    }
}
