//! The PostgreSQL backend, for several Knock nodes sharing one database: migrations
//! embedded from `server/migrations/postgres` and run at connect (sqlx holds an advisory
//! lock meanwhile, so nodes starting together migrate once).
//!
//! The semantics are the SQLite backend's, and a batch of messages is stored the same way,
//! worked out in memory (`storage/batch.rs`) and written with a few statements per batch,
//! whatever its size (arrays and `unnest`). What differs is that other processes write at
//! the same time:
//!
//! - A batch first locks the rows of all its rooms (`SELECT ... FOR UPDATE`), in one order
//!   every node uses, and reads their `last_seq`. The locks are held until commit, so
//!   writers of one room, on any node, queue behind each other: seqs stay gapless, each
//!   room's commit order is its seq order, and two batches naming the same rooms in
//!   different orders cannot deadlock on them.
//! - Two nodes storing the same `(user, clientMsgId)` at once: the unique index makes the
//!   later insert wait for the earlier transaction; `ON CONFLICT DO NOTHING` then skips
//!   the row, which would leave a hole in the room's seqs, so the batch is rolled back and
//!   run again, and that run finds the winner's message and returns it as the duplicate.
//! - A deadlock PostgreSQL still detects rolls the batch back; it is then run again.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use knock_protocol::{
    ChatMessage, ClientMsgId, ExportedRoom, Invite, InviteCode, MemberStatus, MessageId,
    Participant, RoomId, RoomSummary, UserId,
};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::accounts;
use super::batch::{self, ClientKey};
use super::invites;
use super::log::{self, LogRow};
use super::rows::{
    FoundRow, KeyedMessageRow, MembershipRow, MessageRow, ParticipantRow, RoomRow, SinceRow,
    SummaryRow, constraint_error, is_foreign_key_violation, mentions_to_db, seq_bound, seq_from_db,
};
use super::{
    ChangeKind, Changed, Credential, FoundMessage, Inserted, InviteUse, LogEntry, Membership,
    MembershipChange, MessageChange, NewMessage, NewRoom, Precondition, Room, SearchIn,
    SearchQuery, Session, Since, Storage, StorageError, StorageResult, StoredInvite,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A membership change by its [`Precondition`] (the same statements as SQLite's, and the
/// same read marker: the room's newest seq for a new membership and on approval).
const UPSERT_ANY: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = $1), 0)) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL, \
     read_seq = CASE WHEN excluded.status = 'approved' AND memberships.status <> 'approved' \
                THEN GREATEST(excluded.read_seq, memberships.read_seq) \
                ELSE memberships.read_seq END";
const INSERT_IF_ABSENT: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = $1), 0)) \
     ON CONFLICT (room_id, user_id) DO NOTHING";
const UPSERT_IF_IS: &str = "INSERT INTO memberships \
     (room_id, user_id, status, is_admin, requested_at, updated_at, reason, read_seq) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, \
             COALESCE((SELECT last_seq FROM rooms WHERE room_id = $1), 0)) \
     ON CONFLICT (room_id, user_id) DO UPDATE SET \
     status = excluded.status, is_admin = excluded.is_admin, \
     updated_at = excluded.updated_at, reason = excluded.reason, invite_code = NULL, \
     read_seq = CASE WHEN excluded.status = 'approved' AND memberships.status <> 'approved' \
                THEN GREATEST(excluded.read_seq, memberships.read_seq) \
                ELSE memberships.read_seq END \
     WHERE memberships.status = $7 AND memberships.is_admin = $8";

/// Connections per node: the message batcher holds one at a time, the rest serve reads.
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
    /// A pooled connection idle for longer than this is pinged before it is used, and
    /// replaced if the database has closed it meanwhile.
    ///
    /// sqlx pings every connection as it goes back to the pool, and by default again as
    /// it comes out: a round trip before every query or batch (a quarter of a one-row
    /// read's time, docs/benchmarks.md, seventh round). A connection back in the pool for
    /// less than this was pinged that recently; the price is that one the database closed
    /// within that second (a restart, `pg_terminate_backend`) fails its next request
    /// instead of being replaced unseen. That request fails at its first statement, so
    /// nothing of it was stored.
    pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

    /// Connects to the database at `url` (`postgres://` or `postgresql://`), which must
    /// exist, and brings its schema up to date.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= Self::PING_AFTER_IDLE {
                        // An error closes this connection; the pool opens another.
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// One run of [`Storage::insert_messages`], in one transaction of four statements
    /// whatever the batch's size. `Ok(None)`: another node stored one of the batch's client
    /// ids after this run looked them up; nothing was stored and the batch must run again.
    async fn try_insert_messages(
        &self,
        batch: &[NewMessage],
    ) -> StorageResult<Option<Vec<Inserted>>> {
        // Either every message of the batch is stored or none is (an error returns before
        // commit; dropping `tx` rolls back).
        let mut tx = self.pool.begin_with(BEGIN_BATCH).await?;
        let room_seqs = lock_rooms(&mut tx, batch).await?;
        // A new statement, a new snapshot: every copy committed before it is visible.
        let earlier = stored_client_keys(&mut tx, &batch::client_keys(batch)).await?;
        let plan = batch::plan(batch, &earlier);
        let last_seqs: HashMap<RoomId, u64> = plan
            .rooms
            .iter()
            .filter_map(|(room_id, count)| {
                let last = room_seqs.get(room_id)?;
                Some((room_id.clone(), last + count))
            })
            .collect();
        let results = plan.resolve(batch, &last_seqs)?;
        // Empty when every message repeats a stored one: nothing to write.
        if !last_seqs.is_empty() {
            set_last_seqs(&mut tx, &last_seqs).await?;
            if insert_new(&mut tx, batch, &results).await? == Inserting::LostRace {
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(Some(results))
    }
}

/// Starts a batch's transaction. Its statements join arrays of unknown length to growing
/// tables: a plan cached for them while the tables were small (a scan of `messages` to
/// look up client ids) stays in use as they grow; measured here, it made the client id
/// lookup the busiest statement and tripled the p50 at 1,000 messages/s. Planning with the
/// actual arrays each time costs little and picks the indexes.
const BEGIN_BATCH: &str = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan";

/// Locks the row of every room the batch names, in room id order (the order every node
/// uses, so two batches naming the same rooms cannot deadlock on them), and returns each
/// existing room's `last_seq`. The locks are held until commit: writers of one room, on any
/// node, queue behind each other, so seqs stay gapless and in commit order. Unknown rooms
/// are missing from the answer, for [`batch::Plan::resolve`] to report.
async fn lock_rooms(
    tx: &mut PgConnection,
    batch: &[NewMessage],
) -> StorageResult<HashMap<RoomId, u64>> {
    let rooms: BTreeSet<&str> = batch
        .iter()
        .map(|message| message.room_id.as_str())
        .collect();
    let rooms: Vec<&str> = rooms.into_iter().collect();
    // `ORDER BY` sorts before the rows are locked, so the locks are taken in that order,
    // and `FOR UPDATE` reads the latest committed `last_seq` once it has the lock.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT room_id, last_seq FROM rooms WHERE room_id = ANY($1) \
         ORDER BY room_id FOR UPDATE",
    )
    .bind(rooms)
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .map(|(room_id, last_seq)| Ok((RoomId(room_id), seq_from_db(last_seq)?)))
        .collect()
}

/// The stored messages that carry one of `keys`, in one statement.
async fn stored_client_keys(
    tx: &mut PgConnection,
    keys: &[ClientKey],
) -> StorageResult<HashMap<ClientKey, ChatMessage>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (users, client_ids): (Vec<&str>, Vec<&str>) = keys
        .iter()
        .map(|(user, client_id)| (user.as_str(), client_id.as_str()))
        .unzip();
    let rows: Vec<KeyedMessageRow> = sqlx::query_as(log::MESSAGES_BY_CLIENT_IDS)
        .bind(users)
        .bind(client_ids)
        .fetch_all(&mut *tx)
        .await?;
    rows.into_iter().map(KeyedMessageRow::into_keyed).collect()
}

/// Moves each room's `last_seq` to the last seq this batch gives it (under its row lock).
async fn set_last_seqs(
    tx: &mut PgConnection,
    last_seqs: &HashMap<RoomId, u64>,
) -> StorageResult<()> {
    let (rooms, seqs): (Vec<&str>, Vec<i64>) = last_seqs
        .iter()
        .map(|(room_id, last)| (room_id.as_str(), seq_bound(*last)))
        .unzip();
    sqlx::query(
        "UPDATE rooms SET last_seq = v.last_seq \
         FROM unnest($1::text[], $2::bigint[]) AS v (room_id, last_seq) \
         WHERE rooms.room_id = v.room_id",
    )
    .bind(rooms)
    .bind(seqs)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Inserting {
    Done,
    /// A client id was stored by another transaction since it was looked up.
    LostRace,
}

/// Inserts the batch's new messages in one statement.
async fn insert_new(
    tx: &mut PgConnection,
    batch: &[NewMessage],
    results: &[Inserted],
) -> StorageResult<Inserting> {
    let mut rows = batch::new_rows(batch, results);
    // Client ids in one order on every node: two batches inserting the same user's ids
    // wait for each other in that order instead of deadlocking.
    rows.sort_by_key(|&(message, _)| {
        (
            message.user_id.as_str(),
            message.client_msg_id.as_ref().map(ClientMsgId::as_str),
        )
    });
    let mut columns = MessageColumns::default();
    for (message, seq) in &rows {
        columns.push(message, *seq);
    }
    // A copy of a client id that another transaction stored after the lookup (committed
    // by now: the insert waits for it) is skipped by `DO NOTHING`, which would leave a
    // hole in the room's seqs: the caller rolls back and runs the batch again, and then
    // finds that copy.
    let inserted = sqlx::query(
        "INSERT INTO messages \
         (room_id, seq, message_id, user_id, body, timestamp, client_msg_id, reply_to, \
          mentions) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], \
                              $5::text[], $6::bigint[], $7::text[], $8::text[], \
                              $9::text[]) \
         ON CONFLICT (user_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING",
    )
    .bind(columns.room_ids)
    .bind(columns.seqs)
    .bind(columns.message_ids)
    .bind(columns.user_ids)
    .bind(columns.bodies)
    .bind(columns.timestamps)
    .bind(columns.client_msg_ids)
    .bind(columns.reply_tos)
    .bind(columns.mentions)
    .execute(&mut *tx)
    .await
    // A taken `message_id` is a Conflict; an unknown user is NotFound("user").
    .map_err(|error| constraint_error(error, "user"))?;
    if inserted.rows_affected() != rows.len() as u64 {
        return Ok(Inserting::LostRace);
    }
    insert_mentions(tx, &rows).await?;
    Ok(Inserting::Done)
}

/// The rows of the new messages' mentions, in one statement, and none when no message
/// mentions anyone (a batch of plain messages costs no extra round trip).
async fn insert_mentions(tx: &mut PgConnection, rows: &[(&NewMessage, u64)]) -> StorageResult<()> {
    let mut room_ids = Vec::new();
    let mut seqs = Vec::new();
    let mut user_ids = Vec::new();
    for (message, seq) in rows {
        for user_id in &message.mentions {
            room_ids.push(message.room_id.as_str());
            seqs.push(seq_bound(*seq));
            user_ids.push(user_id.as_str());
        }
    }
    if user_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_mentions (room_id, seq, user_id) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(room_ids)
    .bind(seqs)
    .bind(user_ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// New messages as one array per column, for `unnest`.
#[derive(Default)]
struct MessageColumns<'a> {
    room_ids: Vec<&'a str>,
    seqs: Vec<i64>,
    message_ids: Vec<&'a str>,
    user_ids: Vec<&'a str>,
    bodies: Vec<&'a str>,
    timestamps: Vec<i64>,
    client_msg_ids: Vec<Option<&'a str>>,
    reply_tos: Vec<Option<&'a str>>,
    mentions: Vec<Option<String>>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, message: &'a NewMessage, seq: u64) {
        self.room_ids.push(message.room_id.as_str());
        self.seqs.push(seq_bound(seq));
        self.message_ids.push(message.message_id.as_str());
        self.user_ids.push(message.user_id.as_str());
        self.bodies.push(&message.message);
        self.timestamps.push(message.timestamp);
        self.client_msg_ids
            .push(message.client_msg_id.as_ref().map(ClientMsgId::as_str));
        self.reply_tos.push(
            message
                .reply_to
                .as_ref()
                .map(|reply| reply.message_id.as_str()),
        );
        self.mentions.push(mentions_to_db(&message.mentions));
    }
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
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT user_id, password_hash, created_at FROM users WHERE user_id = $1",
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
        accounts::postgres::set_password_hash(&self.pool, user_id, password_hash).await
    }

    async fn delete_user(&self, user_id: &UserId) -> StorageResult<bool> {
        accounts::postgres::delete_user(&self.pool, user_id).await
    }

    async fn messages_by_user(&self, user_id: &UserId) -> StorageResult<Vec<ChatMessage>> {
        accounts::postgres::messages_by_user(&self.pool, user_id).await
    }

    async fn memberships_of_user(&self, user_id: &UserId) -> StorageResult<Vec<ExportedRoom>> {
        accounts::postgres::memberships_of_user(&self.pool, user_id).await
    }

    async fn create_session(&self, session: &Session) -> StorageResult<()> {
        accounts::postgres::create_session(&self.pool, session).await
    }

    async fn session(&self, token_hash: &str) -> StorageResult<Option<Session>> {
        accounts::postgres::session(&self.pool, token_hash).await
    }

    async fn sessions_of_user(&self, user_id: &UserId) -> StorageResult<Vec<Session>> {
        accounts::postgres::sessions_of_user(&self.pool, user_id).await
    }

    async fn touch_sessions(&self, token_hashes: &[String], now: i64) -> StorageResult<()> {
        accounts::postgres::touch_sessions(&self.pool, token_hashes, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> StorageResult<Option<UserId>> {
        accounts::postgres::delete_session(&self.pool, token_hash).await
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> StorageResult<Vec<String>> {
        accounts::postgres::delete_sessions_of_user(&self.pool, user_id, keep).await
    }

    async fn delete_expired_sessions(
        &self,
        unused_since: i64,
        created_before: i64,
    ) -> StorageResult<Vec<String>> {
        accounts::postgres::delete_expired_sessions(&self.pool, unused_since, created_before).await
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

    async fn membership_since(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<Since>> {
        let row: Option<SinceRow> = sqlx::query_as(
            "SELECT status, is_admin, updated_at FROM memberships \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(SinceRow::into_since).transpose()
    }

    async fn set_memberships(&self, changes: &[MembershipChange]) -> StorageResult<Vec<bool>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        // One transaction (one commit) for the batch; an error returns before the commit
        // and dropping `tx` rolls back.
        let mut tx = self.pool.begin().await?;
        let mut stored = Vec::with_capacity(changes.len());
        for change in changes {
            // `requested_at` is set by the first insert only: the order in which users
            // first asked to join survives approvals and rejections.
            let (sql, expected) = match change.only_if {
                Precondition::Any => (UPSERT_ANY, None),
                Precondition::Absent => (INSERT_IF_ABSENT, None),
                Precondition::Is(membership) => (UPSERT_IF_IS, Some(membership)),
            };
            let mut query = sqlx::query(sql)
                .bind(change.room_id.as_str())
                .bind(change.user_id.as_str())
                .bind(change.membership.status.as_str())
                .bind(change.membership.is_admin)
                .bind(change.updated_at)
                .bind(change.reason.as_deref());
            if let Some(expected) = expected {
                query = query.bind(expected.status.as_str()).bind(expected.is_admin);
            }
            match query.execute(&mut *tx).await {
                Ok(done) => stored.push(done.rows_affected() > 0),
                Err(error) if is_foreign_key_violation(&error) => {
                    drop(tx);
                    return Err(self.missing_parent(&change.room_id).await);
                }
                Err(error) => return Err(error.into()),
            }
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn members(&self, room_id: &RoomId) -> StorageResult<Vec<Participant>> {
        let rows: Vec<ParticipantRow> = sqlx::query_as(
            // The link a request came by, with its label (kept when the link is revoked).
            "SELECT m.user_id, m.status, m.is_admin, m.reason, m.invite_code, \
                    i.label AS invite_label \
             FROM memberships AS m LEFT JOIN invites AS i ON i.code = m.invite_code \
             WHERE m.room_id = $1 \
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
        // Memberships and messages go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM rooms WHERE room_id = $1")
            .bind(room_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn insert_messages(&self, batch: &[NewMessage]) -> StorageResult<Vec<Inserted>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 1;
        loop {
            match self.try_insert_messages(batch).await {
                Ok(Some(results)) => return Ok(results),
                // Nothing of the batch was stored: run it again.
                Ok(None) if attempt < MAX_BATCH_ATTEMPTS => {
                    tracing::debug!(attempt, "another node stored a client id first; retrying");
                    attempt += 1;
                }
                Ok(None) => {
                    return Err(StorageError::Corrupt(
                        "a batch kept losing client ids to other nodes".into(),
                    ));
                }
                Err(StorageError::Database(error))
                    if attempt < MAX_BATCH_ATTEMPTS && is_retryable(&error) =>
                {
                    tracing::warn!(%error, attempt, "storing messages rolled back; retrying");
                    attempt += 1;
                }
                Err(error) => return Err(error),
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
        // The terms are bound as values ($4, $5, ...), each made a tsquery by PostgreSQL
        // with the function that indexed the bodies: nothing typed is read as syntax.
        let matches = tsquery_of(query, 4);
        let sql;
        let statement = match within {
            SearchIn::Room {
                room_id,
                before_seq,
            } => {
                sql = format!(
                    "SELECT id, room_id, seq, message_id, user_id, body, timestamp \
                     FROM messages \
                     WHERE room_id = $1 AND seq < $2 AND search_vector @@ ({matches}) \
                     ORDER BY seq DESC LIMIT $3"
                );
                sqlx::query_as::<_, FoundRow>(&sql)
                    .bind(room_id.as_str().to_owned())
                    .bind(before_seq.map_or(i64::MAX, seq_bound))
            }
            SearchIn::Rooms {
                room_ids,
                before_position,
            } => {
                if room_ids.is_empty() {
                    return Ok(Vec::new());
                }
                sql = if room_ids.len() <= ROOMS_ONE_BY_ONE {
                    // A few rooms: each is searched as a room alone (newest first by seq
                    // through the primary key, or the word's index for a rare word), so
                    // the work grows with the user's rooms, not with the matches in all
                    // the others.
                    format!(
                        "SELECT found.* FROM unnest($1::text[]) AS mine (room_id) \
                         CROSS JOIN LATERAL ( \
                             SELECT id, room_id, seq, message_id, user_id, body, timestamp \
                             FROM messages \
                             WHERE room_id = mine.room_id AND id < $2 \
                             AND search_vector @@ ({matches}) \
                             ORDER BY seq DESC LIMIT $3 \
                         ) AS found \
                         ORDER BY found.id DESC LIMIT $3"
                    )
                } else {
                    // Many rooms: newest first through the index on id, the planner
                    // choosing the word's index instead when the word is rare.
                    format!(
                        "SELECT id, room_id, seq, message_id, user_id, body, timestamp \
                         FROM messages \
                         WHERE room_id = ANY($1) AND id < $2 AND search_vector @@ ({matches}) \
                         ORDER BY id DESC LIMIT $3"
                    )
                };
                sqlx::query_as::<_, FoundRow>(&sql)
                    .bind(
                        room_ids
                            .iter()
                            .map(|room| room.0.clone())
                            .collect::<Vec<_>>(),
                    )
                    .bind(before_position.unwrap_or(i64::MAX))
            }
        };
        let statement = query
            .terms
            .iter()
            .fold(statement.bind(i64::from(limit)), |statement, term| {
                statement.bind(term.words.join(" "))
            });
        // Planned for each search with its own words (not prepared once and reused with a
        // generic plan): whether a word is rare or common decides between its index and
        // walking the rooms newest first, and a generic plan took 2 s for a common word.
        let rows = statement.persistent(false).fetch_all(&self.pool).await?;
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
             WHERE m.user_id = $1 \
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
        // The room's row lock, as a message batch takes it: writers of the room's log, on
        // any node, queue behind each other, so seqs stay gapless and in commit order.
        let mut tx = self.pool.begin().await?;
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM rooms WHERE room_id = $1 FOR UPDATE")
                .bind(change.room_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(StorageError::NotFound("room"));
        }
        // Read under the lock: a deletion committed by another node meanwhile is seen.
        let current: Option<(String, bool)> = sqlx::query_as(log::CURRENT)
            .bind(change.room_id.as_str())
            .bind(change.message_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(refused) = log::refusal(
            current
                .as_ref()
                .map(|(body, deleted)| (body.as_str(), *deleted)),
            &change.kind,
        ) {
            return Ok(refused);
        }
        let seq: i64 = sqlx::query_scalar(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE room_id = $1 RETURNING last_seq",
        )
        .bind(change.room_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let (kind, body) = log::kind_and_body(&change.kind);
        sqlx::query(log::INSERT_CHANGE)
            .bind(change.room_id.as_str())
            .bind(seq)
            .bind(change.message_id.as_str())
            .bind(kind)
            .bind(body)
            .bind(change.at)
            .execute(&mut *tx)
            .await?;
        let apply = match &change.kind {
            ChangeKind::Edit(text) => sqlx::query(log::APPLY_EDIT)
                .bind(change.room_id.as_str())
                .bind(change.message_id.as_str())
                .bind(text.as_str())
                .bind(change.at),
            ChangeKind::Delete => {
                sqlx::query(log::DELETE_MENTIONS)
                    .bind(change.room_id.as_str())
                    .bind(change.message_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(log::APPLY_DELETE)
                    .bind(change.room_id.as_str())
                    .bind(change.message_id.as_str())
                    .bind(change.at)
            }
        };
        apply.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Changed::Stored(log::entry(change, seq_from_db(seq)?)))
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
        // One statement: the marker moves forward only, and not past the room's newest seq.
        let moved: Option<i64> = sqlx::query_scalar(
            "UPDATE memberships \
             SET read_seq = LEAST($3, (SELECT last_seq FROM rooms WHERE room_id = $1)) \
             WHERE room_id = $1 AND user_id = $2 AND status = 'approved' \
             AND read_seq < LEAST($3, (SELECT last_seq FROM rooms WHERE room_id = $1)) \
             RETURNING read_seq",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .bind(seq_bound(seq))
        .fetch_optional(&self.pool)
        .await?;
        moved.map(seq_from_db).transpose()
    }

    async fn create_invite(&self, invite: &Invite) -> StorageResult<()> {
        invites::postgres::create_invite(&self.pool, invite).await
    }

    async fn invites(&self, room_id: &RoomId) -> StorageResult<Vec<Invite>> {
        invites::postgres::invites(&self.pool, room_id).await
    }

    async fn invite(&self, code: &InviteCode) -> StorageResult<Option<StoredInvite>> {
        invites::postgres::invite(&self.pool, code).await
    }

    async fn revoke_invite(
        &self,
        room_id: &RoomId,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<bool> {
        invites::postgres::revoke_invite(&self.pool, room_id, code, now).await
    }

    async fn request_with_invite(
        &self,
        change: &MembershipChange,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<InviteUse> {
        invites::postgres::request_with_invite(&self.pool, change, code, now).await
    }

    async fn set_invite_only(&self, room_id: &RoomId, invite_only: bool) -> StorageResult<bool> {
        invites::postgres::set_invite_only(&self.pool, room_id, invite_only).await
    }

    async fn invite_only(&self, room_id: &RoomId) -> StorageResult<Option<bool>> {
        invites::postgres::invite_only(&self.pool, room_id).await
    }
}

/// Most rooms a search across rooms takes one by one (see `search_messages`).
const ROOMS_ONE_BY_ONE: usize = 32;

/// The tsquery of every term, for terms bound from parameter `$first` on: each term's
/// words as a phrase, folded as the bodies were (`knock_search_text`, migration 0004).
fn tsquery_of(query: &SearchQuery, first: usize) -> String {
    (first..first + query.terms.len())
        .map(|param| {
            format!("phraseto_tsquery('pg_catalog.simple'::regconfig, knock_search_text(${param}))")
        })
        .collect::<Vec<_>>()
        .join(" && ")
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
