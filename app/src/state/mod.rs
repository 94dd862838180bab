//! The client's picture of the world, changed only by server frames and user intents.
//!
//! [`ChatState`] is plain Rust: every server frame and every user action goes through a
//! method that updates it and returns [`Command`]s (frames to send, a page to go to). The
//! Leptos layer keeps one `ChatState` in a signal and runs the commands; all the logic
//! (catch-up after reconnect, dedupe, outbox, membership changes) is tested natively.

pub mod account;
mod alerts;
pub mod backoff;
mod errors;
mod frames;
pub mod heartbeat;
mod intents;
pub mod invites;
pub mod members;
pub mod mention_complete;
pub mod message_actions;
pub mod notices;
pub mod outbox;
pub mod read_state;
pub mod search;
pub mod timeline;
pub mod typing;
mod wording;

use std::collections::{BTreeMap, VecDeque};

pub use self::errors::Errors;
pub use self::intents::reason_to_send;
pub use self::wording::{
    SIGNED_OUT_TEXT, describe_error, display_name, format_thousands, gone_text, gone_words,
};

use knock_protocol::{
    ClientMessage, MemberStatus, Participant, ReplyTo, ResumeRoom, RoomId, UserId, limits,
};

use self::members::Members;
use self::outbox::Outbox;
use self::timeline::Timeline;

/// Size of the pages asked for when opening a room and when scrolling up.
pub const PAGE_SIZE: u32 = 50;

/// Something the Leptos layer must do after a state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Write this frame to the socket.
    Send(ClientMessage),
    /// Go to this path in the app.
    Navigate(String),
    /// The server no longer accepts the session: sign out.
    SessionExpired,
    /// Call [`ChatState::pump_outbox`] again after this long (a message waits for the
    /// rate).
    WakeAfter(std::time::Duration),
    /// Something happened that the user may want to hear of while the tab is hidden: the
    /// Leptos layer shows it as a browser notification when they turned those on.
    Alert(Alert),
    /// Do this after so long.
    Later(std::time::Duration, Later),
}

/// What [`Command::Later`] comes back to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Later {
    /// Call [`ChatState::typing_expired`].
    TypingEnds {
        room_id: RoomId,
        user_id: UserId,
        token: u64,
    },
}

/// A browser notification's content, and the page a click on it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    pub body: String,
    pub path: String,
    /// Notifications with the same tag replace each other (one per room and kind).
    pub tag: String,
}

/// Where an error is shown: next to what the user did.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    CreateRoom,
    /// The name typed to create a room (said at its field).
    RoomName,
    JoinRoom,
    /// Approve or reject in this room.
    Admin(RoomId),
    /// Opening this room (history, members), or knocking from its page.
    Room(RoomId),
    /// The user's own standing in this room: leaving, withdrawing, deleting it.
    Standing(RoomId),
    /// An admin's change to a member of this room: remove, ban, unban, role.
    Members(RoomId),
    /// The room's invite links and invite-only setting.
    Invites(RoomId),
    /// Anything else.
    General,
}

/// A transient notification for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Someone asked to join a room the user administers, with their message.
    JoinRequest {
        room_id: RoomId,
        user_id: UserId,
        reason: Option<String>,
    },
    /// The user's request was approved.
    Approved { room_id: RoomId },
    /// The user's request was rejected, with the admin's reason.
    Rejected {
        room_id: RoomId,
        reason: Option<String>,
    },
    /// The room left the user's view: they left it, were removed or banned, it was
    /// deleted, or it is no longer theirs; or their ban ended. The name is kept here,
    /// since the room is forgotten.
    Gone {
        room_id: RoomId,
        room_name: String,
        why: Gone,
        reason: Option<String>,
    },
}

/// Why a room left the user's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// The user left it.
    Left,
    /// The user withdrew their request.
    Withdrew,
    Removed,
    Banned,
    Deleted,
    /// `myRooms` no longer lists it (removed, banned or deleted while the socket was
    /// down): why is not known.
    Lost,
    /// Not a departure: the user's ban ended, so they may knock again.
    Unbanned,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeEntry {
    pub id: u64,
    pub notice: Notice,
}

/// One room as this user knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    pub room_id: RoomId,
    pub name: Option<String>,
    /// The user's standing; `None` when the user has no relation to the room.
    pub status: Option<MemberStatus>,
    pub is_admin: bool,
    pub members: Members,
    pub timeline: Timeline,
    /// Messages from others after the read marker (from `rooms`, then counted live).
    pub unread: u32,
    /// Those of them that mention the user.
    pub mentions: u32,
    /// The user's read marker, as the server keeps it.
    pub read_seq: u64,
    /// Where the "New messages" divider goes: after this `seq`, when the room was opened
    /// with unread messages.
    pub divider_after: Option<u64>,
    /// The room's pending requests as `rooms` counted them (admins), until its member
    /// list is loaded.
    pub pending_count: Option<u64>,
    /// The server said there is no such room.
    pub not_found: bool,
    /// Why the user's request was rejected, when the admin said.
    pub rejection: Option<String>,
    /// The message the user is answering in the composer ("Reply").
    pub replying_to: Option<ReplyTo>,
    /// Other members typing now, each with the renewal that last showed them.
    pub typing: Vec<(UserId, u64)>,
    /// The room's invite links, newest first, once an admin listed them.
    pub invites: Option<Vec<knock_protocol::Invite>>,
    /// Knocks only with an invite link (admins see and change it).
    pub invite_only: bool,
}

impl RoomState {
    fn new(room_id: RoomId) -> Self {
        Self {
            room_id,
            name: None,
            status: None,
            is_admin: false,
            members: Members::default(),
            timeline: Timeline::default(),
            unread: 0,
            mentions: 0,
            read_seq: 0,
            divider_after: None,
            pending_count: None,
            not_found: false,
            rejection: None,
            replying_to: None,
            typing: Vec::new(),
            invites: None,
            invite_only: false,
        }
    }

    /// The room's name, or a short form of its id while the name is unknown.
    pub fn display_name(&self) -> String {
        Self::display_name_of(&self.room_id, self.name.as_deref())
    }

    /// [`Self::display_name`] for a room the client knows nothing about.
    pub fn display_name_of(room_id: &RoomId, name: Option<&str>) -> String {
        if let Some(name) = name {
            name.to_owned()
        } else {
            let short: String = room_id.as_str().chars().take(8).collect();
            format!("Room {short}…")
        }
    }

    /// Whether `typed` is the room's name, as "Delete room" asks to confirm.
    pub fn name_matches(&self, typed: &str) -> bool {
        self.name
            .as_deref()
            .is_some_and(|name| name == typed.trim())
    }

    pub fn is_approved(&self) -> bool {
        self.status == Some(MemberStatus::Approved)
    }

    /// The users banned from the room, as shown: to its admins only.
    pub fn banned(&self) -> impl Iterator<Item = &Participant> {
        self.members.banned().filter(|_| self.is_admin)
    }

    /// Join requests waiting for this user, when the user is one of the room's admins.
    pub fn pending_requests(&self) -> usize {
        if !self.is_admin {
            0
        } else if self.members.loaded {
            self.members.pending_count()
        } else {
            // Until the list comes: the sign-in count, or the knocks heard since.
            self.pending_count
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
                .max(self.members.pending_count())
        }
    }
}

/// The whole client state of a signed-in user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatState {
    pub me: Option<UserId>,
    pub rooms: BTreeMap<RoomId, RoomState>,
    /// `rooms` has arrived since sign-in: a room missing from it is not the user's.
    pub rooms_loaded: bool,
    /// A socket is authenticated right now.
    pub online: bool,
    pub outbox: Outbox,
    pub notices: Vec<NoticeEntry>,
    pub errors: Errors,
    /// The room on screen.
    pub viewing: Option<RoomId>,
    /// The newest message from someone else in the room on screen, for screen readers.
    pub announcement: String,
    pub search: search::Search,
    read_marks: read_state::ReadMarks,
    /// The page is out of sight: what arrives in the room on screen is not read yet.
    page_hidden: bool,
    /// The invite link on screen (`/i/<code>`) and what the server said of it.
    pub invite_lookup: Option<invites::InviteLookup>,
    /// Counts `typing` frames, so that an expiry knows whether it was renewed since.
    typing_renewals: u64,
    /// The last `typing` sent: its room and when (ms).
    typing_sent: Option<(RoomId, f64)>,
    next_notice: u64,
    creating: u32,
    /// `myRooms` sent and not answered yet: only the answer to the last one may tell
    /// that a room is gone (an earlier one may predate a change already applied).
    rooms_asked: u32,
    awaiting: VecDeque<(RoomId, Awaiting)>,
    history_requests: VecDeque<RoomId>,
    member_requests: VecDeque<RoomId>,
}

/// A membership request sent and not yet answered, kept in the order sent: errors carry
/// no room, so the order tells where each is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Awaiting {
    /// `joinRoom request`, with where its error is shown.
    Knock(Slot),
    /// `joinRoom cancel`.
    Withdrawal,
    /// `joinRoom approve` or `reject`: the users not answered yet.
    Decision(Vec<UserId>),
    /// `leaveRoom`, `removeMember`, …: answered by a change of `target` (the user
    /// themselves when leaving), or by `roomDeleted`; its error shows at `slot`.
    Action {
        action: &'static str,
        target: Option<UserId>,
        slot: Slot,
    },
}

impl Awaiting {
    /// The `requestAction` of its errors.
    fn action(&self) -> &'static str {
        match self {
            Self::Action { action, .. } => action,
            _ => "joinRoom",
        }
    }
}

/// The path of a room's page.
pub fn room_path(room_id: &RoomId) -> String {
    format!("/room/{room_id}")
}

impl ChatState {
    pub fn room(&self, room_id: &RoomId) -> Option<&RoomState> {
        self.rooms.get(room_id)
    }

    fn room_mut(&mut self, room_id: &RoomId) -> &mut RoomState {
        self.rooms
            .entry(room_id.clone())
            .or_insert_with(|| RoomState::new(room_id.clone()))
    }

    fn is_me(&self, user_id: &UserId) -> bool {
        self.me.as_ref() == Some(user_id)
    }

    /// Rooms for the list: approved, pending and rejected ones, by name.
    pub fn listed_rooms(&self) -> Vec<&RoomState> {
        let mut rooms: Vec<&RoomState> = self
            .rooms
            .values()
            .filter(|r| is_listed(r.status))
            .collect();
        rooms.sort_by_cached_key(|r| (r.display_name().to_lowercase(), r.room_id.clone()));
        rooms
    }

    pub fn error(&self, slot: &Slot) -> Option<String> {
        self.errors.get(slot).cloned()
    }

    /// What the composer of a room says: why a message of it was refused, as long as one
    /// waits for Retry or Discard.
    pub fn composer_error(&self, room_id: &RoomId) -> Option<String> {
        self.outbox.failure(room_id).map(str::to_owned)
    }

    pub fn clear_error(&mut self, slot: &Slot) {
        self.errors.remove(slot);
    }

    fn notify(&mut self, notice: Notice) {
        if self.notices.iter().any(|n| n.notice == notice) {
            return;
        }
        self.next_notice += 1;
        self.notices.push(NoticeEntry {
            id: self.next_notice,
            notice,
        });
    }

    /// `myRooms`, counted until answered.
    fn ask_rooms(&mut self) -> Command {
        self.rooms_asked += 1;
        Command::Send(ClientMessage::MyRooms)
    }

    pub fn dismiss(&mut self, id: u64) {
        self.notices.retain(|n| n.id != id);
    }

    // ----- connection events -----

    /// A socket is authenticated: rebuild what the server knows and catch up.
    pub fn on_authenticated(&mut self, user_id: UserId) -> Vec<Command> {
        self.me = Some(user_id);
        self.online = true;
        self.errors.remove(&Slot::General);
        let mut commands = vec![self.ask_rooms()];
        let resume: Vec<ResumeRoom> = self
            .rooms
            .values()
            // A room opened at an older message (a search result) is not followed live:
            // it is paged down to the newest instead.
            .filter(|r| {
                r.is_approved()
                    && !r.timeline.has_newer
                    && (r.timeline.loaded || !r.timeline.is_empty())
            })
            .map(|r| ResumeRoom {
                room_id: r.room_id.clone(),
                after_seq: r.timeline.resume_after(),
            })
            .collect();
        // The server takes so many rooms per frame.
        for rooms in resume.chunks(limits::MAX_RESUME_ROOMS) {
            commands.push(Command::Send(ClientMessage::Resume {
                rooms: rooms.to_vec(),
            }));
        }
        if let Some(viewing) = self.viewing.clone() {
            commands.extend(self.load_room(&viewing));
        }
        // The outbox goes out through `pump_outbox`, one message at a time.
        commands
    }

    /// The socket closed. Requests in flight are lost; the outbox keeps its messages.
    pub fn on_disconnected(&mut self) {
        self.online = false;
        self.outbox.disconnected();
        self.creating = 0;
        self.rooms_asked = 0;
        self.awaiting.clear();
        self.history_requests.clear();
        self.member_requests.clear();
        self.search.disconnected();
        self.read_marks.disconnected();
        for room in self.rooms.values_mut() {
            room.timeline.pending_pages.clear();
            // Changes may be missed while away: fetch the list again when next needed
            // (the old one stays on screen until then).
            room.members.loaded = false;
        }
    }
}

/// Whether a room with this standing of the user's is in their list (the server's
/// `myRooms` lists the same ones).
fn is_listed(status: Option<MemberStatus>) -> bool {
    matches!(
        status,
        Some(MemberStatus::Approved | MemberStatus::Pending | MemberStatus::Rejected)
    )
}

fn remove_first(queue: &mut VecDeque<RoomId>, room_id: &RoomId) {
    if let Some(i) = queue.iter().position(|r| r == room_id) {
        queue.remove(i);
    }
}

/// Accepts a bare room id or a pasted invite link (`…/join/<id>`).
pub fn extract_room_id(input: &str) -> &str {
    let input = input.trim();
    let input = input.trim_end_matches('/');
    match input.rsplit_once("/join/") {
        Some((_, id)) => id.trim(),
        None => input,
    }
}

#[cfg(test)]
mod tests;
