//! The SQLite backend: one database file, WAL journal, migrations embedded from
//! `server/migrations/sqlite` and run at connect. Batches of messages and of memberships
//! are written by a thread with a connection of its own (`sqlite_write_thread`);
//! everything else goes through sqlx's pool.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use knock_protocol::{
    ChatMessage, ExportedRoom, Invite, InviteCode, MemberStatus, MessageId, Participant, RoomId,
    RoomSummary, UserId,
};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tempfile::TempDir;

use super::accounts;
use super::invites;
use super::log::{self, LogRow};
use super::rows::{
    FoundRow, MembershipRow, MessageRow, ParticipantRow, RoomRow, SinceRow, SummaryRow,
    constraint_error, seq_bound,
};
use super::sqlite_write_thread::SqliteWriteThread;
use super::{
    Changed, Credential, FoundMessage, Inserted, InviteUse, LogEntry, Membership, MembershipChange,
    MessageChange, NewMessage, NewRoom, Room, SearchIn, SearchQuery, Session, Since, Storage,
    StorageError, StorageResult, StoredInvite,
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
pub(crate) struct SqliteStorage {
    pool: SqlitePool,
    writes: SqliteWriteThread,
    /// The folder of a throwaway database, removed when the last clone is dropped.
    _scratch: Option<Arc<TempDir>>,
}

impl SqliteStorage {
    /// Opens (creating when missing) the database at `url`, such as `sqlite:knock.db`, and
    /// brings its schema up to date. `sqlite::memory:` is a throwaway database: a file in
    /// a temporary folder, gone when the storage is dropped (the write thread needs a
    /// second connection to the same database, which SQLite's in-memory databases give
    /// only through its shared cache and the table locks that come with it).
    pub(crate) async fn connect(url: &str) -> StorageResult<Self> {
        let scratch = if is_in_memory(url) {
            Some(Arc::new(TempDir::with_prefix("knock-sqlite-")?))
        } else {
            None
        };
        let options = match &scratch {
            Some(folder) => SqliteConnectOptions::new().filename(folder.path().join("knock.db")),
            None => SqliteConnectOptions::from_str(url)?,
        }
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // A message is acked once its transaction commits, so each commit must reach the
        // disk: with WAL, `NORMAL` only syncs at checkpoints and a power loss can drop
        // acked messages; `FULL` syncs the WAL on every commit.
        .synchronous(SqliteSynchronous::Full)
        .journal_mode(SqliteJournalMode::Wal);
        create_private(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_FILE_CONNECTIONS)
            // sqlx pings every connection it hands out, to find one the server dropped:
            // here a round trip to the connection's own thread before every query, and
            // there is no server to drop it.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let writes = SqliteWriteThread::open(options.get_filename(), BUSY_TIMEOUT).await?;
        Ok(Self {
            pool,
            writes,
            _scratch: scratch,
        })
    }
}

impl SqliteStorage {
    /// The id of the room's first message with `seq` or more: ids below it are the
    /// messages before `seq`.
    async fn first_id_from(&self, room_id: &RoomId, seq: u64) -> StorageResult<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE room_id = ? AND seq >= ? ORDER BY seq LIMIT 1",
        )
        .bind(room_id.as_str())
        .bind(seq_bound(seq))
        .fetch_optional(&self.pool)
        .await?;
        // No such message: every message of the room is before `seq`.
        Ok(Some(id.unwrap_or(i64::MAX)))
    }
}

/// Most rooms a search names in its FTS5 query (see `search_messages`).
const ROOMS_IN_MATCH: usize = 32;

/// The FTS5 query for `query` in `rooms` (any room when none), built from tokens only: each term is a string
/// (a phrase) in double quotes, any quote in it doubled, so nothing the user typed is read
/// as FTS5 syntax; the body holds every term, and the room key is one of the rooms'.
pub(super) fn fts5_match(query: &SearchQuery, rooms: &[RoomId]) -> String {
    fn quoted(text: &str) -> String {
        format!("\"{}\"", text.replace('"', "\"\""))
    }
    let terms: Vec<String> = query
        .terms
        .iter()
        .map(|term| format!("body : {}", quoted(&term.words.join(" "))))
        .collect();
    let rooms: Vec<String> = rooms
        .iter()
        .map(|room| format!("room_key : {}", quoted(&room_key(room))))
        .collect();
    if rooms.is_empty() {
        terms.join(" AND ")
    } else {
        format!("{} AND ({})", terms.join(" AND "), rooms.join(" OR "))
    }
}

/// A room's token in the index, as the `room_key` column computes it: `r` and the room
/// id's bytes in hex (one word whatever the id holds).
fn room_key(room_id: &RoomId) -> String {
    use std::fmt::Write;
    room_id
        .as_str()
        .bytes()
        .fold(String::from("r"), |mut key, byte| {
            let _ = write!(key, "{byte:02X}");
            key
        })
}

/// Creates the database file readable by its owner only (0600), when it does not exist yet:
/// it holds password hashes and every message. SQLite gives its `-wal` and `-shm` files
/// the database file's permissions. An existing file keeps the permissions it has.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
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
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT user_id, password_hash, created_at FROM users WHERE user_id = ?",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(user_id, password_hash, created_at)| Credential {
            user_id: UserId(user_id),
            password_hash,
            created_at,
        }))
    }

    async fn set_password_hash(
        &self,
        user_id: &UserId,
        password_hash: &str,
    ) -> StorageResult<bool> {
        accounts::sqlite::set_password_hash(&self.pool, user_id, password_hash).await
    }

    async fn delete_user(&self, user_id: &UserId) -> StorageResult<bool> {
        accounts::sqlite::delete_user(&self.pool, user_id).await
    }

    async fn messages_by_user(&self, user_id: &UserId) -> StorageResult<Vec<ChatMessage>> {
        accounts::sqlite::messages_by_user(&self.pool, user_id).await
    }

    async fn memberships_of_user(&self, user_id: &UserId) -> StorageResult<Vec<ExportedRoom>> {
        accounts::sqlite::memberships_of_user(&self.pool, user_id).await
    }

    async fn create_session(&self, session: &Session) -> StorageResult<()> {
        accounts::sqlite::create_session(&self.pool, session).await
    }

    async fn session(&self, token_hash: &str) -> StorageResult<Option<Session>> {
        accounts::sqlite::session(&self.pool, token_hash).await
    }

    async fn sessions_of_user(&self, user_id: &UserId) -> StorageResult<Vec<Session>> {
        accounts::sqlite::sessions_of_user(&self.pool, user_id).await
    }

    async fn touch_sessions(&self, token_hashes: &[String], now: i64) -> StorageResult<()> {
        accounts::sqlite::touch_sessions(&self.pool, token_hashes, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<Option<UserId>> {
        accounts::sqlite::delete_session(&self.pool, token_hash).await
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> StorageResult<Vec<String>> {
        accounts::sqlite::delete_sessions_of_user(&self.pool, user_id, keep).await
    }

    async fn delete_expired_sessions(
        &self,
        unused_since: i64,
        created_before: i64,
    ) -> StorageResult<Vec<String>> {
        accounts::sqlite::delete_expired_sessions(&self.pool, unused_since, created_before).await
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

    async fn membership_since(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<Since>> {
        let row: Option<SinceRow> = sqlx::query_as(
            "SELECT status, is_admin, updated_at FROM memberships \
             WHERE room_id = ? AND user_id = ?",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(SinceRow::into_since).transpose()
    }

    async fn set_memberships(&self, changes: &[MembershipChange]) -> StorageResult<Vec<bool>> {
        self.writes.set_memberships(changes).await
    }

    async fn members(&self, room_id: &RoomId) -> StorageResult<Vec<Participant>> {
        let rows: Vec<ParticipantRow> = sqlx::query_as(
            // The link a request came by, with its label (kept when the link is revoked).
            "SELECT m.user_id, m.status, m.is_admin, m.reason, m.invite_code, \
                    i.label AS invite_label \
             FROM memberships AS m LEFT JOIN invites AS i ON i.code = m.invite_code \
             WHERE m.room_id = ? \
             ORDER BY m.is_admin DESC, m.requested_at ASC, m.user_id ASC",
        )
        .bind(room_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(ParticipantRow::into_participant)
            .collect()
    }

    async fn delete_room(&self, room_id: &RoomId) -> StorageResult<bool> {
        // Memberships and messages go with it (ON DELETE CASCADE). A write transaction
        // that takes the lock up front waits for the write thread instead of failing.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let deleted = sqlx::query("DELETE FROM rooms WHERE room_id = ?")
            .bind(room_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn insert_messages(&self, batch: &[NewMessage]) -> StorageResult<Vec<Inserted>> {
        self.writes.insert_messages(batch).await
    }

    async fn messages_before(
        &self,
        room_id: &RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StorageResult<Vec<ChatMessage>> {
        // The newest page first (walking the primary key backwards), then oldest first.
        let before = before_seq.map_or(i64::MAX, seq_bound);
        let rows: Vec<MessageRow> = sqlx::query_as(log::MESSAGES_BEFORE)
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
        let rows: Vec<MessageRow> = sqlx::query_as(log::MESSAGES_AFTER)
            .bind(room_id.as_str())
            .bind(seq_bound(after_seq))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn search_messages(
        &self,
        query: &SearchQuery,
        within: SearchIn<'_>,
        limit: u32,
    ) -> StorageResult<Vec<FoundMessage>> {
        // Newest first is the index's own rowid order, backwards, so the first `limit`
        // matches end the walk; within one room rowids grow with seqs.
        let (rooms, before) = match within {
            SearchIn::Room {
                room_id,
                before_seq,
            } => {
                let before = match before_seq {
                    Some(seq) => self.first_id_from(room_id, seq).await?,
                    None => None,
                };
                (std::slice::from_ref(room_id), before)
            }
            SearchIn::Rooms {
                room_ids,
                before_position,
            } => (room_ids, before_position),
        };
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::from(limit);
        let rows: Vec<FoundRow> = if rooms.len() <= ROOMS_IN_MATCH {
            sqlx::query_as(
                "SELECT m.id, m.room_id, m.seq, m.message_id, m.user_id, m.body, m.timestamp \
                 FROM messages_search s JOIN messages m ON m.id = s.rowid \
                 WHERE messages_search MATCH ? AND s.rowid < ? \
                 ORDER BY s.rowid DESC LIMIT ?",
            )
            .bind(fts5_match(query, rooms))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        } else {
            // Many rooms: each room named in the query costs a lookup in the index and an
            // iterator (40 ms for 1,000 rooms); the rooms are a large share of the
            // messages, so the matches are walked newest first and those of other rooms
            // skipped.
            let room_ids: Vec<&str> = rooms.iter().map(RoomId::as_str).collect();
            sqlx::query_as(
                "SELECT m.id, m.room_id, m.seq, m.message_id, m.user_id, m.body, m.timestamp \
                 FROM messages_search s JOIN messages m ON m.id = s.rowid \
                 WHERE messages_search MATCH ? AND s.rowid < ? \
                 AND m.room_id IN (SELECT value FROM json_each(?)) \
                 ORDER BY s.rowid DESC LIMIT ?",
            )
            .bind(fts5_match(query, &[]))
            .bind(before)
            .bind(
                serde_json::to_string(&room_ids)
                    .map_err(|error| StorageError::Corrupt(format!("room ids as JSON: {error}")))?,
            )
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        };
        rows.into_iter().map(FoundRow::into_found).collect()
    }

    async fn rooms_of_user(&self, user_id: &UserId) -> StorageResult<Vec<RoomSummary>> {
        // A room's last activity is its newest message's timestamp (found by primary key
        // through `last_seq`), or the membership's last change before any message. The
        // counts are made for approved memberships only, each by an index range after the
        // marker: unread messages by the messages' (room, seq) key, mentions by
        // message_mentions' (user, room, seq), requests by memberships_pending.
        //
        // Edits and deletions number entries of the same seq log: the counts read
        // `messages`, which holds messages only, and skip deleted ones (a deletion also
        // removes its message_mentions rows; the join's test is a second guard).
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT r.room_id, r.room_name, m.status, m.is_admin, r.last_seq, \
                    CASE WHEN m.status = 'approved' THEN m.read_seq ELSE 0 END AS read_seq, \
                    CASE WHEN m.status = 'approved' THEN ( \
                        SELECT count(*) FROM messages u \
                        WHERE u.room_id = m.room_id AND u.seq > m.read_seq \
                        AND u.user_id <> m.user_id AND u.deleted_at IS NULL \
                    ) ELSE 0 END AS unread_count, \
                    CASE WHEN m.status = 'approved' THEN ( \
                        SELECT count(*) FROM message_mentions n \
                        JOIN messages x ON x.room_id = n.room_id AND x.seq = n.seq \
                        WHERE n.user_id = m.user_id AND n.room_id = m.room_id \
                        AND n.seq > m.read_seq AND x.user_id <> m.user_id \
                        AND x.deleted_at IS NULL \
                    ) ELSE 0 END AS mention_count, \
                    CASE WHEN m.status = 'approved' AND m.is_admin THEN ( \
                        SELECT count(*) FROM memberships p \
                        WHERE p.room_id = m.room_id AND p.status = 'pending' \
                    ) END AS pending_count \
             FROM memberships m \
             JOIN rooms r ON r.room_id = m.room_id \
             LEFT JOIN messages last ON last.room_id = r.room_id AND last.seq = r.last_seq \
             LEFT JOIN message_changes change \
                 ON change.room_id = r.room_id AND change.seq = r.last_seq \
             WHERE m.user_id = ? \
             ORDER BY COALESCE(last.timestamp, change.at, m.updated_at) DESC, r.room_id ASC",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SummaryRow::into_summary).collect()
    }

    async fn message(
        &self,
        room_id: &RoomId,
        message_id: &MessageId,
    ) -> StorageResult<Option<ChatMessage>> {
        let row: Option<MessageRow> = sqlx::query_as(log::MESSAGE)
            .bind(room_id.as_str())
            .bind(message_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(MessageRow::into_message).transpose()
    }

    async fn change_message(&self, change: &MessageChange) -> StorageResult<Changed> {
        self.writes.change_message(change).await
    }

    async fn log_after(
        &self,
        room_id: &RoomId,
        after_seq: u64,
        limit: u32,
    ) -> StorageResult<Vec<LogEntry>> {
        let rows: Vec<LogRow> = sqlx::query_as(log::LOG_AFTER)
            .bind(room_id.as_str())
            .bind(seq_bound(after_seq))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(LogRow::into_entry).collect()
    }

    async fn mark_read(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        seq: u64,
    ) -> StorageResult<Option<u64>> {
        // On the write thread, where markers that queue up behind a batch are written
        // together (docs/benchmarks.md, *Read markers in the fan-out room*).
        self.writes.mark_read(room_id, user_id, seq).await
    }

    async fn create_invite(&self, invite: &Invite) -> StorageResult<()> {
        invites::sqlite::create_invite(&self.pool, invite).await
    }

    async fn invites(&self, room_id: &RoomId) -> StorageResult<Vec<Invite>> {
        invites::sqlite::invites(&self.pool, room_id).await
    }

    async fn invite(&self, code: &InviteCode) -> StorageResult<Option<StoredInvite>> {
        invites::sqlite::invite(&self.pool, code).await
    }

    async fn revoke_invite(
        &self,
        room_id: &RoomId,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<bool> {
        invites::sqlite::revoke_invite(&self.pool, room_id, code, now).await
    }

    async fn request_with_invite(
        &self,
        change: &MembershipChange,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<InviteUse> {
        invites::sqlite::request_with_invite(&self.pool, change, code, now).await
    }

    async fn set_invite_only(&self, room_id: &RoomId, invite_only: bool) -> StorageResult<bool> {
        invites::sqlite::set_invite_only(&self.pool, room_id, invite_only).await
    }

    async fn invite_only(&self, room_id: &RoomId) -> StorageResult<Option<bool>> {
        invites::sqlite::invite_only(&self.pool, room_id).await
    }
}
