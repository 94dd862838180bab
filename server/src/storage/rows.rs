//! Rows as both backends read them (`sqlx::FromRow` works for any database), and the
//! conversions to domain types. Nothing here leaves the storage module.

use knock_protocol::{
    ChatMessage, InviteCode, InviteRef, MemberStatus, MessageId, Participant, RoomId, RoomSummary,
    UserId,
};

use super::{Membership, Room, Since, StorageError, StorageResult};

#[derive(sqlx::FromRow)]
pub(super) struct RoomRow {
    room_id: String,
    room_name: String,
    last_seq: i64,
}

impl RoomRow {
    pub(super) fn into_room(self) -> StorageResult<Room> {
        Ok(Room {
            room_id: RoomId(self.room_id),
            room_name: self.room_name,
            last_seq: seq_from_db(self.last_seq)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MembershipRow {
    status: String,
    is_admin: bool,
}

impl MembershipRow {
    pub(super) fn into_membership(self) -> StorageResult<Membership> {
        Ok(Membership {
            status: status_from_db(&self.status)?,
            is_admin: self.is_admin,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SinceRow {
    status: String,
    is_admin: bool,
    updated_at: i64,
}

impl SinceRow {
    pub(super) fn into_since(self) -> StorageResult<Since> {
        Ok(Since {
            membership: Membership {
                status: status_from_db(&self.status)?,
                is_admin: self.is_admin,
            },
            updated_at_ms: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ParticipantRow {
    user_id: String,
    status: String,
    is_admin: bool,
    reason: Option<String>,
    invite_code: Option<String>,
    invite_label: Option<String>,
}

impl ParticipantRow {
    pub(super) fn into_participant(self) -> StorageResult<Participant> {
        Ok(Participant {
            status: status_from_db(&self.status)?,
            user_id: UserId(self.user_id),
            is_admin: self.is_admin,
            reason: self.reason,
            invite: self.invite_code.map(|code| InviteRef {
                code: InviteCode(code),
                label: self.invite_label,
            }),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    room_id: String,
    seq: i64,
    message_id: String,
    user_id: String,
    body: String,
    timestamp: i64,
}

impl MessageRow {
    pub(super) fn into_message(self) -> StorageResult<ChatMessage> {
        Ok(ChatMessage {
            room_id: RoomId(self.room_id),
            user_id: UserId(self.user_id),
            message: self.body,
            timestamp: self.timestamp,
            seq: seq_from_db(self.seq)?,
            message_id: MessageId(self.message_id),
        })
    }
}

/// A message found by a search, with its position in the order messages were stored.
#[derive(sqlx::FromRow)]
pub(super) struct FoundRow {
    id: i64,
    #[sqlx(flatten)]
    message: MessageRow,
}

impl FoundRow {
    pub(super) fn into_found(self) -> StorageResult<super::FoundMessage> {
        Ok(super::FoundMessage {
            message: self.message.into_message()?,
            position: self.id,
        })
    }
}

/// A stored message with the client id it was sent with (for deduplication).
#[derive(sqlx::FromRow)]
pub(super) struct KeyedMessageRow {
    #[sqlx(flatten)]
    message: MessageRow,
    client_msg_id: String,
}

impl KeyedMessageRow {
    pub(super) fn into_keyed(self) -> StorageResult<((UserId, String), ChatMessage)> {
        let message = self.message.into_message()?;
        Ok(((message.user_id.clone(), self.client_msg_id), message))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    room_id: String,
    room_name: String,
    status: String,
    is_admin: bool,
    last_seq: i64,
}

impl SummaryRow {
    pub(super) fn into_summary(self) -> StorageResult<RoomSummary> {
        Ok(RoomSummary {
            status: status_from_db(&self.status)?,
            last_seq: seq_from_db(self.last_seq)?,
            room_id: RoomId(self.room_id),
            room_name: self.room_name,
            is_admin: self.is_admin,
        })
    }
}

pub(super) fn status_from_db(status: &str) -> StorageResult<MemberStatus> {
    MemberStatus::parse(status)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown membership status {status:?}")))
}

pub(super) fn seq_from_db(seq: i64) -> StorageResult<u64> {
    u64::try_from(seq).map_err(|_| StorageError::Corrupt(format!("negative seq {seq}")))
}

/// A seq from a request, as a query bound: seqs never reach `i64::MAX`, so clamping
/// keeps `seq < bound` and `seq > bound` exact.
pub(super) fn seq_bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(sqlx::error::DatabaseError::is_foreign_key_violation)
}

/// A taken unique key becomes [`StorageError::Conflict`], a missing parent row
/// [`StorageError::NotFound`] naming `parent`; anything else stays a database error.
pub(super) fn constraint_error(error: sqlx::Error, parent: &'static str) -> StorageError {
    match error.as_database_error() {
        Some(db) if db.is_unique_violation() => StorageError::Conflict,
        Some(db) if db.is_foreign_key_violation() => StorageError::NotFound(parent),
        _ => StorageError::Database(error),
    }
}

/// [`is_foreign_key_violation`] for the SQLite write thread's driver.
pub(super) fn rusqlite_is_foreign_key_violation(error: &rusqlite::Error) -> bool {
    error
        .sqlite_error()
        .is_some_and(|failure| failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// [`constraint_error`] for the SQLite write thread's driver.
pub(super) fn rusqlite_constraint_error(
    error: rusqlite::Error,
    parent: &'static str,
) -> StorageError {
    use rusqlite::ffi;
    match error.sqlite_error().map(|failure| failure.extended_code) {
        Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            StorageError::Conflict
        }
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StorageError::NotFound(parent),
        _ => StorageError::Sqlite(error),
    }
}
