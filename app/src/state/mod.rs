//! The client's picture of the world, changed only by server frames and user intents.
//!
//! [`ChatState`] is plain Rust: every server frame and every user action goes through a
//! method that updates it and returns [`Command`]s (frames to send, a page to go to). The
//! Leptos layer keeps one `ChatState` in a signal and runs the commands; all the logic
//! (catch-up after reconnect, dedupe, outbox, membership changes) is tested natively.

pub mod backoff;
mod errors;
pub mod heartbeat;
pub mod members;
pub mod notices;
pub mod outbox;
pub mod timeline;

use std::collections::{BTreeMap, VecDeque};

pub use self::errors::Errors;

use knock_protocol::{
    ChatMessage, ClientMessage, ClientMsgId, ErrorCode, JoinRoom, MemberStatus, ResumeRoom, RoomId,
    RoomSummary, ServerMessage, UserId, limits,
};

use self::members::Members;
use self::outbox::Outbox;
use self::timeline::{PageKind, Timeline};

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
}

/// Where an error is shown: next to what the user did.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    CreateRoom,
    JoinRoom,
    /// Approve or reject in this room.
    Admin(RoomId),
    /// The composer of this room.
    Composer(RoomId),
    /// Opening this room (history, members).
    Room(RoomId),
    /// Anything else.
    General,
}

/// A transient notification for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Someone asked to join a room the user administers.
    JoinRequest { room_id: RoomId, user_id: UserId },
    /// The user's request was approved.
    Approved { room_id: RoomId },
    /// The user's request was rejected.
    Rejected { room_id: RoomId },
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
    /// Messages from others that arrived while the room was not on screen.
    pub unread: u32,
    /// The server said there is no such room.
    pub not_found: bool,
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
            not_found: false,
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

    pub fn is_approved(&self) -> bool {
        self.status == Some(MemberStatus::Approved)
    }

    /// Join requests waiting for this user, when the user is the room's admin.
    pub fn pending_requests(&self) -> usize {
        if self.is_admin {
            self.members.pending_count()
        } else {
            0
        }
    }
}

/// The whole client state of a signed-in user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    next_notice: u64,
    creating: u32,
    join_actions: VecDeque<(RoomId, JoinKind)>,
    history_requests: VecDeque<RoomId>,
    member_requests: VecDeque<RoomId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JoinKind {
    Request,
    Decide,
}

/// A readable sentence for an error code, in the words of the place it is shown.
pub fn describe_error(code: ErrorCode, server_text: &str) -> String {
    match code {
        ErrorCode::NotMember => "You are not a member of this room.".into(),
        ErrorCode::RoomNotFound => "There is no room with that ID.".into(),
        ErrorCode::NotAdmin => "Only the room's admin can do that.".into(),
        ErrorCode::RateLimited => "You are going too fast. Wait a moment and try again.".into(),
        ErrorCode::MessageTooLong => format!(
            "That message is too long (at most {} characters).",
            format_thousands(limits::MAX_MESSAGE_CHARS)
        ),
        ErrorCode::EmptyMessage => "Type a message first.".into(),
        ErrorCode::InvalidRoomName => format!(
            "A room name has 1 to {} characters.",
            limits::MAX_ROOM_NAME_CHARS
        ),
        ErrorCode::RequestNotFound => "That request is no longer pending.".into(),
        ErrorCode::InvalidUsername => format!(
            "Usernames have {} to {} characters: a-z, 0-9, _ . -",
            limits::USERNAME_CHARS.start(),
            limits::USERNAME_CHARS.end()
        ),
        ErrorCode::InvalidPassword => format!(
            "Passwords have {} to {} characters.",
            limits::PASSWORD_CHARS.start(),
            limits::PASSWORD_CHARS.end()
        ),
        ErrorCode::UsernameTaken => "That username is taken. Try another one.".into(),
        ErrorCode::InvalidCredentials => "Wrong username or password.".into(),
        ErrorCode::ForbiddenOrigin => "This server does not accept requests from this site.".into(),
        ErrorCode::Internal => "Something went wrong on the server. Try again.".into(),
        ErrorCode::Unauthenticated => "Your session has ended. Sign in again.".into(),
        _ if !server_text.is_empty() => server_text.to_owned(),
        other => format!("The server refused that ({other})."),
    }
}

/// `4000` → `4,000`.
pub fn format_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

    /// Rooms for the list: approved and pending ones, by name.
    pub fn listed_rooms(&self) -> Vec<&RoomState> {
        let mut rooms: Vec<&RoomState> =
            self.rooms.values().filter(|r| r.status.is_some()).collect();
        rooms.sort_by_cached_key(|r| (r.display_name().to_lowercase(), r.room_id.clone()));
        rooms
    }

    pub fn error(&self, slot: &Slot) -> Option<String> {
        self.errors.get(slot).cloned()
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

    pub fn dismiss(&mut self, id: u64) {
        self.notices.retain(|n| n.id != id);
    }

    // ----- connection events -----

    /// A socket is authenticated: rebuild what the server knows and catch up.
    pub fn on_authenticated(&mut self, user_id: UserId) -> Vec<Command> {
        self.me = Some(user_id);
        self.online = true;
        self.errors.remove(&Slot::General);
        let mut commands = vec![Command::Send(ClientMessage::MyRooms)];
        let resume: Vec<ResumeRoom> = self
            .rooms
            .values()
            .filter(|r| r.is_approved() && (r.timeline.loaded || !r.timeline.is_empty()))
            .map(|r| ResumeRoom {
                room_id: r.room_id.clone(),
                after_seq: r.timeline.newest_seq(),
            })
            .collect();
        if !resume.is_empty() {
            commands.push(Command::Send(ClientMessage::Resume { rooms: resume }));
        }
        if let Some(viewing) = self.viewing.clone() {
            commands.extend(self.load_room(&viewing));
        }
        commands.extend(self.outbox.flush().into_iter().map(Command::Send));
        commands
    }

    /// The socket closed. Requests in flight are lost; the outbox keeps its messages.
    pub fn on_disconnected(&mut self) {
        self.online = false;
        self.outbox.disconnected();
        self.creating = 0;
        self.join_actions.clear();
        self.history_requests.clear();
        self.member_requests.clear();
        for room in self.rooms.values_mut() {
            room.timeline.pending_pages.clear();
            // Changes may be missed while away: fetch the list again when next needed
            // (the old one stays on screen until then).
            room.members.loaded = false;
        }
    }

    // ----- server frames -----

    pub fn apply(&mut self, frame: ServerMessage) -> Vec<Command> {
        match frame {
            ServerMessage::Authenticated { user_id } => self.on_authenticated(user_id),
            ServerMessage::RoomCreated { room_id, room_name } => {
                self.on_room_created(&room_id, room_name)
            }
            ServerMessage::JoinRequest { user_id, room_id } => {
                self.on_join_request(&room_id, user_id)
            }
            ServerMessage::JoinResponse { room_id, status } => {
                self.on_join_response(&room_id, status)
            }
            ServerMessage::Message(message) => self.on_message(message),
            ServerMessage::RoomMembers {
                room_id,
                room_name,
                participants,
            } => {
                remove_first(&mut self.member_requests, &room_id);
                let me = self.me.clone();
                let room = self.room_mut(&room_id);
                room.name = Some(room_name);
                room.members.set(participants);
                if let Some(me_in) = me.and_then(|me| room.members.status_of(&me)) {
                    room.status = Some(me_in);
                }
                self.errors.remove(&Slot::Room(room_id));
                Vec::new()
            }
            ServerMessage::MemberChanged {
                room_id,
                user_id,
                status,
                is_admin,
            } => self.on_member_changed(&room_id, &user_id, status, is_admin),
            ServerMessage::MessageAck {
                client_msg_id,
                room_id,
                seq,
                message_id,
                timestamp,
            } => {
                let Some(sent) = self.outbox.ack(&client_msg_id) else {
                    return Vec::new();
                };
                let Some(me) = self.me.clone() else {
                    return Vec::new();
                };
                self.on_message(ChatMessage {
                    room_id,
                    user_id: me,
                    message: sent.text,
                    timestamp,
                    seq,
                    message_id,
                })
            }
            ServerMessage::History {
                room_id,
                messages,
                has_more,
            } => {
                remove_first(&mut self.history_requests, &room_id);
                let room = self.room_mut(&room_id);
                room.timeline.apply_page(messages, has_more);
                self.errors.remove(&Slot::Room(room_id));
                Vec::new()
            }
            ServerMessage::Rooms { rooms } => self.on_rooms(rooms),
            // Only the driver cares: it counts as a frame received.
            ServerMessage::Pong => Vec::new(),
            ServerMessage::Error {
                code,
                message,
                request_action,
            } => self.on_error(code, &message, request_action.as_deref()),
        }
    }

    fn on_room_created(&mut self, room_id: &RoomId, room_name: String) -> Vec<Command> {
        let me = self.me.clone();
        let room = self.room_mut(room_id);
        room.name = Some(room_name);
        room.status = Some(MemberStatus::Approved);
        room.is_admin = true;
        if let Some(me) = me {
            room.members.set(vec![knock_protocol::Participant {
                user_id: me,
                status: MemberStatus::Approved,
                is_admin: true,
            }]);
        }
        // A new room has no history.
        room.timeline.pending_pages.push(PageKind::Newest);
        room.timeline.apply_page(Vec::new(), false);
        self.errors.remove(&Slot::CreateRoom);
        if self.creating > 0 {
            self.creating -= 1;
            vec![Command::Navigate(room_path(room_id))]
        } else {
            Vec::new()
        }
    }

    fn on_join_request(&mut self, room_id: &RoomId, user_id: UserId) -> Vec<Command> {
        let room = self.room_mut(room_id);
        room.members.apply(&user_id, MemberStatus::Pending, false);
        let name_unknown = room.name.is_none();
        self.notify(Notice::JoinRequest {
            room_id: room_id.clone(),
            user_id,
        });
        if name_unknown {
            vec![Command::Send(ClientMessage::MyRooms)]
        } else {
            Vec::new()
        }
    }

    fn on_join_response(&mut self, room_id: &RoomId, status: MemberStatus) -> Vec<Command> {
        let asked_here = match self
            .join_actions
            .iter()
            .position(|(r, k)| r == room_id && *k == JoinKind::Request)
        {
            Some(i) => {
                self.join_actions.remove(i);
                true
            }
            None => false,
        };
        if asked_here {
            self.errors.remove(&Slot::JoinRoom);
        }
        let mut commands = self.set_my_status(room_id, status);
        if asked_here {
            commands.push(Command::Navigate(room_path(room_id)));
        }
        commands
    }

    /// The user's own standing in a room changed (or was confirmed).
    fn set_my_status(&mut self, room_id: &RoomId, status: MemberStatus) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(room_id);
        let room = self.room_mut(room_id);
        let previous = room.status;
        room.status = Some(status);
        let name_unknown = room.name.is_none();
        let mut commands = Vec::new();
        match status {
            MemberStatus::Pending => {
                if name_unknown {
                    commands.push(Command::Send(ClientMessage::MyRooms));
                }
            }
            MemberStatus::Approved => {
                if previous != Some(MemberStatus::Approved) {
                    if previous == Some(MemberStatus::Pending) && !viewing {
                        self.notify(Notice::Approved {
                            room_id: room_id.clone(),
                        });
                    }
                    self.errors.remove(&Slot::Room(room_id.clone()));
                    commands.push(Command::Send(ClientMessage::MyRooms));
                    if viewing {
                        commands.extend(self.load_room(room_id));
                    }
                }
            }
            MemberStatus::Rejected => {
                room.timeline.clear();
                room.members.clear();
                if previous != Some(MemberStatus::Rejected) && !viewing {
                    self.notify(Notice::Rejected {
                        room_id: room_id.clone(),
                    });
                }
            }
        }
        commands
    }

    fn on_member_changed(
        &mut self,
        room_id: &RoomId,
        user_id: &UserId,
        status: MemberStatus,
        is_admin: bool,
    ) -> Vec<Command> {
        if let Some(i) = self
            .join_actions
            .iter()
            .position(|(r, k)| r == room_id && *k == JoinKind::Decide)
        {
            self.join_actions.remove(i);
        }
        if status != MemberStatus::Pending {
            self.notices.retain(|n| {
                !matches!(&n.notice, Notice::JoinRequest { room_id: r, user_id: u }
                    if r == room_id && u == user_id)
            });
        }
        let room = self.room_mut(room_id);
        room.members.apply(user_id, status, is_admin);
        if self.is_me(user_id) {
            self.room_mut(room_id).is_admin = is_admin;
            return self.set_my_status(room_id, status);
        }
        Vec::new()
    }

    fn on_message(&mut self, message: ChatMessage) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(&message.room_id);
        let mine = self.is_me(&message.user_id);
        let room_id = message.room_id.clone();
        let author = message.user_id.clone();
        let text = message.message.clone();
        let room = self.room_mut(&room_id);
        let mut commands = Vec::new();
        if let Some((before_seq, limit)) = room.timeline.gap_before(message.seq) {
            room.timeline.pending_pages.push(PageKind::Gap);
            commands.push(Command::Send(ClientMessage::GetHistory {
                room_id: room_id.clone(),
                before_seq: Some(before_seq),
                limit: Some(limit),
            }));
        }
        let is_new = room.timeline.insert(message) == timeline::Inserted::New;
        if is_new && !mine && !viewing {
            room.unread = room.unread.saturating_add(1);
        }
        if mine {
            self.outbox.settle_echo(&room_id, &text);
        }
        if is_new && !mine && viewing {
            self.announcement = format!("{author}: {text}");
        }
        if !commands.is_empty() {
            self.history_requests.push_back(room_id);
        }
        commands
    }

    fn on_rooms(&mut self, rooms: Vec<RoomSummary>) -> Vec<Command> {
        self.rooms_loaded = true;
        let listed: Vec<RoomId> = rooms.iter().map(|r| r.room_id.clone()).collect();
        let mut commands = Vec::new();
        for summary in rooms {
            let asked = self.member_requests.contains(&summary.room_id);
            let room = self.room_mut(&summary.room_id);
            room.name = Some(summary.room_name);
            room.is_admin = summary.is_admin;
            room.status = Some(summary.status);
            if summary.status == MemberStatus::Rejected {
                room.timeline.clear();
                room.members.clear();
            }
            if room.is_admin && room.is_approved() && !room.members.loaded && !asked {
                self.member_requests.push_back(summary.room_id.clone());
                commands.push(Command::Send(ClientMessage::GetMembers {
                    room_id: Some(summary.room_id.clone()),
                }));
            }
        }
        for room in self.rooms.values_mut() {
            if !listed.contains(&room.room_id) && room.status.is_some() {
                // The server no longer counts the user in: forget what was shown.
                room.status = None;
                room.timeline.clear();
                room.members.clear();
            }
        }
        if let Some(viewing) = self.viewing.clone() {
            commands.extend(self.load_room(&viewing));
        }
        commands
    }

    fn on_error(&mut self, code: ErrorCode, text: &str, action: Option<&str>) -> Vec<Command> {
        if code == ErrorCode::Unauthenticated {
            return vec![Command::SessionExpired];
        }
        let readable = describe_error(code, text);
        match action {
            Some("createRoom") => {
                self.creating = self.creating.saturating_sub(1);
                self.errors.insert(Slot::CreateRoom, readable);
            }
            Some("joinRoom") => match self.join_actions.pop_front() {
                Some((room_id, JoinKind::Decide)) => {
                    self.errors.insert(Slot::Admin(room_id), readable);
                }
                _ => {
                    self.errors.insert(Slot::JoinRoom, readable);
                }
            },
            Some("sendMessage") => {
                let room_id = self
                    .outbox
                    .fail_oldest_in_flight(&readable)
                    .map(|m| m.room_id.clone());
                let slot = room_id.map_or(Slot::General, Slot::Composer);
                self.errors.insert(slot, readable);
            }
            Some("getHistory") => {
                if let Some(room_id) = self.history_requests.pop_front() {
                    let room = self.room_mut(&room_id);
                    if !room.timeline.pending_pages.is_empty() {
                        room.timeline.pending_pages.remove(0);
                    }
                    self.access_lost(&room_id, code, readable);
                } else {
                    self.errors.insert(Slot::General, readable);
                }
            }
            Some("getMembers") => {
                if let Some(room_id) = self.member_requests.pop_front() {
                    self.access_lost(&room_id, code, readable);
                } else {
                    self.errors.insert(Slot::General, readable);
                }
            }
            _ => {
                self.errors.insert(Slot::General, readable);
            }
        }
        Vec::new()
    }

    fn access_lost(&mut self, room_id: &RoomId, code: ErrorCode, readable: String) {
        if matches!(code, ErrorCode::NotMember | ErrorCode::RoomNotFound) {
            let room = self.room_mut(room_id);
            room.not_found = code == ErrorCode::RoomNotFound;
            if room.status == Some(MemberStatus::Approved) {
                room.status = None;
            }
            room.timeline.clear();
        }
        self.errors.insert(Slot::Room(room_id.clone()), readable);
    }

    // ----- user intents -----

    /// The user opened a room's page (or it is on screen when the socket comes back).
    pub fn open_room(&mut self, room_id: &RoomId) -> Vec<Command> {
        self.viewing = Some(room_id.clone());
        self.announcement.clear();
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.unread = 0;
        }
        self.load_room(room_id)
    }

    pub fn close_room(&mut self) {
        self.viewing = None;
        self.announcement.clear();
    }

    /// Asks for what the room view needs and does not have yet.
    fn load_room(&mut self, room_id: &RoomId) -> Vec<Command> {
        if !self.online {
            return Vec::new();
        }
        let rooms_loaded = self.rooms_loaded;
        let room = self.room_mut(room_id);
        let mut commands = Vec::new();
        let unknown = rooms_loaded && room.status.is_none();
        if room.is_approved() || unknown {
            if !room.members.loaded && !self.member_requests.contains(room_id) {
                self.member_requests.push_back(room_id.clone());
                commands.push(Command::Send(ClientMessage::GetMembers {
                    room_id: Some(room_id.clone()),
                }));
            }
            let room = self.room_mut(room_id);
            if room.is_approved()
                && !room.timeline.loaded
                && !room.timeline.pending_pages.contains(&PageKind::Newest)
            {
                room.timeline.pending_pages.push(PageKind::Newest);
                self.history_requests.push_back(room_id.clone());
                commands.push(Command::Send(ClientMessage::GetHistory {
                    room_id: room_id.clone(),
                    before_seq: None,
                    limit: Some(PAGE_SIZE),
                }));
            }
        }
        commands
    }

    /// Scrolled to the top: the page before the oldest message.
    pub fn load_older(&mut self, room_id: &RoomId) -> Vec<Command> {
        if !self.online {
            return Vec::new();
        }
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Vec::new();
        };
        if !room.timeline.can_load_older() {
            return Vec::new();
        }
        room.timeline.pending_pages.push(PageKind::Older);
        let before_seq = room.timeline.oldest_seq();
        self.history_requests.push_back(room_id.clone());
        vec![Command::Send(ClientMessage::GetHistory {
            room_id: room_id.clone(),
            before_seq,
            limit: Some(PAGE_SIZE),
        })]
    }

    pub fn create_room(&mut self, name: &str) -> Vec<Command> {
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > limits::MAX_ROOM_NAME_CHARS {
            self.errors.insert(
                Slot::CreateRoom,
                describe_error(ErrorCode::InvalidRoomName, ""),
            );
            return Vec::new();
        }
        if !self.online {
            self.errors.insert(Slot::CreateRoom, offline_text());
            return Vec::new();
        }
        self.errors.remove(&Slot::CreateRoom);
        self.creating += 1;
        vec![Command::Send(ClientMessage::CreateRoom {
            room_name: name.to_owned(),
        })]
    }

    /// Asks to join a room by id (typed, pasted, or from an invite link).
    pub fn request_join(&mut self, room_id: &str) -> Vec<Command> {
        let room_id = extract_room_id(room_id);
        if room_id.is_empty() {
            self.errors
                .insert(Slot::JoinRoom, "Enter a room ID.".into());
            return Vec::new();
        }
        let room_id = RoomId::new(room_id);
        if self.room(&room_id).is_some_and(RoomState::is_approved) {
            self.errors.remove(&Slot::JoinRoom);
            return vec![Command::Navigate(room_path(&room_id))];
        }
        if !self.online {
            self.errors.insert(Slot::JoinRoom, offline_text());
            return Vec::new();
        }
        self.errors.remove(&Slot::JoinRoom);
        self.join_actions
            .push_back((room_id.clone(), JoinKind::Request));
        vec![Command::Send(ClientMessage::JoinRoom(JoinRoom::Request {
            room_id,
        }))]
    }

    /// An admin's answer to a join request.
    pub fn decide(&mut self, room_id: &RoomId, user_id: &UserId, approve: bool) -> Vec<Command> {
        let slot = Slot::Admin(room_id.clone());
        if !self.online {
            self.errors.insert(slot, offline_text());
            return Vec::new();
        }
        self.errors.remove(&slot);
        self.join_actions
            .push_back((room_id.clone(), JoinKind::Decide));
        let room_id = Some(room_id.clone());
        let target_user_id = user_id.clone();
        let frame = if approve {
            JoinRoom::Approve {
                room_id,
                target_user_id,
            }
        } else {
            JoinRoom::Reject {
                room_id,
                target_user_id,
            }
        };
        vec![Command::Send(ClientMessage::JoinRoom(frame))]
    }

    /// The user pressed Send. Returns `Err` with a readable reason when the text is not
    /// sendable (the composer keeps it then).
    pub fn send_message(
        &mut self,
        room_id: &RoomId,
        text: &str,
        client_msg_id: ClientMsgId,
    ) -> Result<Vec<Command>, String> {
        let slot = Slot::Composer(room_id.clone());
        if text.trim().is_empty() {
            return Err(describe_error(ErrorCode::EmptyMessage, ""));
        }
        if text.chars().count() > limits::MAX_MESSAGE_CHARS {
            let reason = describe_error(ErrorCode::MessageTooLong, "");
            self.errors.insert(slot, reason.clone());
            return Err(reason);
        }
        self.errors.remove(&slot);
        let frame = self
            .outbox
            .push(client_msg_id, room_id.clone(), text.to_owned(), self.online);
        Ok(frame.map(Command::Send).into_iter().collect())
    }

    pub fn retry_message(&mut self, client_msg_id: &ClientMsgId) -> Vec<Command> {
        let online = self.online;
        self.outbox
            .retry(client_msg_id, online)
            .map(Command::Send)
            .into_iter()
            .collect()
    }
}

fn offline_text() -> String {
    "Not connected right now. Try again once the connection is back.".into()
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
