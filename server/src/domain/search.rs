//! The rules of `search` and of paging a room around a message: what a query asks for, how
//! a result's snippet is cut and marked, what a cursor names. Plain functions; the engines'
//! query syntaxes are built from [`SearchQuery`] in the storage backends.

use std::collections::HashSet;

use knock_protocol::{SnippetPart, limits};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use super::RuleError;

/// Words that must appear next to each other in this order: one word, or a `"quoted
/// phrase"`. Each word is a run of letters, digits and combining marks, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTerm {
    pub words: Vec<String>,
}

/// A parsed query: a message matches when it holds every term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<SearchTerm>,
}

/// Quotation marks that open or close a phrase: the ASCII one and the typographic pair
/// that phones type instead.
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}')
}

/// The characters of words: what the engines' tokenizers keep (letters and digits of any
/// script, with their combining marks); everything else separates words.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Splits `text` into runs of word characters and runs of other characters, in order;
/// each piece says whether it is a word.
pub fn split_words(text: &str) -> Vec<(&str, bool)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = None;
    for (at, c) in text.char_indices() {
        let word = is_word_char(c);
        if in_word.is_some_and(|was| was != word) {
            pieces.push((&text[start..at], !word));
            start = at;
        }
        in_word = Some(word);
    }
    if let Some(word) = in_word {
        pieces.push((&text[start..], word));
    }
    pieces
}

/// A query as typed, into the terms a message must hold: at most
/// [`limits::MAX_SEARCH_QUERY_CHARS`] characters, at least one word. Every character that is
/// not a letter or digit separates words, so no operator of any engine's syntax survives
/// (`AND`, `NEAR` and the like are plain words); a quote left open runs to the end. A term
/// named twice is kept once.
pub fn search_query(raw: &str) -> Result<SearchQuery, RuleError> {
    if raw.chars().count() > limits::MAX_SEARCH_QUERY_CHARS {
        return Err(RuleError::QueryTooLong);
    }
    let mut terms: Vec<SearchTerm> = Vec::new();
    let mut push = |words: Vec<String>| {
        if !words.is_empty() && !terms.iter().any(|term| term.words == words) {
            terms.push(SearchTerm { words });
        }
    };
    for (index, part) in raw.split(is_quote).enumerate() {
        let words = split_words(part)
            .into_iter()
            .filter(|(_, word)| *word)
            .map(|(text, _)| text.to_owned());
        if index % 2 == 1 {
            push(words.collect());
        } else {
            for word in words {
                push(vec![word]);
            }
        }
    }
    if terms.is_empty() {
        return Err(RuleError::EmptyQuery);
    }
    Ok(SearchQuery { terms })
}

/// A word as search compares it: without diacritics, in lower case, final sigma as sigma.
/// Used for snippets; the engines fold words themselves (see docs/protocol.md for where
/// they differ).
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// A result's excerpt: the whole message when it is short, else about
/// [`limits::SNIPPET_CHARS`] characters from a little before its first match, cut between
/// words, with `…` where text was left out. Every word equal to a word of the query
/// ([`fold`]ed) is a part of its own with `match` set; the parts joined are the excerpt.
pub fn snippet(text: &str, query: &SearchQuery) -> Vec<SnippetPart> {
    let wanted: HashSet<String> = query
        .terms
        .iter()
        .flat_map(|term| &term.words)
        .map(|word| fold(word))
        .collect();
    let pieces: Vec<(&str, bool)> = split_words(text)
        .into_iter()
        .map(|(piece, word)| (piece, word && wanted.contains(&fold(piece))))
        .collect();
    let lengths: Vec<usize> = pieces
        .iter()
        .map(|(piece, _)| piece.chars().count())
        .collect();
    let is_word: Vec<bool> = split_words(text)
        .into_iter()
        .map(|(_, word)| word)
        .collect();
    let matches: Vec<bool> = pieces.iter().map(|(_, is_match)| *is_match).collect();
    let (first, end) = snippet_window(&lengths, &is_word, &matches);
    let mut parts = Vec::new();
    let mut add = |text: &str, is_match: bool| match parts.last_mut() {
        Some(SnippetPart {
            text: last,
            is_match: last_match,
        }) if *last_match == is_match && !is_match => last.push_str(text),
        _ => parts.push(SnippetPart {
            text: text.to_owned(),
            is_match,
        }),
    };
    if first > 0 {
        add("…", false);
    }
    for &(piece, is_match) in &pieces[first..end] {
        if piece.chars().count() > limits::SNIPPET_CHARS {
            let cut: String = piece.chars().take(limits::SNIPPET_CHARS).collect();
            add(&cut, is_match);
            add("…", false);
        } else {
            add(piece, is_match);
        }
    }
    if end < pieces.len() {
        add("…", false);
    }
    parts
}

/// The pieces a snippet shows, `first..end`: all when they fit, else from a few pieces
/// before the first match, as many as fit (at least the match itself).
fn snippet_window(lengths: &[usize], is_word: &[bool], matches: &[bool]) -> (usize, usize) {
    const CONTEXT_BEFORE: usize = limits::SNIPPET_CHARS / 4;
    if lengths.iter().sum::<usize>() <= limits::SNIPPET_CHARS {
        return (0, lengths.len());
    }
    let hit = matches.iter().position(|m| *m).unwrap_or(0);
    let mut first = hit;
    let mut before = 0;
    while first > 0 && before + lengths[first - 1] <= CONTEXT_BEFORE {
        first -= 1;
        before += lengths[first];
    }
    // Start on a word, not on the space before it.
    if first < hit && !is_word[first] {
        first += 1;
    }
    let mut end = hit + 1;
    let mut used: usize = lengths[first..end].iter().sum();
    while end < lengths.len() && used + lengths[end] <= limits::SNIPPET_CHARS {
        used += lengths[end];
        end += 1;
    }
    (first, end)
}

/// Where a page of results starts: the newest match, or past the last page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchFrom {
    Newest,
    /// One room: messages with a smaller `seq`.
    BeforeSeq(u64),
    /// Every room: messages stored before this position (the storage's own order).
    BeforePosition(i64),
}

/// The `nextCursor` after a page whose last result is at `seq` (one room) or `position`.
pub fn next_cursor(one_room: bool, seq: u64, position: i64) -> String {
    if one_room {
        format!("s{seq}")
    } else {
        format!("p{position}")
    }
}

/// Where a `search` page starts: `beforeSeq` only with a `roomId`, a `cursor` only as
/// [`next_cursor`] made it for the same kind of search, not both.
pub fn search_from(
    one_room: bool,
    before_seq: Option<u64>,
    cursor: Option<&str>,
) -> Result<SearchFrom, RuleError> {
    match (before_seq, cursor) {
        (Some(_), Some(_)) => Err(RuleError::BadPaging("give beforeSeq or cursor, not both")),
        (Some(_), None) if !one_room => Err(RuleError::BadPaging(
            "beforeSeq pages a search of one room: name its roomId, or page with cursor",
        )),
        (Some(seq), None) => Ok(SearchFrom::BeforeSeq(seq)),
        (None, None) => Ok(SearchFrom::Newest),
        (None, Some(cursor)) => {
            let parsed = if one_room {
                cursor
                    .strip_prefix('s')
                    .and_then(|seq| seq.parse().ok())
                    .map(SearchFrom::BeforeSeq)
            } else {
                cursor
                    .strip_prefix('p')
                    .and_then(|position| position.parse().ok())
                    .map(SearchFrom::BeforePosition)
            };
            parsed.ok_or(RuleError::BadPaging(
                "cursor is not a nextCursor of this kind of search",
            ))
        }
    }
}

/// How many results a page holds: the requested number within 1 to the most allowed, the
/// default page when none is asked for.
pub fn search_page(limit: Option<u32>) -> u32 {
    limit
        .unwrap_or(limits::DEFAULT_SEARCH_PAGE)
        .clamp(1, limits::MAX_SEARCH_PAGE)
}

/// Which page of history a `getHistory` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryPage {
    /// The newest messages with a smaller `seq` (all when `None`).
    Before(Option<u64>),
    /// The oldest messages with a greater `seq`.
    After(u64),
    /// The messages around this `seq` ([`around_split`]).
    Around(u64),
}

/// At most one of `beforeSeq`, `afterSeq` and `aroundSeq`.
pub fn history_page_kind(
    before_seq: Option<u64>,
    after_seq: Option<u64>,
    around_seq: Option<u64>,
) -> Result<HistoryPage, RuleError> {
    match (before_seq, after_seq, around_seq) {
        (before, None, None) => Ok(HistoryPage::Before(before)),
        (None, Some(after), None) => Ok(HistoryPage::After(after)),
        (None, None, Some(around)) => Ok(HistoryPage::Around(around)),
        _ => Err(RuleError::BadPaging(
            "give at most one of beforeSeq, afterSeq and aroundSeq",
        )),
    }
}

/// A page of `limit` around a message, from `older` messages before it and `newer` from it
/// on (the message itself first): how many of each it takes. Half the page each side, the
/// message's side taking the odd one; a side that runs short leaves its room to the other.
pub fn around_split(limit: usize, older: usize, newer: usize) -> (usize, usize) {
    let older_taken = older.min(limit / 2);
    let newer_taken = newer.min(limit - older_taken);
    (older.min(limit - newer_taken), newer_taken)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn words(query: &str) -> Vec<Vec<String>> {
        search_query(query)
            .unwrap()
            .terms
            .into_iter()
            .map(|term| term.words)
            .collect()
    }

    #[test]
    fn words_and_phrases() {
        assert_eq!(words("Café  crème"), [vec!["Café"], vec!["crème"]]);
        assert_eq!(
            words(r#"tea "green tea" cup"#),
            [vec!["tea"], vec!["green", "tea"], vec!["cup"]]
        );
        assert_eq!(
            words("“smart quotes” too"),
            [vec!["smart", "quotes"], vec!["too"]]
        );
        assert_eq!(
            words(r#"open "quote runs on"#),
            [vec!["open"], vec!["quote", "runs", "on"]]
        );
        assert_eq!(words("tea tea TEA"), [vec!["tea"], vec!["TEA"]]);
        assert_eq!(words("Привет мир"), [vec!["Привет"], vec!["мир"]]);
        assert_eq!(words("東京 タワー"), [vec!["東京"], vec!["タワー"]]);
    }

    #[test]
    fn engine_syntax_is_only_separators_and_words() {
        assert_eq!(
            words(r#"a* -b NEAR(c d) e:f ^g (h OR i) AND NOT "" j+k"#),
            [
                vec!["a"],
                vec!["b"],
                vec!["NEAR"],
                vec!["c"],
                vec!["d"],
                vec!["e"],
                vec!["f"],
                vec!["g"],
                vec!["h"],
                vec!["OR"],
                vec!["i"],
                vec!["AND"],
                vec!["NOT"],
                vec!["j"],
                vec!["k"],
            ]
        );
        assert_eq!(
            words("l'école e-mail"),
            [vec!["l"], vec!["école"], vec!["e"], vec!["mail"]]
        );
    }

    #[test]
    fn refused_queries() {
        assert_eq!(search_query(""), Err(RuleError::EmptyQuery));
        assert_eq!(search_query("   "), Err(RuleError::EmptyQuery));
        assert_eq!(search_query(r#"?!* "" -- ()"#), Err(RuleError::EmptyQuery));
        assert_eq!(search_query("😀 \u{200B}"), Err(RuleError::EmptyQuery));
        let long = "a".repeat(limits::MAX_SEARCH_QUERY_CHARS + 1);
        assert_eq!(search_query(&long), Err(RuleError::QueryTooLong));
        let longest = "é".repeat(limits::MAX_SEARCH_QUERY_CHARS);
        assert!(search_query(&longest).is_ok());
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("ÉTÉ"), "ete");
        assert_eq!(fold("Crème"), "creme");
        assert_eq!(fold("ΛΌΓΟΣ"), fold("λόγος"));
        assert_eq!(fold("ПРИВЕТ"), "привет");
    }

    fn plain(parts: &[SnippetPart]) -> String {
        parts.iter().map(|part| part.text.as_str()).collect()
    }

    fn marked(parts: &[SnippetPart]) -> Vec<&str> {
        parts
            .iter()
            .filter(|part| part.is_match)
            .map(|part| part.text.as_str())
            .collect()
    }

    #[test]
    fn snippets_mark_every_word_of_the_query() {
        let query = search_query(r#"cafe "green tea""#).unwrap();
        let parts = snippet("Green tea at the Café? GREEN café <b>", &query);
        assert_eq!(plain(&parts), "Green tea at the Café? GREEN café <b>");
        assert_eq!(marked(&parts), ["Green", "tea", "Café", "GREEN", "café"]);
        assert_eq!(
            parts[0],
            SnippetPart {
                text: "Green".into(),
                is_match: true
            }
        );
    }

    #[test]
    fn long_messages_are_cut_around_the_first_match() {
        let query = search_query("needle").unwrap();
        let text = format!("{} needle {}", "hay ".repeat(200), "straw ".repeat(200));
        let parts = snippet(&text, &query);
        let shown = plain(&parts);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(
            shown.chars().count() <= limits::SNIPPET_CHARS + 2,
            "{shown}"
        );
        assert_eq!(marked(&parts), ["needle"]);
        assert!(shown.starts_with("…hay"), "starts on a word: {shown}");
        // No match shown (a phrase's words far apart): the start of the message.
        let parts = snippet(&text, &search_query("nothing").unwrap());
        assert!(plain(&parts).starts_with("hay hay"));
        assert_eq!(marked(&parts), Vec::<&str>::new());
    }

    #[test]
    fn cursors() {
        assert_eq!(search_from(true, None, None), Ok(SearchFrom::Newest));
        assert_eq!(
            search_from(true, Some(5), None),
            Ok(SearchFrom::BeforeSeq(5))
        );
        assert_eq!(
            search_from(true, None, Some(&next_cursor(true, 9, 1_000))),
            Ok(SearchFrom::BeforeSeq(9))
        );
        assert_eq!(
            search_from(false, None, Some(&next_cursor(false, 9, 1_000))),
            Ok(SearchFrom::BeforePosition(1_000))
        );
        assert!(search_from(false, Some(5), None).is_err());
        assert!(search_from(true, Some(5), Some("s4")).is_err());
        assert!(search_from(false, None, Some("s4")).is_err());
        assert!(search_from(true, None, Some("p4")).is_err());
        assert!(search_from(false, None, Some("p")).is_err());
        assert!(search_from(false, None, Some("p1;DROP")).is_err());
    }

    #[test]
    fn history_pages() {
        assert_eq!(
            history_page_kind(None, None, None),
            Ok(HistoryPage::Before(None))
        );
        assert_eq!(
            history_page_kind(Some(3), None, None),
            Ok(HistoryPage::Before(Some(3)))
        );
        assert_eq!(
            history_page_kind(None, Some(3), None),
            Ok(HistoryPage::After(3))
        );
        assert_eq!(
            history_page_kind(None, None, Some(3)),
            Ok(HistoryPage::Around(3))
        );
        assert!(history_page_kind(Some(3), None, Some(3)).is_err());
        assert!(history_page_kind(None, Some(3), Some(3)).is_err());
        assert!(history_page_kind(Some(3), Some(3), None).is_err());
    }

    #[test]
    fn around_takes_half_each_side() {
        assert_eq!(around_split(50, 100, 100), (25, 25));
        assert_eq!(around_split(5, 100, 100), (2, 3));
        assert_eq!(around_split(50, 3, 100), (3, 47));
        assert_eq!(around_split(50, 100, 4), (46, 4));
        assert_eq!(around_split(50, 3, 4), (3, 4));
        assert_eq!(around_split(1, 10, 10), (0, 1));
    }

    proptest! {
        #[test]
        fn any_query_parses_into_words_only(raw in ".{0,220}") {
            match search_query(&raw) {
                Ok(query) => {
                    prop_assert!(!query.terms.is_empty());
                    for term in &query.terms {
                        prop_assert!(!term.words.is_empty());
                        for word in &term.words {
                            prop_assert!(!word.is_empty());
                            prop_assert!(word.chars().all(is_word_char), "{word:?}");
                            prop_assert!(raw.contains(word.as_str()));
                        }
                    }
                }
                Err(RuleError::QueryTooLong) => {
                    prop_assert!(raw.chars().count() > limits::MAX_SEARCH_QUERY_CHARS);
                }
                Err(RuleError::EmptyQuery) => prop_assert!(!raw.chars().any(is_word_char)),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn a_snippet_is_the_message_or_a_piece_of_it(
            text in "[a-zé ,.\"!\n]{1,600}",
            query in "[a-zé \"]{1,20}",
        ) {
            let Ok(query) = search_query(&query) else { return Ok(()); };
            let parts = snippet(&text, &query);
            let shown = plain(&parts);
            if text.chars().count() <= limits::SNIPPET_CHARS {
                prop_assert_eq!(&shown, &text);
            } else {
                let inner = shown.trim_start_matches('…').trim_end_matches('…');
                prop_assert!(text.contains(inner), "{shown:?} not in {text:?}");
                prop_assert!(shown.chars().count() <= limits::SNIPPET_CHARS + 2);
            }
            let wanted: Vec<String> = query.terms.iter().flat_map(|t| &t.words).map(|w| fold(w)).collect();
            for part in parts.iter().filter(|part| part.is_match) {
                prop_assert!(wanted.contains(&fold(&part.text)), "{:?}", part.text);
            }
        }

        #[test]
        fn around_fills_the_page(limit in 1usize..=100, older in 0usize..200, newer in 0usize..200) {
            let (before, after) = around_split(limit, older, newer);
            prop_assert!(before <= older && after <= newer);
            prop_assert_eq!(before + after, limit.min(older + newer));
            if older >= limit / 2 && newer >= limit - limit / 2 {
                prop_assert_eq!((before, after), (limit / 2, limit - limit / 2));
            }
        }
    }
}
