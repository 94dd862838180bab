//! A room's messages as the client knows them: ordered by `seq`, each stored once.
//!
//! Messages reach the client from four places (the newest `history` page, older pages,
//! live `message` frames, the replay after `resume`) and may overlap. Merging by `seq`
//! with dedupe by `messageId` makes the order of arrival irrelevant.

use std::collections::BTreeMap;

use knock_protocol::{ChatMessage, MessageId, ReplyTo, limits};

/// What a `history` page asked for, so the answer can be read correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// The newest page, when the room is opened.
    Newest,
    /// The page before the oldest known message (scrolling up).
    Older,
    /// Filling a gap noticed in live messages; says nothing about older pages.
    Gap,
    /// The page around a message (a search result), in place of the newest page.
    Around,
    /// The page after the newest known message, while it is not the room's newest.
    Newer,
    /// Asked for before the timeline was replaced (`open_at`): its answer is dropped.
    Stale,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    by_seq: BTreeMap<u64, ChatMessage>,
    /// The newest page has been received.
    pub loaded: bool,
    /// Older messages exist on the server.
    pub has_more: bool,
    /// Pages asked for and not yet answered, oldest request first.
    pub pending_pages: Vec<PageKind>,
    /// Newer messages than the newest known exist: the room was opened at a message
    /// (a search result), and pages are loaded below it as the reader scrolls down.
    pub has_newer: bool,
    /// The newest live message seen while `has_newer`: live messages are not kept then
    /// (they would leave a hole), so this says how far paging down has to go.
    newest_live: u64,
    /// The message to bring into view and highlight (the search result opened).
    pub focus: Option<u64>,
    /// The newest edit or deletion seen: entries of the room's log with a `seq` of their
    /// own, between messages (docs/protocol.md, *The room log*).
    newest_change: u64,
}

/// What inserting one message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
}

impl Timeline {
    /// Adds a message unless it is already known (same `seq` or same `messageId`).
    pub fn insert(&mut self, message: ChatMessage) -> Inserted {
        if self.by_seq.contains_key(&message.seq) || self.has_id(&message.message_id) {
            return Inserted::Duplicate;
        }
        self.by_seq.insert(message.seq, message);
        Inserted::New
    }

    /// Whether a message with this id is known. A scan: rooms hold hundreds of
    /// messages, not millions, and a set would cost download size.
    fn has_id(&self, id: &MessageId) -> bool {
        !id.as_str().is_empty() && self.by_seq.values().any(|m| &m.message_id == id)
    }

    /// A live message: kept unless the timeline shows older messages than the newest
    /// (opened at a search result), where it would leave a hole; then remembered so that
    /// paging down goes as far as it.
    pub fn insert_live(&mut self, message: ChatMessage) -> Inserted {
        if self.has_newer {
            self.newest_live = self.newest_live.max(message.seq);
            return Inserted::Duplicate;
        }
        self.insert(message)
    }

    /// Shows the message `seq` highlighted. Unless it is shown already, forgets what is
    /// shown, to be replaced by the page around it: true when that page is needed.
    pub fn open_at(&mut self, seq: u64) -> bool {
        self.focus = Some(seq);
        if self.by_seq.contains_key(&seq) {
            return false;
        }
        let newest_live = self.newest_live.max(self.newest_seq());
        self.clear();
        self.focus = Some(seq);
        self.newest_live = newest_live;
        true
    }

    /// Whether the page below the newest known message may be asked for now.
    pub fn can_load_newer(&self) -> bool {
        self.loaded && self.has_newer && !self.pending_pages.contains(&PageKind::Newer)
    }

    /// Merges one `history` page, answering the oldest outstanding request.
    /// `has_more_after` is present in answers to `aroundSeq` and `afterSeq`.
    pub fn apply_page(
        &mut self,
        messages: Vec<ChatMessage>,
        has_more: bool,
        has_more_after: Option<bool>,
    ) -> usize {
        let kind = if self.pending_pages.is_empty() {
            if self.loaded {
                PageKind::Gap
            } else {
                PageKind::Newest
            }
        } else {
            self.pending_pages.remove(0)
        };
        // A page that ends before the oldest known message was asked for before the
        // timeline skipped ahead (`skip_to`): kept, it would leave a hole no one sees.
        let detached = kind == PageKind::Stale
            || match (messages.last(), self.oldest_seq()) {
                (Some(last), Some(oldest)) => last.seq + 1 < oldest,
                _ => false,
            };
        let added = if detached {
            0
        } else {
            messages
                .into_iter()
                .filter(|m| self.insert(m.clone()) == Inserted::New)
                .count()
        };
        match kind {
            PageKind::Newest => {
                if !self.loaded {
                    self.has_more = has_more;
                }
                self.loaded = true;
            }
            PageKind::Older if !detached => self.has_more = has_more,
            PageKind::Older | PageKind::Gap | PageKind::Stale => {}
            PageKind::Around => {
                self.loaded = true;
                self.has_more = has_more;
                self.has_newer = has_more_after.unwrap_or(false);
            }
            PageKind::Newer => {
                self.has_newer =
                    has_more_after.unwrap_or(false) || self.newest_live > self.newest_seq();
            }
        }
        if !self.has_newer {
            self.newest_live = 0;
        }
        added
    }

    /// Messages in order, oldest first.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &ChatMessage> {
        self.by_seq.values()
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// The oldest known `seq`, if any.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.by_seq.keys().next().copied()
    }

    /// The newest known message's `seq`, 0 when none.
    pub fn newest_seq(&self) -> u64 {
        self.by_seq.keys().next_back().copied().unwrap_or(0)
    }

    /// The newest entry of the room's log seen here (a message, an edit or a deletion):
    /// what a `resume` continues after.
    pub fn resume_after(&self) -> u64 {
        self.newest_seq().max(self.newest_change)
    }

    /// `messageEdited`: the message with that id, if known, reads `text` now; so do the
    /// quotes of the replies to it.
    pub fn apply_edit(&mut self, id: &MessageId, text: &str, edited_at: i64, seq: u64) {
        self.newest_change = self.newest_change.max(seq);
        for message in self.by_seq.values_mut() {
            if &message.message_id == id && !message.deleted {
                text.clone_into(&mut message.message);
                message.edited_at = Some(edited_at);
            }
            if let Some(reply) = &mut message.reply_to
                && &reply.message_id == id
                && !reply.deleted
            {
                ReplyTo::excerpt_of(text).clone_into(&mut reply.excerpt);
            }
        }
    }

    /// `messageDeleted`: the message with that id, if known, becomes a tombstone, and the
    /// quotes of the replies to it say it was deleted.
    pub fn apply_delete(&mut self, id: &MessageId, seq: u64) {
        self.newest_change = self.newest_change.max(seq);
        for message in self.by_seq.values_mut() {
            if &message.message_id == id {
                message.message.clear();
                message.deleted = true;
                message.reply_to = None;
                message.mentions.clear();
            }
            if let Some(reply) = &mut message.reply_to
                && &reply.message_id == id
            {
                reply.excerpt.clear();
                reply.deleted = true;
            }
        }
    }

    /// The message with that id, if known.
    pub fn by_id(&self, id: &MessageId) -> Option<&ChatMessage> {
        self.by_seq.values().find(|m| &m.message_id == id)
    }

    /// Whether an older page may be asked for now.
    pub fn can_load_older(&self) -> bool {
        self.loaded && self.has_more && !self.pending_pages.contains(&PageKind::Older)
    }

    /// The `(before_seq, limit)` of the page that fills the gap in front of a live
    /// message with `seq`, when messages are missing between the newest known and it.
    pub fn gap_before(&self, seq: u64) -> Option<(u64, u32)> {
        let newest = self.resume_after();
        if !self.loaded || self.has_newer || newest == 0 || seq <= newest + 1 {
            return None;
        }
        let missing = seq - newest - 1;
        let limit = u32::try_from(missing)
            .unwrap_or(u32::MAX)
            .min(limits::MAX_HISTORY_PAGE);
        Some((seq, limit))
    }

    /// The server skipped the messages before `before_seq` (`historyGap`): the timeline
    /// keeps what follows them and pages the rest with older pages, as when a room is
    /// opened, so that it never holds a hole the reader cannot see. Returns how many
    /// messages between `after_seq` and `before_seq` it had never received.
    pub fn skip_to(&mut self, after_seq: u64, before_seq: u64) -> u64 {
        let known = self.by_seq.range(after_seq + 1..before_seq).count() as u64;
        let skipped = before_seq
            .saturating_sub(after_seq + 1)
            .saturating_sub(known);
        self.by_seq = self.by_seq.split_off(&before_seq);
        self.has_more = true;
        skipped
    }

    /// Forgets everything (sign-out, lost access, back to the newest from a search
    /// result); answers to pages asked for before are dropped.
    pub fn clear(&mut self) {
        *self = Self {
            pending_pages: vec![PageKind::Stale; self.pending_pages.len()],
            ..Self::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::{RoomId, UserId};

    use super::*;

    fn msg(seq: u64) -> ChatMessage {
        ChatMessage {
            room_id: RoomId::from("r"),
            user_id: UserId::from("alice"),
            message: format!("m{seq}"),
            timestamp: 1_700_000_000_000 + i64::try_from(seq).unwrap(),
            seq,
            message_id: MessageId::new(format!("id{seq}")),
            ..ChatMessage::default()
        }
    }

    fn seqs(timeline: &Timeline) -> Vec<u64> {
        timeline.messages().map(|m| m.seq).collect()
    }

    #[test]
    fn orders_by_seq_whatever_the_arrival_order() {
        let mut t = Timeline::default();
        for seq in [5, 2, 9, 1] {
            assert_eq!(t.insert(msg(seq)), Inserted::New);
        }
        assert_eq!(seqs(&t), [1, 2, 5, 9]);
        assert_eq!(t.oldest_seq(), Some(1));
        assert_eq!(t.newest_seq(), 9);
    }

    #[test]
    fn dedupes_by_seq_and_by_message_id() {
        let mut t = Timeline::default();
        assert_eq!(t.insert(msg(1)), Inserted::New);
        assert_eq!(t.insert(msg(1)), Inserted::Duplicate);
        let mut same_id = msg(7);
        same_id.message_id = MessageId::from("id1");
        assert_eq!(t.insert(same_id), Inserted::Duplicate);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn newest_page_then_live_then_overlapping_older_page() {
        let mut t = Timeline::default();
        t.pending_pages.push(PageKind::Newest);
        assert_eq!(t.apply_page((51..=100).map(msg).collect(), true, None), 50);
        assert!(t.loaded && t.has_more);
        assert_eq!(t.insert(msg(101)), Inserted::New);
        assert!(t.can_load_older());
        t.pending_pages.push(PageKind::Older);
        assert!(!t.can_load_older(), "one older page at a time");
        // The older page overlaps what we have by a few messages.
        assert_eq!(t.apply_page((1..=55).map(msg).collect(), false, None), 50);
        assert_eq!(seqs(&t), (1..=101).collect::<Vec<_>>());
        assert!(!t.has_more);
        assert!(!t.can_load_older());
    }

    #[test]
    fn live_messages_before_the_first_page_are_kept() {
        let mut t = Timeline::default();
        t.insert(msg(10));
        t.pending_pages.push(PageKind::Newest);
        t.apply_page((1..=10).map(msg).collect(), false, None);
        assert_eq!(seqs(&t), (1..=10).collect::<Vec<_>>());
        assert!(t.loaded);
    }

    #[test]
    fn gap_detection_and_gap_pages_leave_has_more_alone() {
        let mut t = Timeline::default();
        t.pending_pages.push(PageKind::Newest);
        t.apply_page((1..=5).map(msg).collect(), true, None);
        assert_eq!(t.gap_before(6), None);
        assert_eq!(t.gap_before(5), None);
        assert_eq!(t.gap_before(9), Some((9, 3)));
        assert_eq!(t.gap_before(1_000), Some((1_000, 100)));
        t.insert(msg(9));
        t.pending_pages.push(PageKind::Gap);
        t.apply_page((6..=8).map(msg).collect(), false, None);
        assert!(t.has_more, "a gap page says nothing about older messages");
        assert_eq!(seqs(&t), (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn a_skipped_run_leaves_no_hole_and_is_paged_from_its_end() {
        let mut t = Timeline::default();
        t.pending_pages.push(PageKind::Newest);
        t.apply_page((1..=50).map(msg).collect(), false, None);
        // An older page asked for before the skip...
        t.pending_pages.push(PageKind::Older);
        assert_eq!(t.skip_to(50, 801), 750);
        assert!(t.is_empty() && t.loaded && t.has_more);
        for seq in 801..=1_000 {
            t.insert(msg(seq));
        }
        // ...is answered with messages that would leave a hole: dropped.
        assert_eq!(t.apply_page((1..=20).map(msg).collect(), false, None), 0);
        assert!(t.has_more, "still more before the oldest known");
        assert!(t.can_load_older());
        // Paging back from the new oldest fills it, page by page.
        t.pending_pages.push(PageKind::Older);
        assert_eq!(
            t.apply_page((701..=800).map(msg).collect(), true, None),
            100
        );
        assert_eq!(seqs(&t), (701..=1_000).collect::<Vec<_>>());
        // Messages received after the skipped run are kept.
        let mut t = Timeline::default();
        t.insert(msg(900));
        assert_eq!(t.skip_to(3, 801), 797);
        assert_eq!(seqs(&t), [900]);
    }

    #[test]
    fn opened_at_a_message_it_pages_both_ways_and_catches_up_with_live_ones() {
        let mut t = Timeline::default();
        t.pending_pages.push(PageKind::Newest);
        t.apply_page((951..=1_000).map(msg).collect(), true, None);
        // An older page is in flight when a search result is opened.
        t.pending_pages.push(PageKind::Older);
        assert!(!t.open_at(990), "shown already: only highlighted");
        assert_eq!(t.focus, Some(990));
        assert!(t.open_at(300));
        assert!(t.is_empty() && !t.loaded && t.focus == Some(300));
        t.pending_pages.push(PageKind::Around);
        // The stale older page is dropped, the page around the result kept.
        assert_eq!(t.apply_page((901..=950).map(msg).collect(), true, None), 0);
        t.apply_page((275..=324).map(msg).collect(), true, Some(true));
        assert!(t.loaded && t.has_more && t.has_newer);
        // Live messages meanwhile would leave a hole: not kept, nor filled.
        assert_eq!(t.insert_live(msg(1_001)), Inserted::Duplicate);
        assert_eq!(t.gap_before(1_002), None);
        assert!(t.can_load_newer());
        t.pending_pages.push(PageKind::Newer);
        assert!(!t.can_load_newer(), "one page down at a time");
        // The server's last page reaches the newest stored, but not the live one seen.
        t.apply_page((325..=1_000).map(msg).collect(), true, Some(false));
        assert!(t.has_newer, "1,001 was seen live");
        t.pending_pages.push(PageKind::Newer);
        t.apply_page(vec![msg(1_001)], true, Some(false));
        assert!(!t.has_newer);
        assert_eq!(t.insert_live(msg(1_002)), Inserted::New);
        assert_eq!(seqs(&t), (275..=1_002).collect::<Vec<_>>());
    }

    #[test]
    fn no_gap_before_the_first_page() {
        let mut t = Timeline::default();
        assert_eq!(t.gap_before(40), None);
        t.insert(msg(3));
        assert_eq!(t.gap_before(40), None);
    }

    #[test]
    fn empty_room() {
        let mut t = Timeline::default();
        t.pending_pages.push(PageKind::Newest);
        t.apply_page(Vec::new(), false, None);
        assert!(t.loaded && t.is_empty() && !t.can_load_older());
        assert_eq!(t.newest_seq(), 0);
        assert_eq!(t.oldest_seq(), None);
        t.clear();
        assert!(!t.loaded);
    }
}
