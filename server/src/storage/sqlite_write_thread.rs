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

use knock_protocol::{ChatMessage, ClientMsgId, MessageId, RoomId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::batch::{self, ClientKey};
use super::rows::{
    rusqlite_constraint_error, rusqlite_is_foreign_key_violation as is_foreign_key_violation,
    seq_bound, seq_from_db,
};
use super::{Inserted, MembershipChange, NewMessage, Precondition, StorageError, StorageResult};

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
}

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
    while let Ok(job) = queue.recv() {
        match job {
            Job::Messages { batch, reply } => {
                let _ = reply.send(insert_messages(&mut connection, &batch));
            }
            Job::Memberships { changes, reply } => {
                let _ = reply.send(set_memberships(&mut connection, &changes));
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
         (room_id, seq, message_id, user_id, body, timestamp, client_msg_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
            ))
            // A taken `message_id` is a Conflict; an unknown user is NotFound("user").
            .map_err(|error| rusqlite_constraint_error(error, "user"))?;
    }
    drop(insert);
    tx.commit()?;
    Ok(results)
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

const UPSERT_ANY: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL";
const INSERT_IF_ABSENT: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) \
     ON CONFLICT (room_id, user_id) DO NOTHING";
const UPSERT_IF_IS: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL \
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
    let mut select = tx.prepare_cached(
        "SELECT room_id, seq, message_id, body, timestamp FROM messages \
         WHERE user_id = ?1 AND client_msg_id = ?2",
    )?;
    let mut stored = HashMap::new();
    for (user_id, client_msg_id) in keys {
        let row = select
            .query_row((user_id.as_str(), client_msg_id.as_str()), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        if let Some((room_id, seq, message_id, body, timestamp)) = row {
            let message = ChatMessage {
                room_id: RoomId(room_id),
                user_id: user_id.clone(),
                message: body,
                timestamp,
                seq: seq_from_db(seq)?,
                message_id: MessageId(message_id),
            };
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
