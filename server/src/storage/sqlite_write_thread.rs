//! SQLite's batched writes (messages, memberships) on a thread of their own, with a
//! connection of their own.
//!
//! Through sqlx every statement is a round trip to sqlx's connection thread: taking a
//! pooled connection (sqlx pings it first), `BEGIN`, the client id lookup, the seqs, the
//! insert and `COMMIT` were six of them per message batch, each waking a thread and being
//! woken back. Here each batcher hands its batch over once and this thread runs every
//! statement of it directly (docs/benchmarks.md, sixth round, has the figures;
//! `server/examples/storage_latency.rs` measures them).
//!
//! SQLite lets one connection write at a time whatever the driver: this connection takes
//! the write lock with `BEGIN IMMEDIATE` and waits for it under the same busy timeout as
//! the pool's, which still writes users, sessions and rooms.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use knock_protocol::{ChatMessage, ClientMsgId, RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::batch::{self, ClientKey};
use super::log;
use super::rows::{
    MessageRow, mentions_to_db, rusqlite_constraint_error,
    rusqlite_is_foreign_key_violation as is_foreign_key_violation, seq_bound, seq_from_db,
};
use super::{
    ChangeKind, Changed, Inserted, MembershipChange, MessageChange, NewMessage, Precondition,
    StorageError, StorageResult,
};

/// One batch to write, and where its outcome goes.
enum Job {
    Messages {
        batch: Vec<NewMessage>,
        reply: oneshot::Sender<StorageResult<Vec<Inserted>>>,
    },
    Memberships {
        changes: Vec<MembershipChange>,
        reply: oneshot::Sender<StorageResult<Vec<bool>>>,
    },
    Change {
        change: MessageChange,
        reply: oneshot::Sender<StorageResult<Changed>>,
    },
    MarkRead {
        marker: ReadMark,
        reply: oneshot::Sender<StorageResult<Option<u64>>>,
    },
}

/// One `markRead` to store.
struct ReadMark {
    room_id: RoomId,
    user_id: UserId,
    seq: u64,
}

/// The marker moves forward only, and not past the room's newest seq.
const MARK_READ: &str = "UPDATE memberships \
     SET read_seq = min(?3, (SELECT last_seq FROM rooms WHERE room_id = ?1)) \
     WHERE room_id = ?1 AND user_id = ?2 AND status = 'approved' \
     AND read_seq < min(?3, (SELECT last_seq FROM rooms WHERE room_id = ?1)) \
     RETURNING read_seq";

/// The handle to the thread; cloning it shares the thread, which ends with the last clone.
#[derive(Clone, Debug)]
pub(super) struct SqliteWriteThread {
    jobs: mpsc::Sender<Job>,
}

impl SqliteWriteThread {
    /// Opens a second connection to the database file at `path` (its schema already up to
    /// date) on a new thread.
    pub(super) async fn open(path: &Path, busy_timeout: Duration) -> StorageResult<Self> {
        let path = path.to_owned();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened, ready) = oneshot::channel();
        std::thread::Builder::new()
            .name("sqlite-writes".to_owned())
            .spawn(move || match open_connection(&path, busy_timeout) {
                Ok(connection) => {
                    let _ = opened.send(Ok(()));
                    serve(connection, &queue);
                }
                Err(error) => {
                    let _ = opened.send(Err(error));
                }
            })?;
        ready.await.map_err(|_| stopped())??;
        Ok(Self { jobs })
    }

    /// [`super::Storage::insert_messages`], in one transaction on the thread.
    pub(super) async fn insert_messages(
        &self,
        batch: &[NewMessage],
    ) -> StorageResult<Vec<Inserted>> {
        let batch = batch.to_vec();
        self.run(|reply| Job::Messages { batch, reply }).await
    }

    /// [`super::Storage::set_memberships`], in one transaction on the thread.
    pub(super) async fn set_memberships(
        &self,
        changes: &[MembershipChange],
    ) -> StorageResult<Vec<bool>> {
        let changes = changes.to_vec();
        self.run(|reply| Job::Memberships { changes, reply }).await
    }

    /// [`super::Storage::change_message`], in one transaction on the thread: the thread
    /// that numbers messages numbers changes too.
    pub(super) async fn change_message(&self, change: &MessageChange) -> StorageResult<Changed> {
        let change = change.clone();
        self.run(|reply| Job::Change { change, reply }).await
    }

    /// [`super::Storage::mark_read`]: with the markers queued beside it, in one
    /// transaction on the thread.
    pub(super) async fn mark_read(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        seq: u64,
    ) -> StorageResult<Option<u64>> {
        let marker = ReadMark {
            room_id: room_id.clone(),
            user_id: user_id.clone(),
            seq,
        };
        self.run(|reply| Job::MarkRead { marker, reply }).await
    }

    /// Hands the job over and waits for its outcome.
    async fn run<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<StorageResult<T>>) -> Job,
    ) -> StorageResult<T> {
        let (reply, outcome) = oneshot::channel();
        self.jobs.send(job(reply)).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// The thread is gone (it can only have panicked): every later batch fails the same way.
fn stopped() -> StorageError {
    tracing::error!("the SQLite write thread has stopped");
    StorageError::WriteThreadStopped
}

fn open_connection(path: &Path, busy_timeout: Duration) -> StorageResult<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(busy_timeout)?;
    // Per connection, as the pool's: an acked message has reached the disk (see
    // `SqliteStorage::connect`), and a message names an existing user and room.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    Ok(connection)
}

fn serve(mut connection: Connection, queue: &mpsc::Receiver<Job>) {
    // A caller that has gone finds its batch written (or not) all the same.
    let mut next = None;
    while let Some(job) = next.take().or_else(|| queue.recv().ok()) {
        match job {
            Job::Messages { batch, reply } => {
                let _ = reply.send(insert_messages(&mut connection, &batch));
            }
            Job::Memberships { changes, reply } => {
                let _ = reply.send(set_memberships(&mut connection, &changes));
            }
            Job::Change { change, reply } => {
                let _ = reply.send(change_message(&mut connection, &change));
            }
            Job::MarkRead { marker, reply } => {
                // Every client on screen sends one a second: those that queued up while
                // the thread wrote take one transaction (one fsync) together.
                let mut markers = vec![(marker, reply)];
                while let Ok(job) = queue.try_recv() {
                    match job {
                        Job::MarkRead { marker, reply } => markers.push((marker, reply)),
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                mark_read(&mut connection, markers);
            }
        }
    }
}

/// One transaction for the markers; each gets its own outcome (all fail together).
fn mark_read(
    connection: &mut Connection,
    markers: Vec<(ReadMark, oneshot::Sender<StorageResult<Option<u64>>>)>,
) {
    let written = (|| -> StorageResult<Vec<Option<u64>>> {
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut moved = Vec::with_capacity(markers.len());
        {
            let mut statement = tx.prepare_cached(MARK_READ)?;
            for (marker, _) in &markers {
                let seq: Option<i64> = statement
                    .query_row(
                        rusqlite::params![
                            marker.room_id.as_str(),
                            marker.user_id.as_str(),
                            seq_bound(marker.seq)
                        ],
                        |row| row.get(0),
                    )
                    .optional()?;
                moved.push(seq.map(seq_from_db).transpose()?);
            }
        }
        tx.commit()?;
        Ok(moved)
    })();
    match written {
        Ok(moved) => {
            for ((_, reply), outcome) in markers.into_iter().zip(moved) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            let text = error.to_string();
            let mut replies = markers.into_iter().map(|(_, reply)| reply);
            if let Some(first) = replies.next() {
                let _ = first.send(Err(error));
            }
            for reply in replies {
                let _ = reply.send(Err(StorageError::BatchFailed(text.clone())));
            }
        }
    }
}

/// One transaction: either every message of the batch is stored or none is (an error
/// returns before the commit, and dropping the transaction rolls it back).
fn insert_messages(
    connection: &mut Connection,
    batch: &[NewMessage],
) -> StorageResult<Vec<Inserted>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let earlier = stored_client_keys(&tx, &batch::client_keys(batch))?;
    let plan = batch::plan(batch, &earlier);
    let last_seqs = take_seqs(&tx, &plan.rooms)?;
    let results = plan.resolve(batch, &last_seqs)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages \
         (room_id, seq, message_id, user_id, body, timestamp, client_msg_id, reply_to, \
         mentions) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut mention = tx.prepare_cached(
        "INSERT INTO message_mentions (room_id, seq, user_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )?;
    for (message, seq) in batch::new_rows(batch, &results) {
        insert
            .execute((
                message.room_id.as_str(),
                seq_bound(seq),
                message.message_id.as_str(),
                message.user_id.as_str(),
                message.message.as_str(),
                message.timestamp,
                message.client_msg_id.as_ref().map(ClientMsgId::as_str),
                message
                    .reply_to
                    .as_ref()
                    .map(|reply| reply.message_id.as_str()),
                mentions_to_db(&message.mentions),
            ))
            // A taken `message_id` is a Conflict; an unknown user is NotFound("user").
            .map_err(|error| rusqlite_constraint_error(error, "user"))?;
        for user_id in &message.mentions {
            mention.execute((message.room_id.as_str(), seq_bound(seq), user_id.as_str()))?;
        }
    }
    drop(mention);
    drop(insert);
    tx.commit()?;
    Ok(results)
}

/// One transaction: the message's state is read under the write lock, then the room's next
/// `seq` taken, the change stored and the message brought to its new state.
fn change_message(connection: &mut Connection, change: &MessageChange) -> StorageResult<Changed> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: Option<(String, bool)> = tx
        .prepare_cached(log::CURRENT)?
        .query_row(
            (change.room_id.as_str(), change.message_id.as_str()),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if let Some(refused) = log::refusal(
        current
            .as_ref()
            .map(|(body, deleted)| (body.as_str(), *deleted)),
        &change.kind,
    ) {
        return Ok(refused);
    }
    let last_seqs = take_seqs(&tx, &[(change.room_id.clone(), 1)])?;
    let seq = *last_seqs
        .get(&change.room_id)
        .ok_or(StorageError::NotFound("room"))?;
    let (kind, body) = log::kind_and_body(&change.kind);
    tx.prepare_cached(&positional(log::INSERT_CHANGE))?
        .execute((
            change.room_id.as_str(),
            seq_bound(seq),
            change.message_id.as_str(),
            kind,
            body,
            change.at,
        ))?;
    match &change.kind {
        ChangeKind::Edit(text) => tx.prepare_cached(&positional(log::APPLY_EDIT))?.execute((
            change.room_id.as_str(),
            change.message_id.as_str(),
            text.as_str(),
            change.at,
        ))?,
        ChangeKind::Delete => {
            tx.prepare_cached(&positional(log::DELETE_MENTIONS))?
                .execute((change.room_id.as_str(), change.message_id.as_str()))?;
            tx.prepare_cached(&positional(log::APPLY_DELETE))?
                .execute((
                    change.room_id.as_str(),
                    change.message_id.as_str(),
                    change.at,
                ))?
        }
    };
    tx.commit()?;
    Ok(Changed::Stored(log::entry(change, seq)))
}

/// A statement of `storage/log.rs` (`$N` parameters, which sqlx numbers by N) as rusqlite
/// binds it: SQLite numbers `$N` in order of appearance, `?N` by N.
fn positional(sql: &str) -> String {
    sql.replace('$', "?")
}

/// One transaction for the batch, applied in order; an error returns before the commit and
/// dropping the transaction rolls it back.
fn set_memberships(
    connection: &mut Connection,
    changes: &[MembershipChange],
) -> StorageResult<Vec<bool>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut stored = Vec::with_capacity(changes.len());
    for change in changes {
        // `requested_at` is set by the first insert only: the order in which users first
        // asked to join survives approvals and rejections.
        let (sql, expected) = match change.only_if {
            Precondition::Any => (UPSERT_ANY, None),
            Precondition::Absent => (INSERT_IF_ABSENT, None),
            Precondition::Is(membership) => (UPSERT_IF_IS, Some(membership)),
        };
        let mut statement = tx.prepare_cached(sql)?;
        let params = (
            change.room_id.as_str(),
            change.user_id.as_str(),
            change.membership.status.as_str(),
            change.membership.is_admin,
            change.updated_at,
            change.reason.as_deref(),
        );
        let written = match expected {
            None => statement.execute(params),
            Some(expected) => statement.execute((
                params.0,
                params.1,
                params.2,
                params.3,
                params.4,
                params.5,
                expected.status.as_str(),
                expected.is_admin,
            )),
        };
        match written {
            Ok(rows) => stored.push(rows > 0),
            Err(error) if is_foreign_key_violation(&error) => {
                drop(statement);
                return Err(missing_parent(&tx, &change.room_id)?);
            }
            Err(error) => return Err(error.into()),
        }
    }
    tx.commit()?;
    Ok(stored)
}

// A new membership's read marker is the room's newest seq, and so is an existing one's
// when it becomes approved (never lower than it was): a member let in finds none of the
// room's past unread.
const UPSERT_ANY: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = ?1), 0)) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL, \
     read_seq = CASE WHEN excluded.status = 'approved' AND memberships.status <> 'approved' \
                THEN max(excluded.read_seq, memberships.read_seq) ELSE memberships.read_seq END";
const INSERT_IF_ABSENT: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = ?1), 0)) \
     ON CONFLICT (room_id, user_id) DO NOTHING";
const UPSERT_IF_IS: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = ?1), 0)) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL, \
     read_seq = CASE WHEN excluded.status = 'approved' AND memberships.status <> 'approved' \
                THEN max(excluded.read_seq, memberships.read_seq) ELSE memberships.read_seq END \
     WHERE memberships.status = ?7 AND memberships.is_admin = ?8";

/// After a foreign key refused a membership: which parent is missing, the room (the usual
/// case) or the user.
fn missing_parent(tx: &Connection, room_id: &RoomId) -> StorageResult<StorageError> {
    let room_exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM rooms WHERE room_id = ?1)")?
        .query_row([room_id.as_str()], |row| row.get(0))?;
    Ok(StorageError::NotFound(if room_exists {
        "user"
    } else {
        "room"
    }))
}

/// The stored messages that carry one of `keys` (user, clientMsgId): one search of the
/// unique index each.
fn stored_client_keys(
    tx: &Connection,
    keys: &[ClientKey],
) -> StorageResult<HashMap<ClientKey, ChatMessage>> {
    let mut select = tx.prepare_cached(&positional(log::MESSAGE_BY_CLIENT_ID))?;
    let mut stored = HashMap::new();
    for (user_id, client_msg_id) in keys {
        let row = select
            .query_row((user_id.as_str(), client_msg_id.as_str()), |row| {
                Ok(MessageRow {
                    room_id: row.get(0)?,
                    seq: row.get(1)?,
                    message_id: row.get(2)?,
                    user_id: row.get(3)?,
                    body: row.get(4)?,
                    timestamp: row.get(5)?,
                    edited_at: row.get(6)?,
                    deleted_at: row.get(7)?,
                    reply_id: row.get(8)?,
                    reply_user_id: row.get(9)?,
                    reply_body: row.get(10)?,
                    reply_deleted_at: row.get(11)?,
                    mentions: row.get(12)?,
                })
            })
            .optional()?;
        if let Some(row) = row {
            let message = row.into_message()?;
            stored.insert((user_id.clone(), client_msg_id.clone()), message);
        }
    }
    Ok(stored)
}

/// Adds each room's count to its `last_seq`; the new `last_seq` of every room that exists.
fn take_seqs(tx: &Connection, rooms: &[(RoomId, u64)]) -> StorageResult<HashMap<RoomId, u64>> {
    let mut update = tx.prepare_cached(
        "UPDATE rooms SET last_seq = last_seq + ?1 WHERE room_id = ?2 RETURNING last_seq",
    )?;
    let mut last_seqs = HashMap::with_capacity(rooms.len());
    for (room_id, count) in rooms {
        let last_seq: Option<i64> = update
            .query_row((seq_bound(*count), room_id.as_str()), |row| row.get(0))
            .optional()?;
        if let Some(last_seq) = last_seq {
            last_seqs.insert(room_id.clone(), seq_from_db(last_seq)?);
        }
    }
    Ok(last_seqs)
}
