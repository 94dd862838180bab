//! Storage: one trait, one backend per database engine, one contract test suite
//! (`server/tests/storage_contract.rs`) that every backend passes.
//!
//! Only domain and protocol types cross this boundary; row structs stay in the backends.

mod accounts;
mod batch;
mod invites;
mod log;
mod postgres;
mod rows;
mod sqlite;
mod sqlite_write_thread;

use std::sync::Arc;

use async_trait::async_trait;
use knock_protocol::{
    ChatMessage, ClientMsgId, ExportedRoom, Invite, InviteCode, MessageId, Participant, ReplyTo,
    RoomId, RoomSummary, ServerMessage, UserId,
};

pub use crate::domain::invites::StoredInvite;
/// Defined with the rules, which must not depend on storage; stored here as it is.
pub use crate::domain::search::{SearchQuery, SearchTerm};
pub use crate::domain::{Membership, Since};
pub use invites::InviteUse;
pub(crate) use log::reply_to;
pub use postgres::PostgresStorage;
pub(crate) use sqlite::SqliteStorage;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique key is taken (a username, a room id).
    #[error("already exists")]
    Conflict,
    /// A row that should exist does not (for example a membership of an unknown room).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The `DATABASE_URL` names an engine this build does not support.
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite write thread (`sqlite_write_thread`), which does not use sqlx.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The system refused a folder or a thread the storage needs (a throwaway database's
    /// folder, the SQLite write thread).
    #[error("storage i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The SQLite write thread has stopped (it can only have panicked).
    #[error("the SQLite write thread has stopped")]
    WriteThreadStopped,
    /// The transaction that wrote this together with others failed (the first of them
    /// carries the database's error).
    #[error("a write batched with others failed: {0}")]
    BatchFailed(String),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value that cannot be read back (for example an unknown status).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StorageResult<T> = Result<T, StorageError>;

/// A user's stored password hash, for login.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub user_id: UserId,
    pub password_hash: String,
    pub created_at: i64,
}

/// Without the hash: a `{:?}` in a log line must not hand it to an offline guesser.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user_id", &self.user_id)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A signed-in device. Kept by the hash of its token only; `session_id` names it in
/// lists and revocations and cannot be used to sign in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub session_id: String,
    pub user_id: UserId,
    pub created_at: i64,
    /// Set to `created_at` by [`Storage::create_session`], then by
    /// [`Storage::touch_sessions`].
    pub last_used_at: i64,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRoom {
    pub room_id: RoomId,
    pub room_name: String,
    pub admin: UserId,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    pub room_id: RoomId,
    pub room_name: String,
    /// The newest message's `seq`; 0 before the first message.
    pub last_seq: u64,
}

/// What a membership change expects to find: it is stored only while the row is as the
/// rule that made it saw it, so that of two changes decided on the same state (a ban and
/// an approval of one user, on two nodes) the second is not stored over the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Stored whatever the row holds.
    #[default]
    Any,
    /// Stored only if the user has no membership of the room yet.
    Absent,
    /// Stored only if the membership is still this.
    Is(Membership),
}

/// One membership to insert or update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub membership: Membership,
    pub only_if: Precondition,
    /// A request's message to the admins, or an admin's reason; replaces the one kept.
    pub reason: Option<String>,
    pub updated_at: i64,
}

/// A message to store; `seq` is given by the storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub message: String,
    pub timestamp: i64,
    pub message_id: MessageId,
    pub client_msg_id: Option<ClientMsgId>,
    /// The message of the same room this one answers, as it read when the reply was
    /// checked (only its id is stored; reads join the answered message as it is then).
    pub reply_to: Option<ReplyTo>,
    /// The members the text mentions ([`crate::domain::mentions`]), stored with it.
    pub mentions: Vec<UserId>,
}

/// What an edit or a deletion does to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The new text.
    Edit(String),
    Delete,
}

/// An edit or a deletion to store; its `seq` is given by the storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageChange {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub kind: ChangeKind,
    pub at: i64,
}

/// What [`Storage::change_message`] did.
#[allow(
    clippy::large_enum_variant,
    reason = "one is returned per edit or deletion and moved straight into a frame"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Stored with the room's next `seq`.
    Stored(LogEntry),
    /// The room has no message with that id; nothing stored.
    NotFound,
    /// The message was deleted already; nothing stored.
    AlreadyDeleted,
    /// An edit to the text the message already has; nothing stored.
    Unchanged,
}

/// One entry of a room's log, which numbers messages and the changes to them with one
/// gapless `seq` (see `docs/reliability.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A message, as it reads now (a tombstone once deleted).
    Message(ChatMessage),
    Edited {
        room_id: RoomId,
        message_id: MessageId,
        message: String,
        edited_at: i64,
        seq: u64,
    },
    Deleted {
        room_id: RoomId,
        message_id: MessageId,
        seq: u64,
    },
}

impl LogEntry {
    pub fn seq(&self) -> u64 {
        match self {
            Self::Message(message) => message.seq,
            Self::Edited { seq, .. } | Self::Deleted { seq, .. } => *seq,
        }
    }

    /// The frame a client is sent for this entry.
    pub fn into_frame(self) -> ServerMessage {
        match self {
            Self::Message(message) => ServerMessage::Message(message),
            Self::Edited {
                room_id,
                message_id,
                message,
                edited_at,
                seq,
            } => ServerMessage::MessageEdited {
                room_id,
                message_id,
                message,
                edited_at,
                seq,
            },
            Self::Deleted {
                room_id,
                message_id,
                seq,
            } => ServerMessage::MessageDeleted {
                room_id,
                message_id,
                seq,
            },
        }
    }
}

/// What happened to one message of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now, with its new `seq`.
    New(ChatMessage),
    /// The same user had already stored this `clientMsgId`: the earlier message, unchanged.
    Duplicate(ChatMessage),
}

impl Inserted {
    pub fn message(&self) -> &ChatMessage {
        match self {
            Self::New(message) | Self::Duplicate(message) => message,
        }
    }
}

/// Where [`Storage::search_messages`] looks. Who may read the rooms is the caller's
/// business; storage only searches the rooms it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchIn<'a> {
    /// One room, newest first by `seq`; only `seq < before_seq` when given.
    Room {
        room_id: &'a RoomId,
        before_seq: Option<u64>,
    },
    /// These rooms, newest first in the order messages were stored (their
    /// [`FoundMessage::position`]); only positions below `before_position` when given.
    Rooms {
        room_ids: &'a [RoomId],
        before_position: Option<i64>,
    },
}

/// A message [`Storage::search_messages`] found, with its place in the order messages were
/// stored (unique, increasing with each message stored), for the next page's cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundMessage {
    pub message: ChatMessage,
    pub position: i64,
}

/// Everything Knock keeps. Each method is one transaction.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Stores a new user; [`StorageError::Conflict`] when the id is taken.
    async fn create_user(
        &self,
        user_id: &UserId,
        password_hash: &str,
        created_at: i64,
    ) -> StorageResult<()>;
    async fn credential(&self, user_id: &UserId) -> StorageResult<Option<Credential>>;

    /// A new password hash for an existing user; whether the user exists.
    async fn set_password_hash(&self, user_id: &UserId, password_hash: &str)
    -> StorageResult<bool>;
    /// Deletes the user in one transaction: their messages are kept, attributed to
    /// [`knock_protocol::DELETED_USER`] (without their `clientMsgId`s), rooms they created
    /// are credited to it too, and their sessions and memberships go. Whether the user
    /// existed.
    async fn delete_user(&self, user_id: &UserId) -> StorageResult<bool>;
    /// Every message the user wrote, oldest first (by time, then room and `seq`).
    async fn messages_by_user(&self, user_id: &UserId) -> StorageResult<Vec<ChatMessage>>;
    /// Every membership of the user's, of every status, with its reason and time.
    async fn memberships_of_user(&self, user_id: &UserId) -> StorageResult<Vec<ExportedRoom>>;

    /// Stores a new session; [`StorageError::NotFound`] (`"user"`) for an unknown user.
    async fn create_session(&self, session: &Session) -> StorageResult<()>;
    async fn session(&self, token_hash: &str) -> StorageResult<Option<Session>>;
    /// The user's sessions, most recently used first.
    async fn sessions_of_user(&self, user_id: &UserId) -> StorageResult<Vec<Session>>;
    /// Marks the sessions used at `now` (a time earlier than the stored one changes
    /// nothing).
    async fn touch_sessions(&self, token_hashes: &[String], now: i64) -> StorageResult<()>;
    /// Deletes the session; the user it belonged to, if it existed.
    async fn delete_session(&self, token_hash: &str) -> StorageResult<Option<UserId>>;
    /// Deletes every session of the user but `keep`; the token hashes deleted.
    async fn delete_sessions_of_user(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> StorageResult<Vec<String>>;
    /// Deletes the sessions last used before `unused_since` or created before
    /// `created_before`; the token hashes deleted.
    async fn delete_expired_sessions(
        &self,
        unused_since: i64,
        created_before: i64,
    ) -> StorageResult<Vec<String>>;

    /// Stores the room and its admin's approved membership together.
    async fn create_room(&self, room: &NewRoom) -> StorageResult<()>;
    async fn room(&self, room_id: &RoomId) -> StorageResult<Option<Room>>;

    async fn membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<Membership>>;
    /// The membership with the time of its last change.
    async fn membership_since(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<Since>>;
    /// Inserts or updates memberships in one transaction, in order (a later change of the
    /// same user and room wins; a user's `requested_at` is that of the first insert); per
    /// change, whether it was stored (false when its [`Precondition`] did not hold). All
    /// or nothing on errors: the first change naming a missing room or user fails the
    /// whole batch with [`StorageError::NotFound`] (`"room"` or `"user"`) and nothing is
    /// stored.
    async fn set_memberships(&self, changes: &[MembershipChange]) -> StorageResult<Vec<bool>>;
    /// Every membership of the room (all statuses) with its reason: admins first, then in
    /// the order users first asked to join.
    async fn members(&self, room_id: &RoomId) -> StorageResult<Vec<Participant>>;
    /// Deletes the room with its memberships and messages; whether it existed.
    async fn delete_room(&self, room_id: &RoomId) -> StorageResult<bool>;

    /// Stores a batch in one transaction, in order: each new message gets its room's next
    /// `seq` (gapless from 1); a `(user, clientMsgId)` seen before yields the stored
    /// message as [`Inserted::Duplicate`] and stores nothing. One result per input.
    async fn insert_messages(&self, batch: &[NewMessage]) -> StorageResult<Vec<Inserted>>;
    /// Up to `limit` of the newest messages with `seq < before_seq` (all when `None`),
    /// returned oldest first: messages only, as they read now (deleted ones as
    /// tombstones), so their seqs may skip those of changes.
    async fn messages_before(
        &self,
        room_id: &RoomId,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StorageResult<Vec<ChatMessage>>;
    /// Up to `limit` messages with `seq > after_seq`, oldest first.
    async fn messages_after(
        &self,
        room_id: &RoomId,
        after_seq: u64,
        limit: u32,
    ) -> StorageResult<Vec<ChatMessage>>;

    /// Up to `limit` messages of the rooms of `within` that hold every term of `query`
    /// (each term's words next to each other, in order; case and diacritics aside), newest
    /// first. Found by an index kept in the transaction that stores each message.
    async fn search_messages(
        &self,
        query: &SearchQuery,
        within: SearchIn<'_>,
        limit: u32,
    ) -> StorageResult<Vec<FoundMessage>>;

    /// The user's memberships of every status, with each room's newest `seq`, newest
    /// room activity first, in one statement. For approved memberships also the read
    /// marker, the messages after it written by others and those of them that mention the
    /// user, and for approved admins the room's pending requests (`None` for everyone
    /// else); other rows have zeros.
    async fn rooms_of_user(&self, user_id: &UserId) -> StorageResult<Vec<RoomSummary>>;

    /// The room's message with that id as it reads now (a tombstone once deleted); `None`
    /// when the room has no such message.
    async fn message(
        &self,
        room_id: &RoomId,
        message_id: &MessageId,
    ) -> StorageResult<Option<ChatMessage>>;
    /// Stores an edit or a deletion as the room's next log entry, taking its `seq` from the
    /// counter messages take theirs from (under the same lock), and brings the message to
    /// its new state, in one transaction. A deletion empties the text and the reply.
    async fn change_message(&self, change: &MessageChange) -> StorageResult<Changed>;
    /// Up to `limit` entries of the room's log with `seq > after_seq`, in `seq` order:
    /// messages as they read now, then the changes to them as entries of their own.
    async fn log_after(
        &self,
        room_id: &RoomId,
        after_seq: u64,
        limit: u32,
    ) -> StorageResult<Vec<LogEntry>>;
    /// Moves an approved member's read marker up to `seq`, or to the room's newest `seq`
    /// when `seq` is beyond it, in one statement. The new marker when it moved; `None`
    /// when it did not (it was already there or further, the user is not approved, or the
    /// room does not exist). Approval sets the marker to the room's newest `seq`
    /// ([`Storage::set_memberships`]), creating a room sets it to 0.
    async fn mark_read(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        seq: u64,
    ) -> StorageResult<Option<u64>>;
    /// Stores a new invite link (its `uses` are 0 whatever `invite` says);
    /// [`StorageError::Conflict`] when the code is taken, [`StorageError::NotFound`]
    /// (`"room"`) for an unknown room. Deleting the room deletes its links.
    async fn create_invite(&self, invite: &Invite) -> StorageResult<()>;
    /// The room's links that are not revoked (expired and used-up ones included), newest
    /// first.
    async fn invites(&self, room_id: &RoomId) -> StorageResult<Vec<Invite>>;
    /// The link with that code, revoked or not.
    async fn invite(&self, code: &InviteCode) -> StorageResult<Option<StoredInvite>>;
    /// Marks the room's link revoked at `now`; whether a link of that room not yet
    /// revoked had that code.
    async fn revoke_invite(
        &self,
        room_id: &RoomId,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<bool>;
    /// A knock by link, in one transaction: if the link of `change.room_id` with that
    /// code works at `now` ([`crate::domain::invites::usable`]), stores `change` (under its
    /// [`Precondition`]) with the code, and counts one use; otherwise nothing.
    async fn request_with_invite(
        &self,
        change: &MembershipChange,
        code: &InviteCode,
        now: i64,
    ) -> StorageResult<InviteUse>;
    /// Makes the room invite-only or not; whether the room exists.
    async fn set_invite_only(&self, room_id: &RoomId, invite_only: bool) -> StorageResult<bool>;
    /// Whether the room is invite-only; `None` for an unknown room.
    async fn invite_only(&self, room_id: &RoomId) -> StorageResult<Option<bool>>;
}

/// Opens the storage named by `url`: `sqlite:PATH` (the file is created when missing) or
/// `postgres://...` / `postgresql://...` (the database must exist; several nodes may
/// share it).
pub async fn open(url: &str) -> StorageResult<Arc<dyn Storage>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStorage::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStorage::connect(url).await?))
    } else {
        Err(StorageError::UnsupportedUrl(crate::config::redact_url(url)))
    }
}
