use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Every error code of the contract, on the WebSocket and over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session: bad or revoked token, or a frame before `authenticate`.
    Unauthenticated,
    /// Not JSON, or a missing or mistyped field.
    BadRequest,
    /// An `action` the server does not know (the seed's `$default` route).
    UnknownAction,
    /// No room with that id.
    RoomNotFound,
    /// The action needs an approved membership of the room.
    NotMember,
    /// The action needs the room's admin.
    NotAdmin,
    /// The action named no room and the socket has no current room.
    NoRoom,
    /// A chat message over the character limit.
    MessageTooLong,
    /// An empty chat message.
    EmptyMessage,
    /// A room name that is empty or over the limit.
    InvalidRoomName,
    /// Approve or reject named a user who has not asked to join.
    RequestNotFound,
    /// Too many actions in too short a time.
    RateLimited,
    /// The user already has as many open sockets as the server allows.
    TooManySockets,
    /// Something failed on the server; details are in its log, never here.
    Internal,
    /// Registration: a username outside the allowed form.
    InvalidUsername,
    /// Registration: a password outside the allowed length.
    InvalidPassword,
    /// Registration: that username is already taken (case-insensitively).
    UsernameTaken,
    /// Login: unknown username or wrong password.
    InvalidCredentials,
    /// Login: too many failures for this username or from this address; the password
    /// is not checked until `retryAfterSecs` have passed.
    LoginLocked,
    /// The request came from a browser Origin that is not allowed.
    ForbiddenOrigin,
    /// No such HTTP route.
    NotFound,
    /// The room would be left without an admin while others are in it: make someone
    /// else admin first.
    LastAdmin,
    /// The user is banned from the room: their knocks are refused.
    Banned,
    /// A rejected user asked again before the cooldown passed (`retryAfterSecs`).
    KnockCooldown,
    /// An admin cannot remove or ban another admin.
    TargetIsAdmin,
    /// The target is not in the room in the way the action needs (an approved member for
    /// `removeMember` and `setRole`, banned for `unbanMember`).
    TargetNotMember,
    /// No user with that id.
    UserNotFound,
    /// A reason over the character limit.
    ReasonTooLong,
    /// No session of the caller's has that id.
    SessionNotFound,
    /// A search query with no letter or digit, or over the character limit.
    InvalidQuery,
    /// No message with that id in that room.
    MessageNotFound,
    /// The message was deleted: it cannot be edited or deleted again.
    MessageDeleted,
    /// No invite link has that code (or it is of another room).
    InviteNotFound,
    /// The invite link was revoked by an admin.
    InviteRevoked,
    /// The invite link's time is up.
    InviteExpired,
    /// The invite link was used as many times as its `maxUses`.
    InviteUsedUp,
    /// `createInvite` with a label, a lifetime or a use limit outside the limits.
    InvalidInvite,
    /// The room takes knocks by invite link only.
    InviteOnly,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::BadRequest => "bad_request",
            Self::UnknownAction => "unknown_action",
            Self::RoomNotFound => "room_not_found",
            Self::NotMember => "not_member",
            Self::NotAdmin => "not_admin",
            Self::NoRoom => "no_room",
            Self::MessageTooLong => "message_too_long",
            Self::EmptyMessage => "empty_message",
            Self::InvalidRoomName => "invalid_room_name",
            Self::RequestNotFound => "request_not_found",
            Self::RateLimited => "rate_limited",
            Self::TooManySockets => "too_many_sockets",
            Self::Internal => "internal",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidPassword => "invalid_password",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LoginLocked => "login_locked",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::NotFound => "not_found",
            Self::LastAdmin => "last_admin",
            Self::Banned => "banned",
            Self::KnockCooldown => "knock_cooldown",
            Self::TargetIsAdmin => "target_is_admin",
            Self::TargetNotMember => "target_not_member",
            Self::UserNotFound => "user_not_found",
            Self::ReasonTooLong => "reason_too_long",
            Self::SessionNotFound => "session_not_found",
            Self::InvalidQuery => "invalid_query",
            Self::MessageNotFound => "message_not_found",
            Self::MessageDeleted => "message_deleted",
            Self::InviteNotFound => "invite_not_found",
            Self::InviteRevoked => "invite_revoked",
            Self::InviteExpired => "invite_expired",
            Self::InviteUsedUp => "invite_used_up",
            Self::InvalidInvite => "invalid_invite",
            Self::InviteOnly => "invite_only",
        }
    }

    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 38] = [
        Self::Unauthenticated,
        Self::BadRequest,
        Self::UnknownAction,
        Self::RoomNotFound,
        Self::NotMember,
        Self::NotAdmin,
        Self::NoRoom,
        Self::MessageTooLong,
        Self::EmptyMessage,
        Self::InvalidRoomName,
        Self::RequestNotFound,
        Self::RateLimited,
        Self::TooManySockets,
        Self::Internal,
        Self::InvalidUsername,
        Self::InvalidPassword,
        Self::UsernameTaken,
        Self::InvalidCredentials,
        Self::LoginLocked,
        Self::ForbiddenOrigin,
        Self::NotFound,
        Self::LastAdmin,
        Self::Banned,
        Self::KnockCooldown,
        Self::TargetIsAdmin,
        Self::TargetNotMember,
        Self::UserNotFound,
        Self::ReasonTooLong,
        Self::SessionNotFound,
        Self::InvalidQuery,
        Self::MessageNotFound,
        Self::MessageDeleted,
        Self::InviteNotFound,
        Self::InviteRevoked,
        Self::InviteExpired,
        Self::InviteUsedUp,
        Self::InvalidInvite,
        Self::InviteOnly,
    ];
}

/// The wire names, in the order of [`ErrorCode::ALL`].
const NAMES: [&str; ErrorCode::ALL.len()] = {
    let mut names = [""; ErrorCode::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = ErrorCode::ALL[i].as_str();
        i += 1;
    }
    names
};

/// Decodes what the derive would (`#[serde(rename_all = "snake_case")]`), through one table
/// (see `wire_enum`).
impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire_enum::deserialize(deserializer, "ErrorCode", &NAMES, &Self::ALL)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }
}
