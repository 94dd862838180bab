//! Read state kept by the server (docs/protocol.md, *Mentions and read state*): each
//! room's read marker, unread and mention counts from `rooms`, moved by `readMarker` from
//! the user's other devices, and `markRead` sent for the room on screen, at most once a
//! second per room (the server counts it against the read allowance).

use std::collections::BTreeMap;

use knock_protocol::{ChatMessage, ClientMessage, RoomId, RoomSummary, UserId};

use super::{ChatState, Command, RoomState};

/// Least time between two `markRead`s of one room, in milliseconds.
pub const MARK_READ_EVERY_MS: f64 = 1_000.0;

/// What this client told the server it read, per room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadMarks {
    /// The newest `seq` sent in a `markRead`, and when (ms).
    sent: BTreeMap<RoomId, (u64, f64)>,
}

impl ReadMarks {
    pub fn disconnected(&mut self) {
        // The server keeps the marker; after a reconnect the next one is sent afresh.
        self.sent.clear();
    }
}

impl RoomState {
    /// The room comes on screen: the "New messages" divider goes after what was read,
    /// and its badges clear (the marker follows with `markRead`).
    pub(super) fn opened(&mut self) {
        self.divider_after = (self.unread > 0).then_some(self.read_seq);
        self.unread = 0;
        self.mentions = 0;
    }

    /// The counts of a `rooms` row.
    pub(super) fn read_state_from(&mut self, summary: &RoomSummary, viewing: bool) {
        self.read_seq = self.read_seq.max(summary.read_seq);
        self.pending_count = summary.pending_count;
        if viewing {
            self.unread = 0;
            self.mentions = 0;
        } else {
            self.unread = u32::try_from(summary.unread_count).unwrap_or(u32::MAX);
            self.mentions = u32::try_from(summary.mention_count).unwrap_or(u32::MAX);
        }
    }

    /// `readMarker`: read up to `seq` on another device (or confirmed here).
    pub(super) fn read_up_to(&mut self, seq: u64, me: Option<&UserId>) {
        if seq <= self.read_seq {
            return;
        }
        self.read_seq = seq;
        if seq >= self.timeline.resume_after() {
            self.unread = 0;
            self.mentions = 0;
            return;
        }
        // Only what is held can be counted again; older unread messages are not held.
        let after: Vec<&ChatMessage> = self
            .timeline
            .messages()
            .filter(|m| m.seq > seq && !m.deleted && Some(&m.user_id) != me)
            .collect();
        let unread = u32::try_from(after.len()).unwrap_or(u32::MAX);
        let mentions = after
            .iter()
            .filter(|m| me.is_some_and(|me| m.mentions.contains(me)))
            .count();
        self.unread = self.unread.min(unread);
        self.mentions = self
            .mentions
            .min(u32::try_from(mentions).unwrap_or(u32::MAX));
    }
}

impl ChatState {
    /// The page went out of sight or came back (`visibilitychange`); back in sight, the
    /// room on screen is marked read by the next pump.
    pub fn set_page_hidden(&mut self, hidden: bool) -> Vec<Command> {
        self.page_hidden = hidden;
        Vec::new()
    }

    /// `markRead` for the room on screen when it has newer entries than the marker, each
    /// room at most once per [`MARK_READ_EVERY_MS`]; the time of the next one due.
    pub(super) fn pump_reads(&mut self, now_ms: f64) -> (Vec<Command>, Option<f64>) {
        let mut commands = Vec::new();
        let Some(room_id) = self.viewing.clone() else {
            return (commands, None);
        };
        // Out of sight (another tab, a minimized window), nothing is read.
        if !self.online || self.page_hidden {
            return (commands, None);
        }
        let Some(room) = self.rooms.get(&room_id) else {
            return (commands, None);
        };
        let newest = room.timeline.resume_after();
        // Only others' messages count as unread: the user's own need no marker.
        let newest_unread = room
            .timeline
            .messages()
            .rev()
            .find(|m| Some(&m.user_id) != self.me.as_ref())
            .map_or(0, |m| m.seq);
        if !room.is_approved() || room.timeline.has_newer || newest_unread <= room.read_seq {
            return (commands, None);
        }
        let (sent_seq, sent_at) = self
            .read_marks
            .sent
            .get(&room_id)
            .copied()
            .unwrap_or_default();
        if newest <= sent_seq {
            return (commands, None);
        }
        let due = sent_at + MARK_READ_EVERY_MS;
        if sent_seq > 0 && now_ms < due {
            return (commands, Some(due));
        }
        self.read_marks
            .sent
            .insert(room_id.clone(), (newest, now_ms));
        commands.push(Command::Send(ClientMessage::MarkRead {
            room_id,
            seq: newest,
        }));
        (commands, None)
    }
}
