//! The one place where errors become protocol codes and HTTP statuses.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use knock_protocol::{ApiError, ErrorCode, ServerMessage};

use crate::{domain::RuleError, storage::StorageError};

/// Why an action or request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("no room has that id")]
    RoomNotFound,
    #[error("name a roomId: this socket has no current room")]
    NoRoom,
    #[error("sign in first")]
    Unauthenticated,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("this origin may not use the server")]
    ForbiddenOrigin,
    #[error("no such route")]
    NotFound,
    #[error("too many requests; slow down")]
    RateLimited,
    /// Failed sign-ins for the account from this address (`account`), or from the address.
    #[error("{}", locked_text(*.account, *.retry_after_secs))]
    LoginLocked {
        account: bool,
        retry_after_secs: u64,
    },
    #[error("too many open sockets for this user; close another tab first")]
    TooManySockets,
    #[error("no user has that id")]
    UserNotFound,
    /// Another action changed the membership between this one's read and its write; the
    /// service tries again (see `Service::handle`), so a client sees this only after
    /// several tries in a row lost.
    #[error("the room changed while this was being done; try again")]
    Conflict,
    #[error("too many sockets from your address are waiting to sign in; try again shortly")]
    TooManyUnauthenticated,
    /// Every password hashing thread is busy and the queue is full.
    #[error("the server is busy checking other passwords; try again in a few seconds")]
    HashingBusy,
    #[error("too many accounts were registered from your address; try again in {} minutes", .retry_after_secs.div_ceil(60))]
    TooManyRegistrations { retry_after_secs: u64 },
    #[error("no session of yours has that id")]
    SessionNotFound,
    /// Logged where it happens; the client only learns that something failed.
    #[error("storage failed: {0}")]
    Storage(StorageError),
    #[error("internal: {0}")]
    Internal(String),
}

/// What storage refuses because a row has gone is the client's business: a room deleted
/// meanwhile, a user that does not exist. Everything else is the server's.
impl From<StorageError> for ServiceError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound("room") => Self::RoomNotFound,
            StorageError::NotFound("user") => Self::UserNotFound,
            other => Self::Storage(other),
        }
    }
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rule(rule) => match rule {
                RuleError::NotMember => ErrorCode::NotMember,
                RuleError::NotAdmin | RuleError::NotAuthor => ErrorCode::NotAdmin,
                RuleError::MessageNotFound => ErrorCode::MessageNotFound,
                RuleError::MessageDeleted => ErrorCode::MessageDeleted,
                RuleError::RequestNotFound(_) => ErrorCode::RequestNotFound,
                RuleError::InvalidRoomName => ErrorCode::InvalidRoomName,
                RuleError::EmptyMessage => ErrorCode::EmptyMessage,
                RuleError::MessageTooLong => ErrorCode::MessageTooLong,
                RuleError::NulCharacter
                | RuleError::InvalidClientMsgId
                | RuleError::BadTargets
                | RuleError::TooManyResumeRooms
                | RuleError::BadPaging(_)
                | RuleError::NoKnockRoom => ErrorCode::BadRequest,
                RuleError::EmptyQuery | RuleError::QueryTooLong => ErrorCode::InvalidQuery,
                RuleError::InvalidUsername => ErrorCode::InvalidUsername,
                RuleError::InvalidPassword => ErrorCode::InvalidPassword,
                RuleError::Banned => ErrorCode::Banned,
                RuleError::TooManyWaiting(_)
                | RuleError::TooManyRooms(_)
                | RuleError::TooManyInvites => ErrorCode::RateLimited,
                RuleError::KnockCooldown { .. } => ErrorCode::KnockCooldown,
                RuleError::LastAdmin => ErrorCode::LastAdmin,
                RuleError::TargetIsAdmin(_) => ErrorCode::TargetIsAdmin,
                RuleError::TargetNotMember(_) => ErrorCode::TargetNotMember,
                RuleError::ReasonTooLong => ErrorCode::ReasonTooLong,
                RuleError::InviteNotFound => ErrorCode::InviteNotFound,
                RuleError::InviteRevoked => ErrorCode::InviteRevoked,
                RuleError::InviteExpired => ErrorCode::InviteExpired,
                RuleError::InviteUsedUp => ErrorCode::InviteUsedUp,
                RuleError::InvalidInvite(_) => ErrorCode::InvalidInvite,
                RuleError::InviteOnly => ErrorCode::InviteOnly,
            },
            Self::RoomNotFound => ErrorCode::RoomNotFound,
            Self::NoRoom => ErrorCode::NoRoom,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::UnknownAction(_) => ErrorCode::UnknownAction,
            Self::ForbiddenOrigin => ErrorCode::ForbiddenOrigin,
            Self::NotFound => ErrorCode::NotFound,
            Self::RateLimited
            | Self::TooManyUnauthenticated
            | Self::HashingBusy
            | Self::TooManyRegistrations { .. } => ErrorCode::RateLimited,
            Self::SessionNotFound => ErrorCode::SessionNotFound,
            Self::LoginLocked { .. } => ErrorCode::LoginLocked,
            Self::TooManySockets => ErrorCode::TooManySockets,
            Self::UserNotFound => ErrorCode::UserNotFound,
            Self::Storage(_) | Self::Internal(_) | Self::Conflict => ErrorCode::Internal,
        }
    }

    /// How long the client should wait before trying again, when waiting is the answer.
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::LoginLocked {
                retry_after_secs, ..
            }
            | Self::TooManyRegistrations { retry_after_secs }
            | Self::Rule(RuleError::KnockCooldown { retry_after_secs }) => Some(*retry_after_secs),
            Self::HashingBusy => Some(1),
            _ => None,
        }
    }

    /// The `error` frame for a socket: code, text, the refused `action` and, when the
    /// refusal has one, when to try again.
    pub(crate) fn to_frame(&self, action: Option<&str>) -> ServerMessage {
        let mut frame = ServerMessage::error(self.code(), self.client_message(), action);
        if let ServerMessage::Error {
            retry_after_secs, ..
        } = &mut frame
        {
            *retry_after_secs = self.retry_after_secs();
        }
        frame
    }

    /// The text a client may see: the error's own for refusals, a fixed one for failures.
    pub(crate) fn client_message(&self) -> String {
        match self.code() {
            ErrorCode::Internal => "something went wrong on the server; try again".to_owned(),
            _ => self.to_string(),
        }
    }

    /// Logs failures that are the server's fault; refusals are the client's business.
    pub(crate) fn log_if_internal(&self, context: &str) {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "{context} failed");
        }
    }
}

/// "… locked for 15 minutes." for a login lock, in whole minutes (rounded up).
fn locked_text(account: bool, retry_after_secs: u64) -> String {
    let minutes = retry_after_secs.div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    if account {
        format!(
            "Too many wrong passwords: signing in to this account from your address is \
             locked for {minutes} {unit}."
        )
    } else {
        format!(
            "Too many failed sign-ins from your address: signing in is locked for \
             {minutes} {unit}."
        )
    }
}

pub(crate) fn http_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
        ErrorCode::UsernameTaken | ErrorCode::LastAdmin | ErrorCode::MessageDeleted => {
            StatusCode::CONFLICT
        }
        ErrorCode::ForbiddenOrigin
        | ErrorCode::NotMember
        | ErrorCode::NotAdmin
        | ErrorCode::Banned
        | ErrorCode::TargetIsAdmin
        | ErrorCode::InviteOnly => StatusCode::FORBIDDEN,
        ErrorCode::NotFound
        | ErrorCode::RoomNotFound
        | ErrorCode::RequestNotFound
        | ErrorCode::UserNotFound
        | ErrorCode::TargetNotMember
        | ErrorCode::SessionNotFound
        | ErrorCode::MessageNotFound
        | ErrorCode::InviteNotFound => StatusCode::NOT_FOUND,
        ErrorCode::InviteRevoked | ErrorCode::InviteExpired | ErrorCode::InviteUsedUp => {
            StatusCode::GONE
        }
        ErrorCode::RateLimited
        | ErrorCode::TooManySockets
        | ErrorCode::LoginLocked
        | ErrorCode::KnockCooldown => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::BadRequest
        | ErrorCode::UnknownAction
        | ErrorCode::NoRoom
        | ErrorCode::MessageTooLong
        | ErrorCode::EmptyMessage
        | ErrorCode::InvalidRoomName
        | ErrorCode::InvalidUsername
        | ErrorCode::InvalidPassword
        | ErrorCode::ReasonTooLong
        | ErrorCode::InvalidQuery
        | ErrorCode::InvalidInvite => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        self.log_if_internal("HTTP request");
        let code = self.code();
        let mut body = ApiError::new(code, self.client_message());
        body.error.retry_after_secs = self.retry_after_secs();
        match body.error.retry_after_secs {
            Some(secs) => (
                http_status(code),
                [(axum::http::header::RETRY_AFTER, secs.to_string())],
                Json(body),
            )
                .into_response(),
            None => (http_status(code), Json(body)).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_clients() {
        let error = ServiceError::Internal("disk /var/secret full".into());
        assert_eq!(error.code(), ErrorCode::Internal);
        assert!(!error.client_message().contains("secret"));
        let storage = ServiceError::Storage(StorageError::Corrupt("row 7 password".into()));
        assert!(!storage.client_message().contains("password"));
    }

    #[test]
    fn every_code_has_an_http_status() {
        for code in ErrorCode::ALL {
            let status = http_status(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
        }
        assert_eq!(http_status(ErrorCode::UsernameTaken), StatusCode::CONFLICT);
        assert_eq!(
            http_status(ErrorCode::ForbiddenOrigin),
            StatusCode::FORBIDDEN
        );
    }
}
