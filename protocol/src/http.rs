use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, RoomId, UserId};

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
