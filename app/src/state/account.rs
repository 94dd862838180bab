//! The account page's rules, plain Rust: sessions as the user reads them (the device,
//! "5 minutes ago"), the checks of the password and deletion forms and where each
//! refusal shows, the export's file name, and the words for the server's refusals.
//!
//! The HTTP calls are in `browser.rs`, the views in `components/account*.rs`.

use knock_protocol::{ApiError, ErrorCode, SessionInfo, UserId, limits};

/// This device first, then the others in the server's order (most recently used
/// first). Not a sort: a sort's code for one small list costs more than this.
pub fn order_sessions(sessions: &mut Vec<SessionInfo>) {
    if let Some(at) = sessions.iter().position(|s| s.current) {
        let this = sessions.remove(at);
        sessions.insert(0, this);
    }
}

/// A readable name for a device from its `User-Agent`: "Chrome on Linux", "Safari on
/// iPhone", "curl" (a program, by its own name), "Unknown device".
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown device".into();
    };
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("CriOS/") || has("Chrome/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    let system = if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Android") {
        Some("Android")
    } else if has("Windows") {
        Some("Windows")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        // A program (curl, a bot): the name it gives itself, up to its version.
        (None, None) if !ua.starts_with("Mozilla/") => {
            let name: String = ua
                .split(['/', ' '])
                .next()
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect();
            if name.is_empty() {
                "Unknown device".into()
            } else {
                name
            }
        }
        (None, None) => "Unknown device".into(),
    }
}

/// How long ago `then_ms` was, at `now_ms`: "just now", "5 minutes ago", "yesterday",
/// "3 months ago". The page shows the full local date beside it on demand.
pub fn time_ago(now_ms: i64, then_ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const TWO_DAYS: i64 = 2 * DAY;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    let ago = now_ms.saturating_sub(then_ms);
    let count = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    if ago < MINUTE {
        "just now".into()
    } else if ago < HOUR {
        count(ago / MINUTE, "minute")
    } else if ago < DAY {
        count(ago / HOUR, "hour")
    } else if ago < TWO_DAYS {
        "yesterday".into()
    } else if ago < MONTH {
        count(ago / DAY, "day")
    } else if ago < YEAR {
        count(ago / MONTH, "month")
    } else {
        count(ago / YEAR, "year")
    }
}

/// `knock-alice-2026-11-29.json`: the export's file name on the local date.
pub fn export_file_name(user: &UserId, year: u32, month: u32, day: u32) -> String {
    let name: String = user
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("knock-{name}-{year:04}-{month:02}-{day:02}.json")
}

/// A refused or failed request of the account page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status; 0 when no answer came.
    pub status: u16,
    /// The server's code, when it sent one this client knows.
    pub code: Option<ErrorCode>,
    /// What the user reads.
    pub text: String,
    /// How long the server asked to wait, when it did.
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    /// The request did not reach the server, or its answer did not come back.
    pub fn unreachable() -> Self {
        Self {
            status: 0,
            code: None,
            text: "Cannot reach the server. Check your connection and try again.".into(),
            retry_after_secs: None,
        }
    }

    /// Reads a failure answer (`{"error":{"code","message","retryAfterSecs"}}`).
    pub fn from_answer(status: u16, body: &str) -> Self {
        if let Ok(known) = serde_json::from_str::<ApiError>(body) {
            let e = known.error;
            return Self {
                status,
                code: Some(e.code),
                text: refusal_text(e.code, &e.message, e.retry_after_secs),
                retry_after_secs: e.retry_after_secs,
            };
        }
        // Not this contract's answer (a proxy's page, a code newer than this client).
        match status {
            401 => Self {
                status,
                code: Some(ErrorCode::Unauthenticated),
                text: refusal_text(ErrorCode::Unauthenticated, "", None),
                retry_after_secs: None,
            },
            429 => Self {
                status,
                code: Some(ErrorCode::RateLimited),
                text: refusal_text(ErrorCode::RateLimited, "", None),
                retry_after_secs: None,
            },
            _ => Self {
                status,
                code: None,
                text: format!("The server answered {status}. Try again."),
                retry_after_secs: None,
            },
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == Some(code)
    }
}

/// "in 45 seconds", "in 1 minute", "in 15 minutes".
pub fn wait_text(secs: u64) -> String {
    match secs {
        0..=1 => "in a second".into(),
        2..=59 => format!("in {secs} seconds"),
        _ => match secs.div_ceil(60) {
            1 => "in 1 minute".into(),
            minutes => format!("in {minutes} minutes"),
        },
    }
}

/// The words for a refusal on the account page.
pub fn refusal_text(code: ErrorCode, server_text: &str, retry_after_secs: Option<u64>) -> String {
    match code {
        ErrorCode::InvalidCredentials => "That is not your password.".into(),
        ErrorCode::SessionNotFound => "That device was already signed out.".into(),
        // The server's sentence says which lock and for how many minutes.
        ErrorCode::LoginLocked if !server_text.is_empty() => server_text.to_owned(),
        ErrorCode::LoginLocked => format!(
            "Too many wrong passwords. Try again {}.",
            retry_after_secs.map_or_else(|| "later".to_owned(), wait_text)
        ),
        ErrorCode::RateLimited => match retry_after_secs {
            Some(secs) => format!("Too many attempts. Try again {}.", wait_text(secs)),
            None => "Too many attempts. Wait a moment and try again.".into(),
        },
        ErrorCode::InvalidPassword => format!(
            "Passwords have {} to {} characters.",
            limits::PASSWORD_CHARS.start(),
            limits::PASSWORD_CHARS.end()
        ),
        other => super::describe_error(other, server_text),
    }
}

/// Why the export did not come: one a minute is allowed.
pub fn export_refusal_text(refusal: &Refusal) -> String {
    if refusal.is(ErrorCode::RateLimited) {
        let when = refusal
            .retry_after_secs
            .map_or_else(|| "in a minute".to_owned(), wait_text);
        format!("You can download your data once a minute. Try again {when}.")
    } else {
        refusal.text.clone()
    }
}

/// What is wrong with the password form, at the field to fix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswordProblems {
    pub current: Option<String>,
    pub new: Option<String>,
    pub confirm: Option<String>,
    /// About the whole form (a lock, the network).
    pub form: Option<String>,
}

/// The password form's fields, in the order they are fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordField {
    Current,
    New,
    Confirm,
}

impl PasswordProblems {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The field that takes the focus: the first to fix; the current password after a
    /// refusal of the whole form (a lock is waited out, then typed again).
    pub fn focus(&self) -> Option<PasswordField> {
        if self.current.is_some() || self.form.is_some() {
            Some(PasswordField::Current)
        } else if self.new.is_some() {
            Some(PasswordField::New)
        } else if self.confirm.is_some() {
            Some(PasswordField::Confirm)
        } else {
            None
        }
    }

    /// The problem at a field.
    pub fn at(&self, field: PasswordField) -> Option<&String> {
        match field {
            PasswordField::Current => self.current.as_ref(),
            PasswordField::New => self.new.as_ref(),
            PasswordField::Confirm => self.confirm.as_ref(),
        }
    }

    /// The field was changed: its problem goes.
    pub fn clear(&mut self, field: PasswordField) {
        match field {
            PasswordField::Current => self.current = None,
            PasswordField::New => self.new = None,
            PasswordField::Confirm => self.confirm = None,
        }
    }

    /// Places the server's refusal.
    pub fn from_refusal(refusal: Refusal) -> Self {
        match refusal.code {
            Some(ErrorCode::InvalidCredentials) => Self {
                current: Some("That is not your current password.".into()),
                ..Self::default()
            },
            Some(ErrorCode::InvalidPassword) => Self {
                new: Some(refusal.text),
                ..Self::default()
            },
            _ => Self {
                form: Some(refusal.text),
                ..Self::default()
            },
        }
    }
}

/// Checks the password form before asking the server: every problem, each at its field.
pub fn check_password_change(current: &str, new: &str, confirm: &str) -> PasswordProblems {
    let mut problems = PasswordProblems::default();
    if current.is_empty() {
        problems.current = Some("Enter your current password.".into());
    }
    let length = new.chars().count();
    if new.is_empty() {
        problems.new = Some("Enter a new password.".into());
    } else if length < *limits::PASSWORD_CHARS.start() {
        problems.new = Some(format!(
            "The new password needs at least {} characters.",
            limits::PASSWORD_CHARS.start()
        ));
    } else if length > *limits::PASSWORD_CHARS.end() {
        problems.new = Some(format!(
            "The new password can have at most {} characters.",
            limits::PASSWORD_CHARS.end()
        ));
    } else if new == current {
        problems.new = Some("The new password is the same as the current one.".into());
    }
    if confirm.is_empty() {
        if problems.new.is_none() {
            problems.confirm = Some("Type the new password again.".into());
        }
    } else if confirm != new {
        problems.confirm = Some("The two new passwords are not the same.".into());
    }
    problems
}

/// Where a refusal of account deletion shows: at the password, or for the whole form.
pub fn deletion_problem(refusal: Refusal) -> (bool, String) {
    if refusal.is(ErrorCode::InvalidCredentials) {
        (true, refusal.text)
    } else {
        (false, refusal.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_devices_from_their_user_agent() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:132.0) Gecko/20100101 Firefox/132.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1",
                "Chrome on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
            ("curl/8.5.0", "curl"),
            ("knock-loadgen", "knock-loadgen"),
            ("Mozilla/5.0", "Unknown device"),
            ("   ", "Unknown device"),
        ];
        for (ua, expected) in cases {
            assert_eq!(device_name(Some(ua)), expected, "{ua}");
        }
        assert_eq!(device_name(None), "Unknown device");
        assert_eq!(device_name(Some(&"x".repeat(100))).chars().count(), 40);
    }

    #[test]
    fn says_how_long_ago() {
        let now = 1_800_000_000_000;
        let minute = 60_000;
        let hour = 60 * minute;
        let day = 24 * hour;
        assert_eq!(time_ago(now, now), "just now");
        assert_eq!(time_ago(now, now + 5_000), "just now", "a clock ahead");
        assert_eq!(time_ago(now, now - 59_999), "just now");
        assert_eq!(time_ago(now, now - minute), "1 minute ago");
        assert_eq!(time_ago(now, now - 59 * minute), "59 minutes ago");
        assert_eq!(time_ago(now, now - hour), "1 hour ago");
        assert_eq!(time_ago(now, now - 23 * hour), "23 hours ago");
        assert_eq!(time_ago(now, now - day), "yesterday");
        assert_eq!(time_ago(now, now - 2 * day), "2 days ago");
        assert_eq!(time_ago(now, now - 29 * day), "29 days ago");
        assert_eq!(time_ago(now, now - 30 * day), "1 month ago");
        assert_eq!(time_ago(now, now - 180 * day), "6 months ago");
        assert_eq!(time_ago(now, now - 400 * day), "1 year ago");
    }

    #[test]
    fn this_device_first_then_in_the_servers_order() {
        let session = |id: &str, last: i64, current: bool| SessionInfo {
            session_id: id.into(),
            created_at: 0,
            last_used_at: last,
            user_agent: None,
            current,
        };
        // As the server lists them: most recently used first.
        let mut list = vec![
            session("new", 3, false),
            session("me", 2, true),
            session("old", 1, false),
        ];
        order_sessions(&mut list);
        let ids: Vec<&str> = list.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(ids, ["me", "new", "old"]);
        let mut none_current = vec![session("a", 2, false), session("b", 1, false)];
        order_sessions(&mut none_current);
        assert_eq!(none_current[0].session_id, "a");
    }

    #[test]
    fn names_the_export_by_user_and_local_date() {
        assert_eq!(
            export_file_name(&UserId::from("alice"), 2026, 3, 7),
            "knock-alice-2026-03-07.json"
        );
        assert_eq!(
            export_file_name(&UserId::from("a/b c"), 2026, 11, 29),
            "knock-a_b_c-2026-11-29.json"
        );
    }

    #[test]
    fn reads_refusals_with_their_wait() {
        let locked = Refusal::from_answer(
            429,
            r#"{"error":{"code":"login_locked","message":"Too many wrong passwords: signing in to this account from your address is locked for 15 minutes.","retryAfterSecs":900}}"#,
        );
        assert!(locked.is(ErrorCode::LoginLocked));
        assert!(locked.text.contains("15 minutes"));
        let limited = Refusal::from_answer(
            429,
            r#"{"error":{"code":"rate_limited","message":"slow down","retryAfterSecs":150}}"#,
        );
        assert_eq!(limited.text, "Too many attempts. Try again in 3 minutes.");
        let soon = Refusal::from_answer(
            429,
            r#"{"error":{"code":"rate_limited","message":"slow down","retryAfterSecs":42}}"#,
        );
        assert_eq!(soon.text, "Too many attempts. Try again in 42 seconds.");
        let wrong = Refusal::from_answer(
            401,
            r#"{"error":{"code":"invalid_credentials","message":"Wrong password."}}"#,
        );
        assert!(wrong.is(ErrorCode::InvalidCredentials));
        // A code this client does not know: the server's sentence.
        let gone = Refusal::from_answer(
            404,
            r#"{"error":{"code":"session_not_found","message":"No such session."}}"#,
        );
        assert!(gone.is(ErrorCode::SessionNotFound));
        assert_eq!(gone.text, "That device was already signed out.");
        let unknown = Refusal::from_answer(
            409,
            r#"{"error":{"code":"some_newer_code","message":"Not now."}}"#,
        );
        assert_eq!(unknown.code, None);
        assert_eq!(unknown.status, 409);
        assert_eq!(unknown.text, "The server answered 409. Try again.");
        assert!(Refusal::from_answer(401, "").is(ErrorCode::Unauthenticated));
        assert!(Refusal::from_answer(429, "<html>").is(ErrorCode::RateLimited));
        assert_eq!(
            Refusal::from_answer(502, "<html>").text,
            "The server answered 502. Try again."
        );
    }

    #[test]
    fn exports_are_one_a_minute() {
        let limited = Refusal::from_answer(
            429,
            r#"{"error":{"code":"rate_limited","message":"too many requests; slow down","retryAfterSecs":42}}"#,
        );
        assert_eq!(
            export_refusal_text(&limited),
            "You can download your data once a minute. Try again in 42 seconds."
        );
        assert_eq!(
            export_refusal_text(&Refusal::unreachable()),
            Refusal::unreachable().text
        );
    }

    #[test]
    fn wait_in_seconds_then_minutes() {
        assert_eq!(wait_text(1), "in a second");
        assert_eq!(wait_text(59), "in 59 seconds");
        assert_eq!(wait_text(60), "in 1 minute");
        assert_eq!(wait_text(61), "in 2 minutes");
        assert_eq!(wait_text(900), "in 15 minutes");
    }

    #[test]
    fn checks_the_password_form_at_each_field() {
        let empty = check_password_change("", "", "");
        assert!(empty.current.is_some() && empty.new.is_some());
        assert_eq!(empty.confirm, None, "one thing at a time for the new one");
        assert_eq!(empty.focus(), Some(PasswordField::Current));

        let short = check_password_change("old password", "short", "short");
        assert_eq!(
            short.new.as_deref(),
            Some("The new password needs at least 8 characters.")
        );
        assert_eq!(short.focus(), Some(PasswordField::New));

        let long = "x".repeat(257);
        assert!(
            check_password_change("old password", &long, &long)
                .new
                .unwrap()
                .contains("at most 256")
        );
        // Characters, not bytes: eight emoji are eight characters.
        let emoji = "🔑".repeat(8);
        assert!(check_password_change("old password", &emoji, &emoji).is_empty());

        let mut mismatch = check_password_change("old password", "new password", "new passwort");
        assert_eq!(mismatch.at(PasswordField::New), None);
        assert_eq!(
            mismatch.confirm.as_deref(),
            Some("The two new passwords are not the same.")
        );
        assert_eq!(mismatch.focus(), Some(PasswordField::Confirm));
        mismatch.clear(PasswordField::Confirm);
        assert!(mismatch.is_empty());

        let unconfirmed = check_password_change("old password", "new password", "");
        assert_eq!(unconfirmed.focus(), Some(PasswordField::Confirm));

        let same = check_password_change("same password", "same password", "same password");
        assert!(same.new.is_some());

        assert!(check_password_change("old password", "new password", "new password").is_empty());
    }

    #[test]
    fn places_the_servers_refusal_of_a_new_password() {
        let wrong = PasswordProblems::from_refusal(Refusal {
            status: 401,
            code: Some(ErrorCode::InvalidCredentials),
            text: "That is not your password.".into(),
            retry_after_secs: None,
        });
        assert_eq!(
            wrong.current.as_deref(),
            Some("That is not your current password.")
        );
        assert_eq!(wrong.focus(), Some(PasswordField::Current));
        let invalid = PasswordProblems::from_refusal(Refusal {
            status: 400,
            code: Some(ErrorCode::InvalidPassword),
            text: "too long".into(),
            retry_after_secs: None,
        });
        assert_eq!(invalid.new.as_deref(), Some("too long"));
        let locked = PasswordProblems::from_refusal(Refusal {
            status: 429,
            code: Some(ErrorCode::LoginLocked),
            text: "locked for 15 minutes".into(),
            retry_after_secs: None,
        });
        assert_eq!(locked.form.as_deref(), Some("locked for 15 minutes"));
        assert_eq!(locked.focus(), Some(PasswordField::Current));
    }

    #[test]
    fn a_wrong_password_for_deletion_shows_at_the_field() {
        let (at_field, text) = deletion_problem(Refusal::from_answer(
            401,
            r#"{"error":{"code":"invalid_credentials","message":"x"}}"#,
        ));
        assert!(at_field);
        assert_eq!(text, "That is not your password.");
        let (at_field, _) = deletion_problem(Refusal::unreachable());
        assert!(!at_field);
    }
}
