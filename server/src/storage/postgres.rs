//! The PostgreSQL backend, for several Knock nodes sharing one database: migrations
//! embedded from `server/migrations/postgres` and run at connect (sqlx holds an advisory
//! lock meanwhile, so nodes starting together migrate once).
//!
//! The semantics are the SQLite backend's, statement for statement; what differs is that
//! other processes write at the same time:
//!
//! - A room's `seq` is taken with `UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING`
//!   inside the batch's transaction. The row lock it takes is held until commit, so
//!   writers of one room, on any node, queue behind each other: seqs stay gapless and
//!   each room's commit order is its seq order.
//! - A batch locks all its rooms up front, in one order every node uses, so two batches
//!   naming the same rooms in different orders cannot deadlock on them.
//! - Two nodes storing the same `(user, clientMsgId)` at once: the unique index makes the
//!   later insert wait for the earlier transaction; `ON CONFLICT DO NOTHING` then skips it,
//!   the seq it took is given back (the room's row is still locked by us) and the winner's
//!   message is returned as the duplicate.
//! - A deadlock PostgreSQL still detects (two batches inserting the same user's client ids
//!   in crossed order, in different rooms) rolls the batch back; it is then run again.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.

use std::collections::BTreeSet;
use std::str::FromStr;

use async_trait::async_trait;
use knock_protocol::{
    ChatMessage, ClientMsgId, MemberStatus, Participant, RoomId, RoomSummary, UserId,
};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::rows::{
    MembershipRow, MessageRow, ParticipantRow, RoomRow, SummaryRow, constraint_error,
    is_foreign_key_violation, seq_bound, seq_from_db,
};
use super::{
    Credential, Inserted, Membership, MembershipChange, NewMessage, NewRoom, Room, Storage,
    StorageError, StorageResult,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node: the message writer holds one at a time, the rest serve reads.
const MAX_CONNECTIONS: u32 = 10;
/// Runs of one batch that PostgreSQL aborted as a deadlock or serialization failure.
const MAX_BATCH_ATTEMPTS: u32 = 5;
/// `deadlock_detected` and `serialization_failure`: the transaction was rolled back and
/// may simply run again.
const RETRYABLE_CODES: [&str; 2] = ["40P01", "40001"];

#[derive(Clone, Debug)]
pub struct PostgresStorage {
    pool: PgPool,
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`), which must
    /// exist, and brings its schema up to date.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// One run of [`Storage::insert_messages`], in one transaction.
    async fn try_insert_messages(&self, batch: &[NewMessage]) -> StorageResult<Vec<Inserted>> {
        // Either every message of the batch is stored or none is (an error returns before
        // commit; dropping `tx` rolls back). Dedup lookups run inside it, so they see
        // earlier messages of this batch.
        let mut tx = self.pool.begin().await?;
        lock_rooms(&mut tx, batch).await?;
        let mut results = Vec::with_capacity(batch.len());
        for message in batch {
            results.push(insert_message(&mut tx, message).await?);
        }
        tx.commit().await?;
        Ok(results)
    }
}

/// Locks the rows of every room the batch names, in room id order, before any message
/// takes a seq. Each message's `UPDATE` would lock its room anyway, but in batch order:
/// two nodes storing batches for rooms `[a, b]` and `[b, a]` would deadlock. Unknown rooms
/// are left for [`insert_message`] to report, as the SQLite backend does.
async fn lock_rooms(tx: &mut PgConnection, batch: &[NewMessage]) -> StorageResult<()> {
    let rooms: BTreeSet<&str> = batch
        .iter()
        .map(|message| message.room_id.as_str())
        .collect();
    if rooms.len() < 2 {
        return Ok(());
    }
    let rooms: Vec<&str> = rooms.into_iter().collect();
    // `ORDER BY` sorts before the rows are locked, so the locks are taken in that order.
    sqlx::query("SELECT room_id FROM rooms WHERE room_id = ANY($1) ORDER BY room_id FOR UPDATE")
        .bind(rooms)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Stores one message of a batch (one round trip unless it turns out a duplicate).
async fn insert_message(tx: &mut PgConnection, message: &NewMessage) -> StorageResult<Inserted> {
    let client_msg_id = message.client_msg_id.as_ref().map(ClientMsgId::as_str);
    // `earlier`: the user already stored this client id (committed, or earlier in this
    // batch); then no seq is taken. `next`: the room's next seq, taken under its row lock.
    // `inserted`: the message, unless another transaction stored the same client id after
    // this statement's snapshot (the insert waits for it to commit, then does nothing).
    // Data-modifying CTEs run exactly once, whether or not the final SELECT reads them.
    let (duplicate, taken_seq, inserted_seq): (bool, Option<i64>, Option<i64>) = sqlx::query_as(
        "WITH earlier AS ( \
                 SELECT 1 FROM messages WHERE user_id = $3 AND client_msg_id = $6 \
             ), next AS ( \
                 UPDATE rooms SET last_seq = last_seq + 1 \
                 WHERE room_id = $1 AND NOT EXISTS (SELECT 1 FROM earlier) \
                 RETURNING last_seq \
             ), inserted AS ( \
                 INSERT INTO messages \
                 (room_id, seq, message_id, user_id, body, timestamp, client_msg_id) \
                 SELECT $1, last_seq, $2, $3, $4, $5, $6 FROM next \
                 ON CONFLICT (user_id, client_msg_id) WHERE client_msg_id IS NOT NULL \
                 DO NOTHING \
                 RETURNING seq \
             ) \
             SELECT EXISTS (SELECT 1 FROM earlier), \
                    (SELECT last_seq FROM next), \
                    (SELECT seq FROM inserted)",
    )
    .bind(message.room_id.as_str())
    .bind(message.message_id.as_str())
    .bind(message.user_id.as_str())
    .bind(&message.message)
    .bind(message.timestamp)
    .bind(client_msg_id)
    .fetch_one(&mut *tx)
    .await
    // A taken `message_id` is a Conflict; an unknown user is NotFound("user").
    .map_err(|error| constraint_error(error, "user"))?;

    match (duplicate, taken_seq, inserted_seq) {
        (true, _, _) => Ok(Inserted::Duplicate(stored_message(tx, message).await?)),
        (false, None, _) => Err(StorageError::NotFound("room")),
        (false, Some(_), Some(seq)) => Ok(Inserted::New(ChatMessage {
            room_id: message.room_id.clone(),
            user_id: message.user_id.clone(),
            message: message.message.clone(),
            timestamp: message.timestamp,
            seq: seq_from_db(seq)?,
            message_id: message.message_id.clone(),
        })),
        (false, Some(seq), None) => {
            // Another node stored this client id first. Give the seq back: the room's row
            // is locked by this transaction since the UPDATE, so nobody took a later one.
            let given_back = sqlx::query(
                "UPDATE rooms SET last_seq = last_seq - 1 WHERE room_id = $1 AND last_seq = $2",
            )
            .bind(message.room_id.as_str())
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            if given_back.rows_affected() != 1 {
                return Err(StorageError::Corrupt(format!(
                    "room {} moved past seq {seq} under its row lock",
                    message.room_id
                )));
            }
            // A new statement, a new snapshot: the winner's committed row is visible.
            Ok(Inserted::Duplicate(stored_message(tx, message).await?))
        }
    }
}

/// The message stored earlier under `message`'s `(user, clientMsgId)`.
async fn stored_message(tx: &mut PgConnection, message: &NewMessage) -> StorageResult<ChatMessage> {
    let row: Option<MessageRow> = sqlx::query_as(
        "SELECT room_id, seq, message_id, user_id, body, timestamp FROM messages \
         WHERE user_id = $1 AND client_msg_id = $2",
    )
    .bind(message.user_id.as_str())
    .bind(message.client_msg_id.as_ref().map(ClientMsgId::as_str))
    .fetch_optional(&mut *tx)
    .await?;
    row.ok_or_else(|| {
        StorageError::Corrupt(format!(
            "the message of client id {:?} of {} vanished",
            message.client_msg_id, message.user_id
        ))
    })?
    .into_message()
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn create_user(
        &self,
        user_id: &UserId,
        password_hash: &str,
        created_at: i64,
    ) -> StorageResult<()> {
        sqlx::query("INSERT INTO users (user_id, password_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user_id.as_str())
            .bind(password_hash)
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|error| constraint_error(error, "user"))?;
        Ok(())
    }

    async fn credential(&self, user_id: &UserId) -> StorageResult<Option<Credential>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT user_id, password_hash FROM users WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(user_id, password_hash)| Credential {
            user_id: UserId(user_id),
            password_hash,
        }))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        created_at: i64,
    ) -> StorageResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user_id.as_str())
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|error| constraint_error(error, "user"))?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str) -> StorageResult<Option<UserId>> {
        let user: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(user.map(UserId))
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<Option<UserId>> {
        let user: Option<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(user.map(UserId))
    }

    async fn create_room(&self, room: &NewRoom) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rooms (room_id, room_name, admin_user_id, created_at, last_seq) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(room.room_id.as_str())
        .bind(&room.room_name)
        .bind(room.admin.as_str())
        .bind(room.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|error| constraint_error(error, "user"))?;
        sqlx::query(
            "INSERT INTO memberships \
             (room_id, user_id, status, is_admin, requested_at, updated_at) \
             VALUES ($1, $2, $3, TRUE, $4, $4)",
        )
        .bind(room.room_id.as_str())
        .bind(room.admin.as_str())
        .bind(MemberStatus::Approved.as_str())
        .bind(room.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn room(&self, room_id: &RoomId) -> StorageResult<Option<Room>> {
        let row: Option<RoomRow> =
            sqlx::query_as("SELECT room_id, room_name, last_seq FROM rooms WHERE room_id = $1")
                .bind(room_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(RoomRow::into_room).transpose()
    }

    async fn membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<Membership>> {
        let row: Option<MembershipRow> = sqlx::query_as(
            "SELECT status, is_admin FROM memberships WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(MembershipRow::into_membership).transpose()
    }

    async fn set_memberships(&self, changes: &[MembershipChange]) -> StorageResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        // One transaction (one commit) for the batch; an error returns before the commit
        // and dropping `tx` rolls back.
        let mut tx = self.pool.begin().await?;
        for change in changes {
            // `requested_at` is set by the first insert only: the order in which users
            // first asked to join survives approvals and rejections.
            let result = sqlx::query(
                "INSERT INTO memberships \
                 (room_id, user_id, status, is_admin, requested_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (room_id, user_id) DO UPDATE SET \
                 status = excluded.status, is_admin = excluded.is_admin, \
                 updated_at = excluded.updated_at",
            )
            .bind(change.room_id.as_str())
            .bind(change.user_id.as_str())
            .bind(change.membership.status.as_str())
            .bind(change.membership.is_admin)
            .bind(change.updated_at)
            .execute(&mut *tx)
            .await;
            match result {
                Ok(_) => {}
                Err(error) if is_foreign_key_violation(&error) => {
                    drop(tx);
                    return Err(self.missing_parent(&change.room_id).await);
                }
                Err(error) => return Err(error.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn members(&self, room_id: &RoomId) -> StorageResult<Vec<Participant>> {
        let rows: Vec<ParticipantRow> = sqlx::query_as(
            "SELECT user_id, status, is_admin FROM memberships WHERE room_id = $1 \
             ORDER BY is_admin DESC, requested_at ASC, user_id ASC",
        )
        .bind(room_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(ParticipantRow::into_participant)
            .collect()
    }

    async fn insert_messages(&self, batch: &[NewMessage]) -> StorageResult<Vec<Inserted>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 1;
        loop {
            match self.try_insert_messages(batch).await {
                // Nothing of the batch was stored: run it again.
                Err(StorageError::Database(error))
                    if attempt < MAX_BATCH_ATTEMPTS && is_retryable(&error) =>
                {
                    tracing::warn!(%error, attempt, "storing messages rolled back; retrying");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn messages_before(
        &self,
        room_id: &RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StorageResult<Vec<ChatMessage>> {
        // The newest page first (walking the primary key backwards), then oldest first.
        let before = before_seq.map_or(i64::MAX, seq_bound);
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT room_id, seq, message_id, user_id, body, timestamp FROM ( \
                 SELECT room_id, seq, message_id, user_id, body, timestamp FROM messages \
                 WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3 \
             ) AS page ORDER BY seq ASC",
        )
        .bind(room_id.as_str())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn messages_after(
        &self,
        room_id: &RoomId,
        after_seq: u64,
        limit: u32,
    ) -> StorageResult<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT room_id, seq, message_id, user_id, body, timestamp FROM messages \
             WHERE room_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3",
        )
        .bind(room_id.as_str())
        .bind(seq_bound(after_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn rooms_of_user(&self, user_id: &UserId) -> StorageResult<Vec<RoomSummary>> {
        // A room's last activity is its newest message's timestamp (found by primary key
        // through `last_seq`), or the membership's last change before any message.
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT r.room_id, r.room_name, m.status, m.is_admin, r.last_seq \
             FROM memberships m \
             JOIN rooms r ON r.room_id = m.room_id \
             LEFT JOIN messages last ON last.room_id = r.room_id AND last.seq = r.last_seq \
             WHERE m.user_id = $1 \
             ORDER BY COALESCE(last.timestamp, m.updated_at) DESC, r.room_id ASC",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SummaryRow::into_summary).collect()
    }
}

fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| RETRYABLE_CODES.contains(&code.as_ref()))
}

impl PostgresStorage {
    /// After a foreign key refused a membership: which parent is missing, the room (the
    /// usual case) or the user.
    async fn missing_parent(&self, room_id: &RoomId) -> StorageError {
        let room_exists: Result<bool, _> =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE room_id = $1)")
                .bind(room_id.as_str())
                .fetch_one(&self.pool)
                .await;
        match room_exists {
            Ok(true) => StorageError::NotFound("user"),
            Ok(false) => StorageError::NotFound("room"),
            Err(error) => error.into(),
        }
    }
}
