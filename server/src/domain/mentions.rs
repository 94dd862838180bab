//! Mentions: which members a message names with `@username` (docs/protocol.md,
//! *Mentions*).
//!
//! A mention is `@` and a username, standing as a word of its own:
//!
//! - The `@` starts the text or follows a character that is neither a letter or digit (of
//!   any script) nor one of `_ . - @ /`: `(@bob)`, `hi @bob`, `cc:@bob` mention bob;
//!   `email@bob`, `x_@bob`, `site.org/@bob`, `@@bob` do not.
//! - The name is the run of username characters (`a-z 0-9 _ . -`, either case) after the
//!   `@`, compared without case. When the run is not a member's name, the run without its
//!   trailing `.`, `_` and `-` is tried, so that `@bob.` and `@bob-` at the end of a
//!   sentence mention bob; nothing shorter is: `@bobby` and `@bob.smith` do not mention
//!   bob.
//! - The run must not be followed by a letter or digit of another script, nor by `@`:
//!   `@bobé` and `@bob@example.org` mention no one.
//! - Only the room's approved members count; each is listed once, in the order first
//!   mentioned.

use knock_protocol::{UserId, limits};

/// The members `text` mentions, each once, in order of first appearance; `is_member` says
/// whether a (lower-case) user id is an approved member of the room.
pub fn mentions(text: &str, is_member: impl Fn(&UserId) -> bool) -> Vec<UserId> {
    let mut found: Vec<UserId> = Vec::new();
    let mut previous: Option<char> = None;
    let mut rest = text.char_indices().peekable();
    while let Some((at, c)) = rest.next() {
        let starts_mention = c == '@' && previous.is_none_or(may_precede_mention);
        previous = Some(c);
        if !starts_mention {
            continue;
        }
        let name_start = at + 1;
        let name_len: usize = text[name_start..]
            .chars()
            .take_while(|c| knock_protocol::limits::is_username_char(*c))
            .map(char::len_utf8)
            .sum();
        let run = &text[name_start..name_start + name_len];
        let after = text[name_start + name_len..].chars().next();
        if after.is_some_and(|c| c.is_alphanumeric() || c == '@') {
            continue;
        }
        let trimmed = run.trim_end_matches(['.', '_', '-']);
        let member = [run, trimmed].into_iter().find_map(|candidate| {
            let id = candidate.to_ascii_lowercase();
            if !limits::is_valid_username(&id) {
                return None;
            }
            let id = UserId::new(id);
            is_member(&id).then_some(id)
        });
        if let Some(member) = member
            && !found.contains(&member)
        {
            found.push(member);
        }
        // The name's characters cannot start another mention; skip them.
        while rest
            .peek()
            .is_some_and(|(index, _)| *index < name_start + name_len)
        {
            previous = rest.next().map(|(_, c)| c);
        }
    }
    found
}

/// Whether a mention's `@` may follow `c`: not inside a word, an address or a path.
fn may_precede_mention(c: char) -> bool {
    !(c.is_alphanumeric() || is_combining_mark(c) || matches!(c, '_' | '.' | '-' | '@' | '/'))
}

/// The common blocks of combining marks: a mark belongs to the letter before it (`é`
/// typed as `e` and U+0301), so `é@bob` is an address, not a mention.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let members = ["bob", "carol", "bob.smith", "dave-"];
        mentions(text, |user| members.contains(&user.as_str()))
            .into_iter()
            .map(|user| user.0)
            .collect()
    }

    #[test]
    fn whole_names_of_members_after_a_boundary() {
        assert_eq!(found("@bob hi"), ["bob"]);
        assert_eq!(found("hi @bob, and (@carol)!"), ["bob", "carol"]);
        assert_eq!(found("cc:@Bob"), ["bob"], "without case");
        assert_eq!(found("ask @bob."), ["bob"], "a sentence's full stop");
        assert_eq!(found("@bob's idea"), ["bob"]);
        assert_eq!(found("«@bob»\n@carol"), ["bob", "carol"]);
        assert_eq!(
            found("@bob.smith here"),
            ["bob.smith"],
            "the longest name first"
        );
        assert_eq!(found("@dave- hi"), ["dave-"], "a name ending in '-' itself");
    }

    #[test]
    fn not_inside_words_addresses_or_longer_names() {
        assert_eq!(found("@bobby"), Vec::<String>::new());
        assert_eq!(found("email@bob"), Vec::<String>::new());
        assert_eq!(found("x_@bob y.@bob -@bob"), Vec::<String>::new());
        assert_eq!(found("https://example.org/@bob"), Vec::<String>::new());
        assert_eq!(found("@bob@example.org"), Vec::<String>::new());
        assert_eq!(found("@bobé"), Vec::<String>::new());
        assert_eq!(found("@@bob"), Vec::<String>::new());
        assert_eq!(found("@ bob @"), Vec::<String>::new());
        assert_eq!(found("@bob.smithy"), Vec::<String>::new());
        assert_eq!(found("@eve is not a member"), Vec::<String>::new());
    }

    #[test]
    fn each_member_once_in_order_of_first_mention() {
        assert_eq!(found("@carol @bob @carol @BOB"), ["carol", "bob"]);
    }

    #[test]
    fn any_text_is_safe() {
        for text in [
            "@",
            "@@",
            "é@",
            "@\u{1F600}",
            "a@b@c",
            "@-",
            "@...",
            "\u{0301}@bob",
        ] {
            let _ = found(text);
        }
        // A combining mark belongs to the letter before it: still inside a word.
        assert_eq!(found("e\u{0301}@bob"), Vec::<String>::new());
    }
}
