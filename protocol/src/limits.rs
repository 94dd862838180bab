//! Limits that both sides check: the client to tell the user early, the server to refuse.

/// Longest chat message, in characters (Unicode scalar values).
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 100;
/// Username length, in characters of `a-z 0-9 _ . -`.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Password length, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;
/// Largest WebSocket frame the server reads; a larger one closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most messages in one `history` page.
pub const MAX_HISTORY_PAGE: u32 = 100;
/// Page size when `getHistory` names no `limit`.
pub const DEFAULT_HISTORY_PAGE: u32 = 50;
/// Most messages of one room that a catch-up sends (after `resume`, or before a live
/// message that follows a gap): a longer run is cut to its newest this many, after a
/// `historyGap`.
pub const MAX_CATCH_UP: u64 = 200;
/// Longest `search` query, in characters.
pub const MAX_SEARCH_QUERY_CHARS: usize = 200;
/// Most results in one `searchResults` page.
pub const MAX_SEARCH_PAGE: u32 = 50;
/// Page size when `search` names no `limit`.
pub const DEFAULT_SEARCH_PAGE: u32 = 20;
/// Most characters of a search result's snippet (the ellipses aside).
pub const SNIPPET_CHARS: usize = 160;
/// Most characters of the answered message's text that a reply's `replyTo.excerpt` holds.
pub const REPLY_EXCERPT_CHARS: usize = 100;
/// Most entries in one `resume`.
pub const MAX_RESUME_ROOMS: usize = 1_000;
/// Longest `clientMsgId`, in bytes.
pub const MAX_CLIENT_MSG_ID_BYTES: usize = 64;

/// Longest reason (a request's message to the admins, a rejection's, removal's or ban's
/// explanation), in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest invite link label, in characters.
pub const MAX_INVITE_LABEL_CHARS: usize = 100;
/// Most uses an invite link may be given (`maxUses`).
pub const MAX_INVITE_USES: u32 = 1_000_000;
/// Longest life an invite link may be given (`expiresInSecs`): a year.
pub const MAX_INVITE_SECS: u64 = 365 * 24 * 3_600;
/// Most invite links a room keeps that are not revoked (expired and used-up ones count
/// until revoked).
pub const MAX_INVITES_PER_ROOM: usize = 100;

/// Most users one `approve` or `reject` may name in `targetUserIds`.
pub const MAX_DECISION_TARGETS: usize = 100;
/// Seconds a rejected user waits before knocking again, by default.
pub const KNOCK_COOLDOWN_SECS: u64 = 600;

/// Chat messages one user may send per second on average, by default (a server may be
/// configured otherwise; clients pace themselves to this and recover from refusals).
pub const MESSAGE_RATE_PER_SEC: f64 = 5.0;
/// Chat messages one user may send at once before the rate applies, by default.
pub const MESSAGE_BURST: f64 = 20.0;

/// Seconds during which the server forwards at most one `typing` per user and room; a
/// client sends one at most this often while the user types (more are dropped silently).
pub const TYPING_THROTTLE_SECS: u64 = 2;
/// Seconds a client shows "… is typing" after a `typing` frame unless another renews it
/// (a `message` from that user ends it at once; the server never says "stopped").
pub const TYPING_EXPIRES_SECS: u64 = 6;
/// Milliseconds between two `presence` frames of one room: every change within one is
/// carried by the next frame, and a user who goes and comes back within one is no change.
pub const PRESENCE_TICK_MS: u64 = 1_000;

/// Whether `text` shows anything: at least one character that is neither white space nor
/// one of Unicode's default-ignorable code points (zero-width spaces and joiners, bidi
/// controls, variation selectors, fillers), which render as nothing. A room name must.
pub fn has_visible_character(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && !is_default_ignorable(c))
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt, Unicode 15.1), and
/// U+2800 BRAILLE PATTERN BLANK, which renders as a blank too.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether `c` may stand in a username typed in any case: what follows a mention's `@`
/// (docs/protocol.md, *Mentions*).
pub fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `name` is an acceptable username (already lower-cased).
pub fn is_valid_username(name: &str) -> bool {
    USERNAME_CHARS.contains(&name.chars().count())
        && name
            .chars()
            .all(|c| !c.is_ascii_uppercase() && is_username_char(c))
}

/// Whether `password` has an acceptable length.
pub fn is_valid_password(password: &str) -> bool {
    PASSWORD_CHARS.contains(&password.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_text() {
        assert!(has_visible_character("General"));
        assert!(has_visible_character("\u{200B}a\u{200B}"));
        assert!(has_visible_character("😀"));
        assert!(
            has_visible_character("ㅎ"),
            "a Hangul letter is not its filler"
        );
        for blank in [
            "",
            "   ",
            "\u{200B}\u{200C}\u{200D}",
            "\u{3164}\u{3164}",
            "\u{2800}",
            "\u{202E}\u{2066}\u{FEFF}",
            "\u{00A0}\u{3000}\u{FE0F}",
            "\u{E0041}",
        ] {
            assert!(!has_visible_character(blank), "{blank:?}");
        }
    }

    #[test]
    fn usernames() {
        assert!(is_valid_username("alice"));
        assert!(is_valid_username("a.b-c_9"));
        assert!(!is_valid_username("al"));
        assert!(!is_valid_username(&"a".repeat(33)));
        assert!(is_valid_username(&"a".repeat(32)));
        assert!(!is_valid_username("Alice"));
        assert!(!is_valid_username("al ice"));
        assert!(!is_valid_username("<b>x</b>"));
    }

    #[test]
    fn passwords() {
        assert!(!is_valid_password("short"));
        assert!(is_valid_password("eight ch"));
        assert!(is_valid_password(&"é".repeat(256)));
        assert!(!is_valid_password(&"x".repeat(257)));
    }
}
