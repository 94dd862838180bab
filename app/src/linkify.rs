//! Finds web links in a chat message so they can be made clickable. Everything else
//! stays text: the result is rendered as text nodes and `<a href>` with only `http`
//! and `https` addresses, never as HTML.

/// A piece of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Link(&'a str),
    /// `@name` of a member the server listed in the message's `mentions`.
    Mention(&'a str),
}

/// Splits a piece of text at the `@name`s of `mentioned` (the server decided who is
/// mentioned, docs/protocol.md *Mentions*; this only finds where to mark them).
pub fn split_mentions<'a>(text: &'a str, mentioned: &[&str]) -> Vec<Segment<'a>> {
    let mut segments = Vec::new();
    let mut plain_from = 0;
    let mut i = 0;
    while let Some(at) = text[i..].find('@').map(|p| p + i) {
        let after = &text[at + 1..];
        let run_len = after
            .find(|c: char| !knock_protocol::limits::is_username_char(c))
            .unwrap_or(after.len());
        let run = &after[..run_len];
        let name = [run, run.trim_end_matches(['.', '_', '-'])]
            .into_iter()
            .find(|n| !n.is_empty() && mentioned.iter().any(|m| m.eq_ignore_ascii_case(n)));
        match name {
            Some(name) => {
                if plain_from < at {
                    segments.push(Segment::Text(&text[plain_from..at]));
                }
                let end = at + 1 + name.len();
                segments.push(Segment::Mention(&text[at..end]));
                plain_from = end;
                i = end;
            }
            None => i = at + 1,
        }
    }
    if plain_from < text.len() {
        segments.push(Segment::Text(&text[plain_from..]));
    }
    segments
}

/// Characters that end a sentence more often than a URL.
fn trailing_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '\'' | '"' | '>'
    )
}

/// Splits `text` into text and `http(s)://` links, in order.
pub fn split_links(text: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(start) = find_scheme(rest) {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(candidate.len());
        let mut url = &candidate[..end];
        while let Some(last) = url.chars().last() {
            // Keep a closing parenthesis that has its opening one inside the URL.
            let balanced = last == ')' && url.matches('(').count() >= url.matches(')').count();
            if trailing_punctuation(last) && !balanced {
                url = &url[..url.len() - last.len_utf8()];
            } else {
                break;
            }
        }
        let scheme_len = if url.starts_with("https://") { 8 } else { 7 };
        if url.len() <= scheme_len {
            // A bare "https://": text.
            segments.push(Segment::Text(&rest[..start + end]));
            rest = &rest[start + end..];
            continue;
        }
        if start > 0 {
            segments.push(Segment::Text(&rest[..start]));
        }
        segments.push(Segment::Link(url));
        rest = &rest[start + url.len()..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest));
    }
    segments
}

fn find_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let http = lower.find("http://");
    let https = lower.find("https://");
    let found = match (http, https) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }?;
    // Only at a word start: "xhttp://" is not a link.
    let at_word_start = text[..found]
        .chars()
        .last()
        .is_none_or(|c| !c.is_alphanumeric());
    if at_word_start {
        Some(found)
    } else {
        let skip = found + 4;
        find_scheme(&text[skip..]).map(|i| i + skip)
    }
}

#[cfg(test)]
mod tests {
    use super::Segment::{Link, Text};
    use super::*;

    #[test]
    fn plain_text_is_one_segment() {
        assert_eq!(split_links("hello"), [Text("hello")]);
        assert_eq!(split_links(""), []);
    }

    #[test]
    fn finds_links_and_leaves_punctuation_out() {
        assert_eq!(
            split_links("see https://example.org/a?b=1#c, then http://x.y."),
            [
                Text("see "),
                Link("https://example.org/a?b=1#c"),
                Text(", then "),
                Link("http://x.y"),
                Text("."),
            ]
        );
        assert_eq!(
            split_links("(https://en.wikipedia.org/wiki/Rust_(language))"),
            [
                Text("("),
                Link("https://en.wikipedia.org/wiki/Rust_(language)"),
                Text(")"),
            ]
        );
        assert_eq!(split_links("HTTPS://X.ORG"), [Link("HTTPS://X.ORG")]);
    }

    #[test]
    fn other_schemes_and_html_stay_text() {
        assert_eq!(
            split_links("javascript:alert(1) <a href=\"https://x.org\">x</a>"),
            [
                Text("javascript:alert(1) <a href=\""),
                Link("https://x.org"),
                Text("\">x</a>"),
            ]
        );
        assert_eq!(split_links("xhttps://a.b"), [Text("xhttps://a.b")]);
        assert_eq!(
            split_links("https:// alone"),
            [Text("https://"), Text(" alone")]
        );
    }

    #[test]
    fn marks_the_mentions_the_server_listed() {
        use super::Segment::{Mention, Text};
        assert_eq!(
            split_mentions("hi @Bob and @carol, @bob.", &["bob"]),
            [
                Text("hi "),
                Mention("@Bob"),
                Text(" and @carol, "),
                Mention("@bob"),
                Text(".")
            ]
        );
        assert_eq!(split_mentions("no one", &["bob"]), [Text("no one")]);
        assert_eq!(split_mentions("@bobby", &["bob"]), [Text("@bobby")]);
    }
}
