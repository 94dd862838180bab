//! Users' sessions and account deletion, the same SQL on both engines (sqlx binds `$N` on
//! SQLite as on PostgreSQL): [`account_queries!`] writes the functions once per engine,
//! and each backend's `Storage` methods call them.

use knock_protocol::{ChatMessage, ExportedRoom, RoomId, UserId};

use super::rows::{MessageRow, status_from_db};
use super::{Session, StorageResult};

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    token_hash: String,
    session_id: String,
    user_id: String,
    created_at: i64,
    last_used_at: i64,
    user_agent: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Self {
            token_hash: row.token_hash,
            session_id: row.session_id,
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            user_agent: row.user_agent,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ExportedRoomRow {
    room_id: String,
    room_name: String,
    status: String,
    is_admin: bool,
    updated_at: i64,
    reason: Option<String>,
}

impl ExportedRoomRow {
    fn into_exported(self) -> StorageResult<ExportedRoom> {
        Ok(ExportedRoom {
            room_id: RoomId(self.room_id),
            room_name: self.room_name,
            status: status_from_db(&self.status)?,
            is_admin: self.is_admin,
            since: self.updated_at,
            reason: self.reason,
        })
    }
}

pub(super) fn sessions(rows: Vec<SessionRow>) -> Vec<Session> {
    rows.into_iter().map(Session::from).collect()
}

pub(super) fn exported_rooms(rows: Vec<ExportedRoomRow>) -> StorageResult<Vec<ExportedRoom>> {
    rows.into_iter()
        .map(ExportedRoomRow::into_exported)
        .collect()
}

pub(super) fn messages(rows: Vec<MessageRow>) -> StorageResult<Vec<ChatMessage>> {
    rows.into_iter().map(MessageRow::into_message).collect()
}

const SESSION_COLUMNS: &str =
    "token_hash, session_id, user_id, created_at, last_used_at, user_agent";

/// The account functions for one engine's pool.
macro_rules! account_queries {
    ($db:ty) => {
        use knock_protocol::{ChatMessage, DELETED_USER, ExportedRoom, UserId};
        use sqlx::Pool;

        use super::super::accounts::{
            ExportedRoomRow, SESSION_COLUMNS, SessionRow, exported_rooms, messages, sessions,
        };
        use super::super::rows::{MessageRow, constraint_error};
        use super::super::{Session, StorageResult};

        pub(crate) async fn set_password_hash(
            pool: &Pool<$db>,
            user_id: &UserId,
            password_hash: &str,
        ) -> StorageResult<bool> {
            let updated = sqlx::query("UPDATE users SET password_hash = $2 WHERE user_id = $1")
                .bind(user_id.as_str())
                .bind(password_hash)
                .execute(pool)
                .await?;
            Ok(updated.rows_affected() > 0)
        }

        pub(crate) async fn delete_user(pool: &Pool<$db>, user_id: &UserId) -> StorageResult<bool> {
            // Writes first: a SQLite transaction that read first could not take the write
            // lock later without failing at once.
            let mut tx = pool.begin().await?;
            for statement in [
                "UPDATE messages SET user_id = $2, client_msg_id = NULL WHERE user_id = $1",
                "UPDATE rooms SET admin_user_id = $2 WHERE admin_user_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(user_id.as_str())
                    .bind(DELETED_USER)
                    .execute(&mut *tx)
                    .await?;
            }
            // Sessions and memberships go with the user (ON DELETE CASCADE).
            let deleted = sqlx::query("DELETE FROM users WHERE user_id = $1 AND user_id <> $2")
                .bind(user_id.as_str())
                .bind(DELETED_USER)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(deleted.rows_affected() > 0)
        }

        pub(crate) async fn messages_by_user(
            pool: &Pool<$db>,
            user_id: &UserId,
        ) -> StorageResult<Vec<ChatMessage>> {
            let rows: Vec<MessageRow> = sqlx::query_as(
                // Current text; deleted messages are left out: their text is not kept,
                // and an empty row would export nothing of the user's.
                "SELECT room_id, seq, message_id, user_id, body, timestamp FROM messages \
                 WHERE user_id = $1 AND deleted_at IS NULL ORDER BY timestamp, room_id, seq",
            )
            .bind(user_id.as_str())
            .fetch_all(pool)
            .await?;
            messages(rows)
        }

        pub(crate) async fn memberships_of_user(
            pool: &Pool<$db>,
            user_id: &UserId,
        ) -> StorageResult<Vec<ExportedRoom>> {
            let rows: Vec<ExportedRoomRow> = sqlx::query_as(
                "SELECT r.room_id, r.room_name, m.status, m.is_admin, m.updated_at, m.reason \
                 FROM memberships m JOIN rooms r ON r.room_id = m.room_id \
                 WHERE m.user_id = $1 ORDER BY m.requested_at, r.room_id",
            )
            .bind(user_id.as_str())
            .fetch_all(pool)
            .await?;
            exported_rooms(rows)
        }

        pub(crate) async fn create_session(
            pool: &Pool<$db>,
            session: &Session,
        ) -> StorageResult<()> {
            sqlx::query(&format!(
                "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&session.token_hash)
            .bind(&session.session_id)
            .bind(session.user_id.as_str())
            .bind(session.created_at)
            .bind(session.created_at)
            .bind(session.user_agent.as_deref())
            .execute(pool)
            .await
            .map_err(|error| constraint_error(error, "user"))?;
            Ok(())
        }

        pub(crate) async fn session(
            pool: &Pool<$db>,
            token_hash: &str,
        ) -> StorageResult<Option<Session>> {
            let row: Option<SessionRow> = sqlx::query_as(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1"
            ))
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(Session::from))
        }

        pub(crate) async fn sessions_of_user(
            pool: &Pool<$db>,
            user_id: &UserId,
        ) -> StorageResult<Vec<Session>> {
            let rows: Vec<SessionRow> = sqlx::query_as(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 \
                 ORDER BY last_used_at DESC, created_at DESC, session_id"
            ))
            .bind(user_id.as_str())
            .fetch_all(pool)
            .await?;
            Ok(sessions(rows))
        }

        pub(crate) async fn touch_sessions(
            pool: &Pool<$db>,
            token_hashes: &[String],
            now: i64,
        ) -> StorageResult<()> {
            if token_hashes.is_empty() {
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            for hash in token_hashes {
                sqlx::query(
                    "UPDATE sessions SET last_used_at = $2 \
                     WHERE token_hash = $1 AND last_used_at < $2",
                )
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        pub(crate) async fn delete_session(
            pool: &Pool<$db>,
            token_hash: &str,
        ) -> StorageResult<Option<UserId>> {
            let user: Option<String> =
                sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
                    .bind(token_hash)
                    .fetch_optional(pool)
                    .await?;
            Ok(user.map(UserId))
        }

        pub(crate) async fn delete_sessions_of_user(
            pool: &Pool<$db>,
            user_id: &UserId,
            keep: Option<&str>,
        ) -> StorageResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 \
                 RETURNING token_hash",
            )
            .bind(user_id.as_str())
            .bind(keep.unwrap_or(""))
            .fetch_all(pool)
            .await?)
        }

        pub(crate) async fn delete_expired_sessions(
            pool: &Pool<$db>,
            unused_since: i64,
            created_before: i64,
        ) -> StorageResult<Vec<String>> {
            Ok(sqlx::query_scalar(
                "DELETE FROM sessions WHERE last_used_at < $1 OR created_at < $2 \
                 RETURNING token_hash",
            )
            .bind(unused_since)
            .bind(created_before)
            .fetch_all(pool)
            .await?)
        }
    };
}

pub(super) mod sqlite {
    account_queries!(sqlx::Sqlite);
}

pub(super) mod postgres {
    account_queries!(sqlx::Postgres);
}
