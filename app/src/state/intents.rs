//! What the user does, applied to the state: each intent returns the frames to send.

use knock_protocol::{ClientMessage, ClientMsgId, ErrorCode, JoinRoom, RoomId, UserId, limits};

use super::outbox::Pump;
use super::timeline::PageKind;
use super::wording::offline_text;
use super::{
    ChatState, Command, JoinKind, PAGE_SIZE, RoomState, Slot, describe_error, extract_room_id,
    room_path,
};

impl ChatState {
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
    pub(super) fn load_room(&mut self, room_id: &RoomId) -> Vec<Command> {
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
        if text.trim().is_empty() {
            return Err(describe_error(ErrorCode::EmptyMessage, ""));
        }
        // Refused here, the reason stays with the text in the composer (and goes when
        // the text changes), not in the room's error slot.
        if text.chars().count() > limits::MAX_MESSAGE_CHARS {
            return Err(describe_error(ErrorCode::MessageTooLong, ""));
        }
        self.outbox
            .push(client_msg_id, room_id.clone(), text.to_owned());
        Ok(Vec::new())
    }

    /// Writes what the outbox may send now. [`Connection::act`] calls it after every
    /// change, so that a message goes out as soon as its turn and the rate allow.
    ///
    /// [`Connection::act`]: crate::client::Connection::act
    pub fn pump_outbox(&mut self, now_ms: f64) -> Vec<Command> {
        match self.outbox.pump(now_ms, self.online) {
            Pump::Idle => Vec::new(),
            Pump::Send(frame) => vec![Command::Send(frame)],
            Pump::WakeAt(at) => vec![Command::WakeAfter(std::time::Duration::from_secs_f64(
                (at - now_ms).max(0.0) / 1_000.0,
            ))],
        }
    }

    pub fn retry_message(&mut self, client_msg_id: &ClientMsgId) -> Vec<Command> {
        self.outbox.retry(client_msg_id);
        Vec::new()
    }

    pub fn discard_message(&mut self, client_msg_id: &ClientMsgId) -> Vec<Command> {
        self.outbox.discard(client_msg_id);
        Vec::new()
    }
}
