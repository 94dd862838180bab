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
            online: false,
            invite: self.invite_code.map(|code| InviteRef {
                code: InviteCode(code),
                label: self.invite_label,
            }),
        })
    }
}

/// A message row. Reads of history, catch-up and a single message also select its state
/// and the message it answers (`storage/log.rs`); others (search, export, client ids) leave
/// those columns out and read a message as plain.
#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    pub(super) room_id: String,
    pub(super) seq: i64,
    pub(super) message_id: String,
    pub(super) user_id: String,
    pub(super) body: String,
    pub(super) timestamp: i64,
    #[sqlx(default)]
    pub(super) edited_at: Option<i64>,
    #[sqlx(default)]
    pub(super) deleted_at: Option<i64>,
    #[sqlx(default)]
    pub(super) reply_id: Option<String>,
    #[sqlx(default)]
    pub(super) reply_user_id: Option<String>,
    #[sqlx(default)]
    pub(super) reply_body: Option<String>,
    #[sqlx(default)]
    pub(super) reply_deleted_at: Option<i64>,
    /// Read where a message goes to a client (history, catch-up, a retry's duplicate);
    /// reads that never show mentions (search, export) need not select it.
    #[sqlx(default)]
    pub(super) mentions: Option<String>,
}

impl MessageRow {
    pub(super) fn into_message(self) -> StorageResult<ChatMessage> {
        let deleted = self.deleted_at.is_some();
        // A tombstone shows nothing of what it was, not even what it answered.
        let reply_to = match (self.reply_id, self.reply_user_id) {
            (Some(message_id), Some(user_id)) if !deleted => Some(super::log::reply_to(
                message_id,
                user_id,
                self.reply_body.as_deref().unwrap_or_default(),
                self.reply_deleted_at.is_some(),
            )),
            _ => None,
        };
        Ok(ChatMessage {
            room_id: RoomId(self.room_id),
            user_id: UserId(self.user_id),
            message: if deleted { String::new() } else { self.body },
            timestamp: self.timestamp,
            seq: seq_from_db(self.seq)?,
            message_id: MessageId(self.message_id),
            reply_to,
            edited_at: self.edited_at,
            // A deletion clears the stored mentions; a tombstone shows none either way.
            mentions: if deleted {
                Vec::new()
            } else {
                mentions_from_db(self.mentions.as_deref())
            },
            deleted,
        })
    }
}

/// A message's mentions as the `mentions` column keeps them: user ids separated by
/// spaces (no user id holds one), `None` when there are none.
pub(super) fn mentions_to_db(mentions: &[UserId]) -> Option<String> {
    if mentions.is_empty() {
        return None;
    }
    Some(
        mentions
            .iter()
            .map(UserId::as_str)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

pub(super) fn mentions_from_db(mentions: Option<&str>) -> Vec<UserId> {
    mentions
        .map(|ids| ids.split(' ').map(UserId::new).collect())
        .unwrap_or_default()
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
    read_seq: i64,
    unread_count: i64,
    mention_count: i64,
    /// NULL unless the user is an approved admin (the query counts only for them).
    pending_count: Option<i64>,
}

impl SummaryRow {
    pub(super) fn into_summary(self) -> StorageResult<RoomSummary> {
        let status = status_from_db(&self.status)?;
        let count = |count: i64| {
            u64::try_from(count).map_err(|_| StorageError::Corrupt(format!("count {count}")))
        };
        Ok(RoomSummary {
            last_seq: seq_from_db(self.last_seq)?,
            read_seq: seq_from_db(self.read_seq)?,
            unread_count: count(self.unread_count)?,
            mention_count: count(self.mention_count)?,
            pending_count: self.pending_count.map(count).transpose()?,
            status,
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
