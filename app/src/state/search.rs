//! Message search: what was asked and where, the pages of results, and why a search
//! was refused. One search is shown at a time, over all rooms or one room.

use knock_protocol::{ClientMessage, RoomId, SearchResult, limits};

use super::Command;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// The query shown and the room it was limited to: answers to another are dropped.
    pub asked: Option<(String, Option<RoomId>)>,
    /// Newest first, as the server sent them.
    pub results: Vec<SearchResult>,
    pub has_more: bool,
    next_cursor: Option<String>,
    /// A page was asked for and not answered yet.
    pub loading: bool,
    /// Why the search was refused, here or by the server.
    pub error: Option<String>,
}

impl Search {
    /// A new search; a query the server would refuse is refused here.
    pub(super) fn start(&mut self, query: &str, room_id: Option<RoomId>) -> Vec<Command> {
        let query = query.trim();
        *self = Self {
            asked: Some((query.to_owned(), room_id.clone())),
            ..Self::default()
        };
        if let Err(problem) = check(query) {
            self.error = Some(problem.to_owned());
            return Vec::new();
        }
        self.loading = true;
        vec![Command::Send(ClientMessage::Search {
            query: query.to_owned(),
            room_id,
            before_seq: None,
            cursor: None,
            limit: None,
        })]
    }

    /// The next page of the search shown.
    pub(super) fn more(&mut self) -> Vec<Command> {
        let (Some((query, room_id)), Some(cursor)) = (&self.asked, &self.next_cursor) else {
            return Vec::new();
        };
        if self.loading || !self.has_more {
            return Vec::new();
        }
        let frame = ClientMessage::Search {
            query: query.clone(),
            room_id: room_id.clone(),
            before_seq: None,
            cursor: Some(cursor.clone()),
            limit: None,
        };
        self.loading = true;
        vec![Command::Send(frame)]
    }

    pub(super) fn answered(
        &mut self,
        query: &str,
        room_id: Option<&RoomId>,
        results: Vec<SearchResult>,
        has_more: bool,
        next_cursor: Option<String>,
    ) {
        let current = self
            .asked
            .as_ref()
            .is_some_and(|(q, r)| q == query && r.as_ref() == room_id);
        if !current || !self.loading {
            return;
        }
        self.results.extend(results);
        self.has_more = has_more;
        self.next_cursor = next_cursor;
        self.loading = false;
    }

    pub(super) fn refused(&mut self, readable: String) {
        if self.loading {
            self.loading = false;
            self.error = Some(readable);
        }
    }

    /// The connection closed: a page asked for will not be answered.
    pub(super) fn disconnected(&mut self) {
        if self.loading {
            self.loading = false;
            self.error =
                Some("Search needs a connection. Try again when you are back online.".into());
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The results grouped by room, rooms in the order of their newest result.
    pub fn by_room(&self) -> Vec<(RoomId, Vec<SearchResult>)> {
        let mut groups: Vec<(RoomId, Vec<SearchResult>)> = Vec::new();
        for result in &self.results {
            match groups.iter_mut().find(|(room, _)| room == &result.room_id) {
                Some((_, hits)) => hits.push(result.clone()),
                None => groups.push((result.room_id.clone(), vec![result.clone()])),
            }
        }
        groups
    }
}

/// What the server checks of a query (`invalid_query`), said before asking.
fn check(query: &str) -> Result<(), &'static str> {
    if !query.chars().any(char::is_alphanumeric) {
        Err("Type a word to search for.")
    } else if query.chars().count() > limits::MAX_SEARCH_QUERY_CHARS {
        Err("A search is at most 200 characters.")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::{MessageId, UserId};

    use super::*;

    const NONE: Vec<Command> = Vec::new();

    fn hit(room: &str, seq: u64) -> SearchResult {
        SearchResult {
            room_id: RoomId::from(room),
            seq,
            message_id: MessageId::new(format!("{room}{seq}")),
            user_id: UserId::from("alice"),
            message: "tea".into(),
            timestamp: 1,
            snippet: Vec::new(),
        }
    }

    #[test]
    fn refuses_what_the_server_would_refuse_without_asking() {
        let mut search = Search::default();
        assert_eq!(search.start("  \"*-\" ", None), NONE);
        assert_eq!(search.error.as_deref(), Some("Type a word to search for."));
        assert_eq!(search.start(&"a".repeat(201), None), NONE);
        assert!(search.error.is_some() && !search.loading);
        assert_eq!(search.start(&"a".repeat(200), None).len(), 1);
        assert!(search.loading && search.error.is_none());
    }

    #[test]
    fn pages_are_appended_and_answers_to_a_replaced_search_dropped() {
        let mut search = Search::default();
        let room = RoomId::from("r");
        search.start("tea", Some(room.clone()));
        // An answer to an earlier search of all rooms is not this one's.
        search.answered("tea", None, vec![hit("x", 9)], false, None);
        assert!(search.results.is_empty() && search.loading);
        search.answered(
            "tea",
            Some(&room),
            vec![hit("r", 9), hit("r", 7)],
            true,
            Some("c".into()),
        );
        assert!(!search.loading && search.has_more);
        assert_eq!(
            search.more(),
            [Command::Send(ClientMessage::Search {
                query: "tea".into(),
                room_id: Some(room.clone()),
                before_seq: None,
                cursor: Some("c".into()),
                limit: None,
            })]
        );
        assert_eq!(search.more(), NONE, "one page at a time");
        search.answered("tea", Some(&room), vec![hit("r", 2)], false, None);
        let seqs: Vec<u64> = search.results.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [9, 7, 2]);
        assert_eq!(search.more(), NONE, "no more pages");
    }

    #[test]
    fn results_are_grouped_by_room_in_order_of_their_newest() {
        let mut search = Search::default();
        search.start("tea", None);
        search.answered(
            "tea",
            None,
            vec![hit("b", 9), hit("a", 5), hit("b", 3)],
            false,
            None,
        );
        let groups: Vec<(String, Vec<u64>)> = search
            .by_room()
            .into_iter()
            .map(|(room, hits)| (room.to_string(), hits.iter().map(|h| h.seq).collect()))
            .collect();
        assert_eq!(groups, [("b".into(), vec![9, 3]), ("a".into(), vec![5])]);
    }
}
