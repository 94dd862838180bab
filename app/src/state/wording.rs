//! The words the user reads about errors and numbers, in one place.

use knock_protocol::{ErrorCode, UserId, limits};

use super::Gone;

/// A readable sentence for an error code, in the words of the place it is shown.
pub fn describe_error(code: ErrorCode, server_text: &str) -> String {
    match code {
        ErrorCode::NotMember => "You are not a member of this room.".into(),
        ErrorCode::RoomNotFound => "There is no room with that ID.".into(),
        ErrorCode::NotAdmin => "Only the room's admins can do that.".into(),
        ErrorCode::RateLimited => "You are going too fast. Wait a moment and try again.".into(),
        ErrorCode::MessageTooLong => format!(
            "That message is too long (at most {} characters).",
            format_thousands(limits::MAX_MESSAGE_CHARS)
        ),
        ErrorCode::EmptyMessage => "Type a message first.".into(),
        ErrorCode::InvalidRoomName => format!(
            "A room name has 1 to {} characters, some of them visible.",
            limits::MAX_ROOM_NAME_CHARS
        ),
        ErrorCode::RequestNotFound => "That request is no longer pending.".into(),
        ErrorCode::InvalidUsername => format!(
            "Usernames have {} to {} characters: a-z, 0-9, _ . -",
            limits::USERNAME_CHARS.start(),
            limits::USERNAME_CHARS.end()
        ),
        ErrorCode::InvalidPassword => format!(
            "Passwords have {} to {} characters.",
            limits::PASSWORD_CHARS.start(),
            limits::PASSWORD_CHARS.end()
        ),
        ErrorCode::UsernameTaken => "That username is taken. Try another one.".into(),
        ErrorCode::InvalidCredentials => "Wrong username or password.".into(),
        ErrorCode::ForbiddenOrigin => "This server does not accept requests from this site.".into(),
        ErrorCode::LastAdmin => {
            "You are the only admin here. Make another member an admin first, then try again."
                .into()
        }
        ErrorCode::Banned => "You are banned from this room, so you cannot ask to join it.".into(),
        ErrorCode::KnockCooldown => knock_cooldown_text(None),
        ErrorCode::TargetIsAdmin => {
            "Admins cannot be removed or banned. Remove their admin role first.".into()
        }
        ErrorCode::TargetNotMember => {
            "That person is not in the room that way any more; nothing was changed.".into()
        }
        ErrorCode::UserNotFound => "There is no user with that name.".into(),
        ErrorCode::ReasonTooLong => format!(
            "That is too long (at most {} characters).",
            limits::MAX_REASON_CHARS
        ),
        ErrorCode::MessageNotFound => "That message is not in this room any more.".into(),
        ErrorCode::MessageDeleted => "That message was deleted.".into(),
        ErrorCode::Internal => "Something went wrong on the server. Try again.".into(),
        ErrorCode::Unauthenticated => "Your session has ended. Sign in again.".into(),
        _ if !server_text.is_empty() => server_text.to_owned(),
        other => format!("The server refused that ({other})."),
    }
}

/// A user as the interface names them: their id, or "Deleted user" for the messages of
/// a deleted account.
pub fn display_name(user: &UserId) -> String {
    if user.as_str() == knock_protocol::DELETED_USER {
        "Deleted user".into()
    } else {
        user.to_string()
    }
}

/// Why the sign-in page is back: the server closed the session (signed out from another
/// device, the password changed there, the account deleted there, or expired).
pub const SIGNED_OUT_TEXT: &str = "You were signed out. Sign in again to continue.";

/// A knock too soon after a rejection, with the wait the server gave.
pub fn knock_cooldown_text(retry_after_secs: Option<u64>) -> String {
    let when = match retry_after_secs.map(|s| s.div_ceil(60).max(1)) {
        Some(1) => "in 1 minute".to_owned(),
        Some(minutes) => format!("in {minutes} minutes"),
        None => "later".to_owned(),
    };
    format!("Your request was turned down recently. You can ask again {when}.")
}

/// Why a room left the user's view (or, `Unbanned`, may be asked again): the words
/// before and after its name, which the view isolates (a right-to-left name must not
/// reorder the sentence).
pub fn gone_words(why: Gone) -> (&'static str, &'static str) {
    match why {
        Gone::Left => ("You left ", "."),
        Gone::Withdrew => ("You withdrew your request to join ", "."),
        Gone::Removed => ("You were removed from ", "."),
        Gone::Banned => ("You were banned from ", "."),
        Gone::Deleted => ("", " was deleted."),
        Gone::Lost => ("You no longer have access to ", "."),
        Gone::Unbanned => ("You may ask to join ", " again."),
    }
}

/// The whole sentence of [`gone_words`], with the admin's reason when there is one.
pub fn gone_text(why: Gone, room_name: &str, reason: Option<&str>) -> String {
    let (before, after) = gone_words(why);
    let text = format!("{before}{room_name}{after}");
    match reason {
        Some(reason) => format!("{text} Reason: {reason}"),
        None => text,
    }
}

/// `4000` → `4,000`.
pub fn format_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A room name of nothing but spaces and invisible characters, refused before sending.
pub(super) fn invisible_name_text() -> String {
    "A room name needs some visible characters.".into()
}

/// Why an action that needs the server was not tried.
pub(super) fn offline_text() -> String {
    "Not connected right now. Try again once the connection is back.".into()
}
