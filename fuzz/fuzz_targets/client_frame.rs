//! Every WebSocket text frame a client sends: `decode_client` (server/src/ws.rs), the rules
//! the server applies to the decoded fields (`knock_server::domain`), and the error frame it
//! answers a refused frame with.
//!
//! Checks, for any input: nothing panics; a decoded frame survives `to_json` and a second
//! decode unchanged, with `action()` equal to the wire tag; a refusal names a known action
//! exactly when it is `BadFields`; the rules' results agree with the documented limits.
#![no_main]

use knock_protocol::{
    ClientMessage, DecodeError, ErrorCode, InviteCode, JoinRoom, ServerMessage, Targets,
    decode_client, limits,
};
use knock_server::domain::{self, RuleError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A text frame that is not UTF-8 is closed with 1007 by the socket layer; decode_client
    // only ever sees a &str.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text) {
        Ok(message) => {
            let action = message.action();
            assert!(ClientMessage::ACTIONS.contains(&action), "{action}");
            let json = message.to_json();
            let again = decode_client(&json)
                .unwrap_or_else(|error| panic!("re-encoded {json} does not decode: {error:?}"));
            assert_eq!(
                again, message,
                "round trip changed {text:?} (sent as {json})"
            );
            let value: serde_json::Value = serde_json::from_str(&json).expect("to_json is JSON");
            assert_eq!(
                value["action"], action,
                "action() differs from the tag in {json}"
            );
            check_rules(&message);
            error_frame_round_trip(ErrorCode::NotMember, "refused", Some(action));
        }
        Err(DecodeError::BadFields { action, reason }) => {
            assert!(ClientMessage::ACTIONS.contains(&action), "{action}");
            error_frame_round_trip(ErrorCode::BadRequest, &reason, Some(action));
        }
        Err(DecodeError::UnknownAction { action }) => {
            assert!(
                !ClientMessage::ACTIONS.contains(&action.as_str()),
                "known action {action:?} reported as unknown for {text:?}"
            );
            error_frame_round_trip(
                ErrorCode::UnknownAction,
                &format!("unknown action {action:?}"),
                None,
            );
        }
        Err(DecodeError::NotAnAction { reason }) => {
            error_frame_round_trip(
                ErrorCode::BadRequest,
                &format!("expected a JSON object with a string \"action\": {reason}"),
                None,
            );
        }
    }
    // The rules also see arbitrary strings directly, not only those inside valid frames.
    check_room_name(text);
    check_message_text(text);
    check_reason(Some(text));
    check_search_query(text);
    check_invite_code(text);
    check_invite_terms(Some(text), None, None);
});

/// A code goes to storage only in the form the server makes: URL-safe, at most 64 bytes.
fn check_invite_code(raw: &str) {
    let looked_up = domain::invites::well_formed(&InviteCode::new(raw));
    assert_eq!(
        looked_up,
        (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{raw:?}"
    );
}

/// A link's label is kept trimmed, `None` when blank, at most 100 characters, without
/// NUL; its lifetime and uses within the documented limits, or refused.
fn check_invite_terms(label: Option<&str>, expires_in_secs: Option<u64>, max_uses: Option<u32>) {
    let now = 1_700_000_000_000;
    match domain::invites::terms(label.map(str::to_owned), expires_in_secs, max_uses, now) {
        Ok(terms) => {
            let trimmed = label.map(str::trim).filter(|label| !label.is_empty());
            assert_eq!(terms.label.as_deref(), trimmed);
            if let Some(kept) = &terms.label {
                assert!(kept.chars().count() <= limits::MAX_INVITE_LABEL_CHARS);
                assert!(!kept.contains('\0'), "NUL accepted");
            }
            assert!(terms.expires_at.is_none_or(|at| at > now));
            assert!(max_uses.is_none_or(|uses| (1..=limits::MAX_INVITE_USES).contains(&uses)));
        }
        Err(RuleError::InvalidInvite(_) | RuleError::NulCharacter) => {}
        Err(other) => panic!("terms({label:?}) gave {other:?}: unknown to this target"),
    }
}

/// A query becomes words only (letters, digits, combining marks), or is refused for its
/// stated reason; any snippet of the text itself is pieces of it.
fn check_search_query(raw: &str) {
    use domain::search::{is_word_char, search_query, snippet};
    match search_query(raw) {
        Ok(query) => {
            assert!(raw.chars().count() <= limits::MAX_SEARCH_QUERY_CHARS);
            for word in query.terms.iter().flat_map(|term| &term.words) {
                assert!(!word.is_empty() && word.chars().all(is_word_char), "{word:?}");
            }
            let parts = snippet(raw, &query);
            let shown: String = parts.iter().map(|part| part.text.as_str()).collect();
            if raw.chars().count() <= limits::SNIPPET_CHARS {
                assert_eq!(shown, raw);
            }
        }
        Err(RuleError::QueryTooLong) => {
            assert!(raw.chars().count() > limits::MAX_SEARCH_QUERY_CHARS);
        }
        Err(RuleError::EmptyQuery) => assert!(!raw.chars().any(is_word_char), "{raw:?}"),
        Err(other) => panic!("search_query({raw:?}) gave {other:?}: unknown to this target"),
    }
}

/// The service normalizes each target like a typed username.
fn check_targets(targets: &Targets) {
    let named = targets
        .target_user_id
        .iter()
        .chain(targets.target_user_ids.iter().flatten());
    for target in named {
        if let Ok(id) = domain::username(target.as_str()) {
            assert!(limits::is_valid_username(id.as_str()), "{id:?}");
            assert_eq!(
                domain::username(id.as_str()),
                Ok(id.clone()),
                "not idempotent"
            );
        }
    }
}

/// Reasons are kept trimmed, `None` when blank, at most 500 characters, without NUL, and
/// keeping one again changes nothing.
fn check_reason(raw: Option<&str>) {
    let Some(raw) = raw else { return };
    let trimmed = raw.trim();
    match domain::reason(Some(raw.to_owned())) {
        Ok(None) => assert!(trimmed.is_empty(), "{raw:?} dropped"),
        Ok(Some(kept)) => {
            assert_eq!(kept, trimmed);
            assert!(kept.chars().count() <= limits::MAX_REASON_CHARS);
            assert!(!kept.contains('\0'), "NUL accepted");
            assert_eq!(
                domain::reason(Some(kept.clone())),
                Ok(Some(kept.clone())),
                "not idempotent"
            );
        }
        Err(RuleError::ReasonTooLong) => {
            assert!(
                trimmed.chars().count() > limits::MAX_REASON_CHARS,
                "{raw:?} refused as long"
            );
        }
        Err(RuleError::NulCharacter) => assert!(trimmed.contains('\0'), "{raw:?} has no NUL"),
        Err(other) => panic!("reason({raw:?}) gave {other:?}: unknown to this target"),
    }
}

/// What the server checks on the fields of a decoded frame (server/src/service.rs).
fn check_rules(message: &ClientMessage) {
    match message {
        ClientMessage::CreateRoom { room_name } => check_room_name(room_name),
        ClientMessage::SendMessage { message, .. } => {
            check_message_text(message);
            check_mentions(message);
        }
        ClientMessage::EditMessage { message, .. } => check_message_text(message),
        ClientMessage::JoinRoom(JoinRoom::Approve { targets, .. }) => check_targets(targets),
        ClientMessage::JoinRoom(JoinRoom::Reject {
            targets, reason, ..
        }) => {
            check_targets(targets);
            check_reason(reason.as_deref());
        }
        ClientMessage::JoinRoom(JoinRoom::Request {
            reason,
            invite_code,
            ..
        }) => {
            check_reason(reason.as_deref());
            if let Some(code) = invite_code {
                check_invite_code(code.as_str());
            }
        }
        ClientMessage::CreateInvite {
            label,
            expires_in_secs,
            max_uses,
            ..
        } => check_invite_terms(label.as_deref(), *expires_in_secs, *max_uses),
        ClientMessage::RevokeInvite { code, .. } | ClientMessage::LookupInvite { code } => {
            check_invite_code(code.as_str());
        }
        ClientMessage::RemoveMember { reason, .. }
        | ClientMessage::BanMember { reason, .. }
        | ClientMessage::UnbanMember { reason, .. } => check_reason(reason.as_deref()),
        ClientMessage::Search {
            query,
            room_id,
            before_seq,
            cursor,
            limit,
        } => {
            check_search_query(query);
            let _ = domain::search::search_from(room_id.is_some(), *before_seq, cursor.as_deref());
            let page = domain::search::search_page(*limit);
            assert!((1..=limits::MAX_SEARCH_PAGE).contains(&page));
        }
        ClientMessage::GetHistory {
            before_seq,
            after_seq,
            around_seq,
            limit,
            ..
        } => {
            let bounds = [before_seq, after_seq, around_seq]
                .iter()
                .filter(|bound| bound.is_some())
                .count();
            assert_eq!(
                domain::search::history_page_kind(*before_seq, *after_seq, *around_seq).is_ok(),
                bounds <= 1
            );
            let page = limit
                .unwrap_or(limits::DEFAULT_HISTORY_PAGE)
                .clamp(1, limits::MAX_HISTORY_PAGE);
            assert!((1..=limits::MAX_HISTORY_PAGE).contains(&page));
        }
        ClientMessage::Authenticate { .. }
        | ClientMessage::JoinRoom(JoinRoom::Cancel { .. })
        | ClientMessage::LeaveRoom { .. }
        | ClientMessage::SetRole { .. }
        | ClientMessage::DeleteRoom { .. }
        | ClientMessage::GetMembers { .. }
        | ClientMessage::Resume { .. }
        | ClientMessage::MyRooms
        | ClientMessage::DeleteMessage { .. }
        | ClientMessage::MarkRead { .. }
        | ClientMessage::Typing { .. }
        | ClientMessage::ListInvites { .. }
        | ClientMessage::SetRoomSettings { .. }
        | ClientMessage::Ping => {}
    }
}

/// Stored names are trimmed, 1 to 100 characters, some visible, without NUL, and storing one again
/// changes nothing. Each refusal has its stated reason. (A new rule in
/// `domain::room_name` needs its line here.)
fn check_room_name(raw: &str) {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    let fits = (1..=limits::MAX_ROOM_NAME_CHARS).contains(&chars)
        && limits::has_visible_character(trimmed);
    match domain::room_name(raw) {
        Ok(name) => {
            assert_eq!(name, trimmed);
            assert!(fits, "{chars} characters accepted");
            assert!(!name.contains('\0'), "NUL accepted");
            assert_eq!(domain::room_name(&name), Ok(name.clone()), "not idempotent");
        }
        Err(RuleError::InvalidRoomName) => assert!(!fits, "{raw:?} refused as invalid"),
        Err(RuleError::NulCharacter) => assert!(trimmed.contains('\0'), "{raw:?} has no NUL"),
        Err(other) => panic!("room_name({raw:?}) gave {other:?}: unknown to this target"),
    }
}

/// Messages are kept as typed: 1 to 4,000 characters, not only white space, without NUL.
/// (A new rule in `domain::message_text` needs its line here.)
fn check_message_text(text: &str) {
    let blank = text.trim().is_empty();
    let too_long = text.chars().count() > limits::MAX_MESSAGE_CHARS;
    let nul = text.contains('\0');
    match domain::message_text(text) {
        Ok(()) => assert!(!blank && !too_long && !nul, "{text:?} accepted"),
        Err(RuleError::EmptyMessage) => assert!(blank, "{text:?} refused as empty"),
        Err(RuleError::MessageTooLong) => assert!(too_long, "{text:?} refused as too long"),
        Err(RuleError::NulCharacter) => assert!(nul, "{text:?} has no NUL"),
        Err(other) => panic!("message_text({text:?}) gave {other:?}: unknown to this target"),
    }
}

/// The error frame the server answers with carries client-made text (the action, serde's
/// reason quoting the input): it must encode and decode back unchanged.
fn error_frame_round_trip(code: ErrorCode, message: &str, action: Option<&str>) {
    let frame = ServerMessage::error(code, message, action);
    let json = frame.to_json();
    let again: ServerMessage = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("error frame {json} does not decode: {error}"));
    assert_eq!(again, frame);
}

/// Mentions, with everyone a member: valid user ids, each once, each written in the text
/// after an `@` (in any case), and with no one a member, none.
fn check_mentions(text: &str) {
    let found = domain::mentions::mentions(text, |_| true);
    let lower = text.to_ascii_lowercase();
    for (n, user) in found.iter().enumerate() {
        assert!(limits::is_valid_username(user.as_str()), "{user} from {text:?}");
        assert!(lower.contains(&format!("@{user}")), "{user} not in {text:?}");
        assert!(!found[..n].contains(user), "{user} twice from {text:?}");
    }
    assert!(domain::mentions::mentions(text, |_| false).is_empty());
}
