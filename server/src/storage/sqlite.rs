//! The SQLite backend: one database file (or `sqlite::memory:` for tests), WAL journal,
//! migrations embedded from `server/migrations/sqlite` and run at connect.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use knock_protocol::{
    ChatMessage, ClientMsgId, MemberStatus, Participant, RoomId, RoomSummary, UserId,
};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, SqliteConnection};

use super::batch::{self, ClientKey};
use super::rows::{
    KeyedMessageRow, MembershipRow, MessageRow, ParticipantRow, RoomRow, SummaryRow,
    constraint_error, is_foreign_key_violation, seq_bound, seq_from_db,
};
use super::{
    Credential, Inserted, Membership, MembershipChange, NewMessage, NewRoom, Room, Storage,
    StorageError, StorageResult,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections to a database file: WAL lets readers run beside the one writer.
const MAX_FILE_CONNECTIONS: u32 = 8;
/// Write transactions take the write lock up front. A deferred transaction that reads and
/// then writes can fail with `SQLITE_BUSY` at once (no busy wait) when another writer
/// committed in between; `BEGIN IMMEDIATE` waits for the lock under `busy_timeout`.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

#[derive(Clone, Debug)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    /// Opens (creating when missing) the database at `url`, such as `sqlite:knock.db` or
    /// `sqlite::memory:`, and brings its schema up to date.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let in_memory = is_in_memory(url);
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // A message is acked once its transaction commits, so each commit must reach
            // the disk: with WAL, `NORMAL` only syncs at checkpoints and a power loss can
            // drop acked messages; `FULL` syncs the WAL on every commit.
            .synchronous(SqliteSynchronous::Full);
        let pool_options = if in_memory {
            // Every connection to `:memory:` would be its own empty database (sqlx shares
            // the cache, but the data lives only while a connection is open): keep
            // exactly one connection, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new().max_connections(MAX_FILE_CONNECTIONS)
        };
        let pool = pool_options.connect_with(options).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn create_user(
        &self,
        user_id: &UserId,
        password_hash: &str,
        created_at: i64,
    ) -> StorageResult<()> {
        sqlx::query("INSERT INTO users (user_id, password_hash, created_at) VALUES (?, ?, ?)")
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
            sqlx::query_as("SELECT user_id, password_hash FROM users WHERE user_id = ?")
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
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at) VALUES (?, ?, ?)")
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
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(user.map(UserId))
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<Option<UserId>> {
        let user: Option<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = ? RETURNING user_id")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(user.map(UserId))
    }

    async fn create_room(&self, room: &NewRoom) -> StorageResult<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO rooms (room_id, room_name, admin_user_id, created_at, last_seq) \
             VALUES (?, ?, ?, ?, 0)",
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
             VALUES (?, ?, ?, 1, ?, ?)",
        )
        .bind(room.room_id.as_str())
        .bind(room.admin.as_str())
        .bind(MemberStatus::Approved.as_str())
        .bind(room.created_at)
        .bind(room.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn room(&self, room_id: &RoomId) -> StorageResult<Option<Room>> {
        let row: Option<RoomRow> =
            sqlx::query_as("SELECT room_id, room_name, last_seq FROM rooms WHERE room_id = ?")
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
            "SELECT status, is_admin FROM memberships WHERE room_id = ? AND user_id = ?",
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for change in changes {
            // `requested_at` is set by the first insert only: the order in which users
            // first asked to join survives approvals and rejections.
            let result = sqlx::query(
                "INSERT INTO memberships \
                 (room_id, user_id, status, is_admin, requested_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
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
            "SELECT user_id, status, is_admin FROM memberships WHERE room_id = ? \
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
        // One transaction for the whole batch: one fsync, and either every message of the
        // batch is stored or none is (an error returns before commit; dropping `tx` rolls
        // back). A few statements per batch, not per message: each statement is a round
        // trip to sqlx's database thread, and the writer waits for every one of them.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let earlier = stored_client_keys(&mut tx, &batch::client_keys(batch)).await?;
        let plan = batch::plan(batch, &earlier);
        let last_seqs = take_seqs(&mut tx, &plan.rooms).await?;
        let results = plan.resolve(batch, &last_seqs)?;
        for rows in batch::new_rows(batch, &results).chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::new(
                "INSERT INTO messages \
                 (room_id, seq, message_id, user_id, body, timestamp, client_msg_id) ",
            );
            insert.push_values(rows, |mut row, (message, seq)| {
                row.push_bind(message.room_id.as_str())
                    .push_bind(seq_bound(*seq))
                    .push_bind(message.message_id.as_str())
                    .push_bind(message.user_id.as_str())
                    .push_bind(message.message.as_str())
                    .push_bind(message.timestamp)
                    .push_bind(message.client_msg_id.as_ref().map(ClientMsgId::as_str));
            });
            // Each row count is its own statement text, prepared once and kept in sqlx's
            // per-connection cache (re-preparing every batch cost a fifth more server
            // CPU at 1,000 messages/s).
            insert
                .build()
                .execute(&mut *tx)
                .await
                // A taken `message_id` is a Conflict; an unknown user is NotFound("user").
                .map_err(|error| constraint_error(error, "user"))?;
        }
        tx.commit().await?;
        Ok(results)
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
                 WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ? \
             ) ORDER BY seq ASC",
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
             WHERE room_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?",
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
             WHERE m.user_id = ? \
             ORDER BY COALESCE(last.timestamp, m.updated_at) DESC, r.room_id ASC",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SummaryRow::into_summary).collect()
    }
}

impl SqliteStorage {
    /// After a foreign key refused a membership: which parent is missing, the room (the
    /// usual case) or the user.
    async fn missing_parent(&self, room_id: &RoomId) -> StorageError {
        let room_exists: Result<bool, _> =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE room_id = ?)")
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

/// Rows (or key pairs, room counts) per statement: far below SQLite's limit of 32,766
/// bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// The stored messages that carry one of `keys` (user, clientMsgId).
async fn stored_client_keys(
    tx: &mut SqliteConnection,
    keys: &[ClientKey],
) -> StorageResult<HashMap<ClientKey, ChatMessage>> {
    let mut stored = HashMap::new();
    for keys in keys.chunks(ROWS_PER_STATEMENT) {
        // A join, not `(user_id, client_msg_id) IN (VALUES ...)`: SQLite scans the whole
        // table for the latter and searches the unique index for the former.
        let mut select = QueryBuilder::new(
            "SELECT m.room_id, m.seq, m.message_id, m.user_id, m.body, m.timestamp, \
             m.client_msg_id FROM (",
        );
        select.push_values(keys, |mut row, (user, client_id)| {
            row.push_bind(user.as_str()).push_bind(client_id.as_str());
        });
        select.push(
            ") AS k JOIN messages AS m \
             ON m.user_id = k.column1 AND m.client_msg_id = k.column2",
        );
        let rows: Vec<KeyedMessageRow> = select.build_query_as().fetch_all(&mut *tx).await?;
        for row in rows {
            let (key, message) = row.into_keyed()?;
            stored.insert(key, message);
        }
    }
    Ok(stored)
}

/// Adds each room's count to its `last_seq`; the new `last_seq` of every room that exists.
async fn take_seqs(
    tx: &mut SqliteConnection,
    rooms: &[(RoomId, u64)],
) -> StorageResult<HashMap<RoomId, u64>> {
    let mut last_seqs = HashMap::with_capacity(rooms.len());
    for rooms in rooms.chunks(ROWS_PER_STATEMENT) {
        let mut update = QueryBuilder::new("UPDATE rooms SET last_seq = last_seq + CASE room_id");
        for (room_id, count) in rooms {
            update
                .push(" WHEN ")
                .push_bind(room_id.as_str())
                .push(" THEN ")
                .push_bind(seq_bound(*count));
        }
        update.push(" END WHERE room_id IN (");
        let mut ids = update.separated(", ");
        for (room_id, _) in rooms {
            ids.push_bind(room_id.as_str());
        }
        update.push(") RETURNING room_id, last_seq");
        let rows: Vec<(String, i64)> = update.build_query_as().fetch_all(&mut *tx).await?;
        for (room_id, last_seq) in rows {
            last_seqs.insert(RoomId(room_id), seq_from_db(last_seq)?);
        }
    }
    Ok(last_seqs)
}
