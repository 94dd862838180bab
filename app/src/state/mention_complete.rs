//! `@` completion in the composer: which name is being typed, who matches, and the text
//! once one is picked. Pure, so it is tested here; the composer wires it to the box.

use knock_protocol::UserId;
use knock_protocol::limits::is_username_char;

/// Most names offered at once.
pub const MAX_SUGGESTIONS: usize = 6;

/// The `@name` being typed just before the caret (`before` is the text up to it): the
/// byte where its `@` is, and what follows the `@`, lowercased. The `@` must start the
/// text or follow a space or punctuation other than a name's (an address's `@` is not).
pub fn query(before: &str) -> Option<(usize, String)> {
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    if !typed.chars().all(is_username_char) {
        return None;
    }
    let starts_word = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_alphanumeric() || is_username_char(c) || c == '@' || c == '/'));
    starts_word.then(|| (at, typed.to_ascii_lowercase()))
}

/// The members whose name starts with `prefix`, by name, the user left out.
pub fn suggestions<'a>(
    prefix: &str,
    members: impl Iterator<Item = &'a UserId>,
    me: Option<&UserId>,
) -> Vec<UserId> {
    let mut found: Vec<UserId> = members
        .filter(|m| Some(*m) != me && m.as_str().starts_with(prefix))
        .cloned()
        .collect();
    found.sort();
    found.truncate(MAX_SUGGESTIONS);
    found
}

/// `text` with the `@…` that starts at byte `at` and ends at the caret (byte `caret`)
/// replaced by `@name `; and the caret after it, in bytes.
pub fn complete(text: &str, at: usize, caret: usize, name: &UserId) -> (String, usize) {
    let inserted = format!("@{name} ");
    let rest = text[caret..].strip_prefix(' ').unwrap_or(&text[caret..]);
    let new_text = format!("{}{inserted}{rest}", &text[..at]);
    (new_text, at + inserted.len())
}

/// A byte offset of `text` from a UTF-16 one (the browser's `selectionStart`).
pub fn byte_offset(text: &str, utf16: u32) -> usize {
    let mut units = 0_u32;
    for (i, c) in text.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += u32::try_from(c.len_utf16()).unwrap_or(2);
    }
    text.len()
}

/// The UTF-16 offset of a byte offset of `text`.
pub fn utf16_offset(text: &str, byte: usize) -> u32 {
    u32::try_from(text[..byte].encode_utf16().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_name_being_typed() {
        assert_eq!(query("@"), Some((0, String::new())));
        assert_eq!(query("hi @Bo"), Some((3, "bo".into())));
        assert_eq!(query("(@al.i"), Some((1, "al.i".into())));
        assert_eq!(query("mail me at ann@bo"), None, "an address");
        assert_eq!(query("@bob said"), None, "past the name");
        assert_eq!(query("no at sign"), None);
    }

    #[test]
    fn offers_members_by_prefix_and_inserts_the_name() {
        let members = [UserId::from("bob"), UserId::from("bo"), UserId::from("ann")];
        assert_eq!(
            suggestions("bo", members.iter(), Some(&UserId::from("ann"))),
            [UserId::from("bo"), UserId::from("bob")]
        );
        assert_eq!(
            suggestions("", members.iter(), Some(&UserId::from("ann"))).len(),
            2
        );
        let (text, caret) = complete("hi @bo there", 3, 6, &UserId::from("bob"));
        assert_eq!((text.as_str(), caret), ("hi @bob there", 8));
    }

    #[test]
    fn converts_caret_offsets() {
        let text = "é😀@b";
        assert_eq!(byte_offset(text, 3), "é😀".len());
        assert_eq!(utf16_offset(text, "é😀".len()), 3);
        assert_eq!(byte_offset(text, 99), text.len());
    }
}
