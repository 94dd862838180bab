use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, MemberStatus, MessageId, RoomId, UserId};

/// Body of `POST /api/register` and `POST /api/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Success body of register and login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub user_id: UserId,
    pub token: String,
}

// Without the password and the token: a `{:?}` in a log line must not hold them.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResponse")
            .field("user_id", &self.user_id)
            .field("token", &"***")
            .finish()
    }
}

/// Body of `GET /api/rooms/{roomId}`: what an invite link's page shows before knocking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomPreview {
    pub room_id: RoomId,
    pub room_name: String,
    /// The room's admins, longest-standing first.
    pub admins: Vec<UserId>,
}

/// Body of `POST /api/logout` (optional): `everywhere` revokes every session of the user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutRequest {
    #[serde(default)]
    pub everywhere: bool,
}

/// One session, as `GET /api/sessions` and the export list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Names the session for revoking; not its token.
    pub session_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    /// The session the request was made with.
    pub current: bool,
}

/// Body of `GET /api/sessions`: most recently used first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// Body of `POST /api/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordChange { *** }")
    }
}

/// Body of `DELETE /api/account`: the password again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDeletion {
    pub password: String,
}

impl fmt::Debug for AccountDeletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountDeletion { *** }")
    }
}

/// The user id a deleted account's messages are attributed to. No one can register it
/// (`~` is not allowed in usernames); clients show it as "Deleted user".
pub const DELETED_USER: &str = "~deleted";

/// Body of `GET /api/export`: everything Knock keeps of the caller's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountExport {
    pub exported_at: i64,
    pub user: ExportedUser,
    pub sessions: Vec<SessionInfo>,
    pub rooms: Vec<ExportedRoom>,
    /// Every message the user wrote, oldest first.
    pub messages: Vec<ExportedMessage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedUser {
    pub user_id: UserId,
    pub created_at: i64,
}

/// One membership of the user's, of any status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedRoom {
    pub room_id: RoomId,
    pub room_name: String,
    pub status: MemberStatus,
    pub is_admin: bool,
    /// When the membership last changed.
    pub since: i64,
    /// The user's message to the admins, or an admin's reason for a decision about them.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMessage {
    pub room_id: RoomId,
    pub seq: u64,
    pub message_id: MessageId,
    pub message: String,
    pub timestamp: i64,
}

/// Failure body of every HTTP route: `{"error":{"code","message"}}`, with
/// `retryAfterSecs` when waiting helps (also sent as the `Retry-After` header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorBody {
                code,
                message: message.into(),
                retry_after_secs: None,
            },
        }
    }
}
