//! A room's log as both backends read it: messages joined with the message each answers,
//! and the changes (edits, deletions) that share the room's `seq`s. The statements are
//! the same for both engines (sqlx reads `$1` on SQLite too); rows stay here.

use knock_protocol::{MessageId, ReplyTo, RoomId, UserId};

use super::rows::{MessageRow, seq_from_db};
use super::{ChangeKind, Changed, LogEntry, StorageError, StorageResult};

/// A message's columns, with the answered message (`r`) as it reads now.
macro_rules! message_columns {
    () => {
        "m.room_id, m.seq, m.message_id, m.user_id, m.body, m.timestamp, m.edited_at, \
         m.deleted_at, r.message_id AS reply_id, r.user_id AS reply_user_id, \
         r.body AS reply_body, r.deleted_at AS reply_deleted_at, m.mentions"
    };
}

/// Messages with the message each answers (same room only).
macro_rules! messages_with_replies {
    () => {
        "messages m LEFT JOIN messages r ON r.message_id = m.reply_to AND r.room_id = m.room_id"
    };
}

/// The room's newest `$3` messages with `seq < $2`, oldest first.
pub(super) const MESSAGES_BEFORE: &str = concat!(
    "SELECT * FROM (SELECT ",
    message_columns!(),
    " FROM ",
    messages_with_replies!(),
    " WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3) AS page \
     ORDER BY seq ASC"
);

/// The room's oldest `$3` messages with `seq > $2`.
pub(super) const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM ",
    messages_with_replies!(),
    " WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
);

/// The room's message with id `$2`.
pub(super) const MESSAGE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM ",
    messages_with_replies!(),
    " WHERE m.room_id = $1 AND m.message_id = $2"
);

/// The message user `$1` stored with client id `$2` (a retry finds it as it reads now).
pub(super) const MESSAGE_BY_CLIENT_ID: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM ",
    messages_with_replies!(),
    " WHERE m.user_id = $1 AND m.client_msg_id = $2"
);

/// The messages stored with the (user, client id) pairs of the arrays `$1` and `$2`, with
/// the client id (PostgreSQL: `unnest`).
pub(super) const MESSAGES_BY_CLIENT_IDS: &str = concat!(
    "SELECT ",
    message_columns!(),
    ", m.client_msg_id \
     FROM unnest($1::text[], $2::text[]) AS k (user_id, client_msg_id) \
     JOIN messages m ON m.user_id = k.user_id AND m.client_msg_id = k.client_msg_id \
     LEFT JOIN messages r ON r.message_id = m.reply_to AND r.room_id = m.room_id"
);

/// The first `$3` entries of the room's log after `$2`: the first `$3` messages and the
/// first `$3` changes, merged by `seq`, in one statement (one snapshot: a change is never
/// read without the messages before it).
pub(super) const LOG_AFTER: &str = concat!(
    "SELECT * FROM (SELECT 'message' AS kind, ",
    message_columns!(),
    " FROM ",
    messages_with_replies!(),
    " WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3) AS new_messages \
     UNION ALL \
     SELECT * FROM (SELECT c.kind, c.room_id, c.seq, c.message_id, CAST(NULL AS TEXT), \
         c.body, c.at, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), \
         CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT) \
         FROM message_changes c WHERE c.room_id = $1 AND c.seq > $2 \
         ORDER BY c.seq ASC LIMIT $3) AS new_changes \
     ORDER BY seq ASC LIMIT $3"
);

/// What a reply shows of the message it answers.
pub(crate) fn reply_to(message_id: String, user_id: String, body: &str, deleted: bool) -> ReplyTo {
    ReplyTo {
        message_id: MessageId(message_id),
        user_id: UserId(user_id),
        excerpt: if deleted {
            String::new()
        } else {
            knock_protocol::ReplyTo::excerpt_of(body).to_owned()
        },
        deleted,
    }
}

/// An entry of [`LOG_AFTER`]: a message (every column) or a change (`kind`, the room,
/// `seq`, the message id, `body` for an edit and `timestamp` for its time).
#[derive(sqlx::FromRow)]
pub(super) struct LogRow {
    kind: String,
    room_id: String,
    seq: i64,
    message_id: String,
    user_id: Option<String>,
    body: Option<String>,
    timestamp: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    reply_id: Option<String>,
    reply_user_id: Option<String>,
    reply_body: Option<String>,
    reply_deleted_at: Option<i64>,
    mentions: Option<String>,
}

impl LogRow {
    pub(super) fn into_entry(self) -> StorageResult<LogEntry> {
        let seq = seq_from_db(self.seq)?;
        match self.kind.as_str() {
            "message" => MessageRow {
                room_id: self.room_id,
                seq: self.seq,
                message_id: self.message_id,
                user_id: self.user_id.unwrap_or_default(),
                body: self.body.unwrap_or_default(),
                timestamp: self.timestamp,
                edited_at: self.edited_at,
                deleted_at: self.deleted_at,
                reply_id: self.reply_id,
                reply_user_id: self.reply_user_id,
                reply_body: self.reply_body,
                reply_deleted_at: self.reply_deleted_at,
                mentions: self.mentions,
            }
            .into_message()
            .map(LogEntry::Message),
            EDIT => Ok(LogEntry::Edited {
                room_id: RoomId(self.room_id),
                message_id: MessageId(self.message_id),
                message: self.body.unwrap_or_default(),
                edited_at: self.timestamp,
                seq,
            }),
            DELETE => Ok(LogEntry::Deleted {
                room_id: RoomId(self.room_id),
                message_id: MessageId(self.message_id),
                seq,
            }),
            other => Err(StorageError::Corrupt(format!(
                "unknown change kind {other:?}"
            ))),
        }
    }
}

/// `message_changes.kind` of an edit and of a deletion.
pub(super) const EDIT: &str = "edit";
pub(super) const DELETE: &str = "delete";

/// A change as stored: its kind and the new text (an edit's).
pub(super) fn kind_and_body(kind: &ChangeKind) -> (&'static str, Option<&str>) {
    match kind {
        ChangeKind::Edit(text) => (EDIT, Some(text)),
        ChangeKind::Delete => (DELETE, None),
    }
}

/// Whether a change to a message in this state (`None`: not in the room; its text, and
/// whether it was deleted) is refused or changes nothing, before any `seq` is taken.
pub(super) fn refusal(current: Option<(&str, bool)>, kind: &ChangeKind) -> Option<Changed> {
    match (current, kind) {
        (None, _) => Some(Changed::NotFound),
        (Some((_, true)), _) => Some(Changed::AlreadyDeleted),
        (Some((body, false)), ChangeKind::Edit(text)) if body == text => Some(Changed::Unchanged),
        _ => None,
    }
}

/// The entry a stored change is.
pub(super) fn entry(change: &super::MessageChange, seq: u64) -> LogEntry {
    match &change.kind {
        ChangeKind::Edit(text) => LogEntry::Edited {
            room_id: change.room_id.clone(),
            message_id: change.message_id.clone(),
            message: text.clone(),
            edited_at: change.at,
            seq,
        },
        ChangeKind::Delete => LogEntry::Deleted {
            room_id: change.room_id.clone(),
            message_id: change.message_id.clone(),
            seq,
        },
    }
}

/// The statements of a change, after its `seq` is taken (`$1` room, `$2` seq, `$3` message
/// id, `$4` kind, `$5` body, `$6` time).
pub(super) const INSERT_CHANGE: &str = "INSERT INTO message_changes \
     (room_id, seq, message_id, kind, body, at) VALUES ($1, $2, $3, $4, $5, $6)";
/// `$1` room, `$2` message id, `$3` new text, `$4` time.
pub(super) const APPLY_EDIT: &str =
    "UPDATE messages SET body = $3, edited_at = $4 WHERE room_id = $1 AND message_id = $2";
/// `$1` room, `$2` message id, `$3` time. The text, the reply and the mentions go;
/// nothing of the message is kept but that it was there.
pub(super) const APPLY_DELETE: &str = "UPDATE messages SET body = '', reply_to = NULL, \
     mentions = NULL, deleted_at = $3 WHERE room_id = $1 AND message_id = $2";
/// A deleted message's rows of `message_mentions` (`$1` room, `$2` message id), in the
/// deletion's transaction: a tombstone counts as nobody's mention.
pub(super) const DELETE_MENTIONS: &str = "DELETE FROM message_mentions WHERE room_id = $1 \
     AND seq = (SELECT seq FROM messages WHERE room_id = $1 AND message_id = $2)";
/// The message's text and whether it was deleted (`$1` room, `$2` message id).
pub(super) const CURRENT: &str = "SELECT body, deleted_at IS NOT NULL FROM messages \
     WHERE room_id = $1 AND message_id = $2";
