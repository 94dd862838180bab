//! The server's frames, applied to the state: one handler per frame.

use knock_protocol::{
    ChatMessage, ClientMessage, ClientMsgId, ErrorCode, MemberStatus, MessageId, Participant,
    RoomId, RoomSummary, ServerMessage, UserId,
};

use super::timeline::{self, PageKind};
use super::{ChatState, Command, JoinKind, Notice, Slot, describe_error, remove_first, room_path};

impl ChatState {
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
            } => self.on_room_members(room_id, room_name, participants),
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
            } => self.on_message_ack(&client_msg_id, room_id, seq, message_id, timestamp),
            ServerMessage::History {
                room_id,
                messages,
                has_more,
            } => self.on_history(room_id, messages, has_more),
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

    fn on_room_members(
        &mut self,
        room_id: RoomId,
        room_name: String,
        participants: Vec<Participant>,
    ) -> Vec<Command> {
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

    /// The server stored one of our messages: it leaves the outbox and joins the
    /// timeline, as stored.
    fn on_message_ack(
        &mut self,
        client_msg_id: &ClientMsgId,
        room_id: RoomId,
        seq: u64,
        message_id: MessageId,
        timestamp: i64,
    ) -> Vec<Command> {
        let Some(sent) = self.outbox.ack(client_msg_id) else {
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

    fn on_history(
        &mut self,
        room_id: RoomId,
        messages: Vec<ChatMessage>,
        has_more: bool,
    ) -> Vec<Command> {
        remove_first(&mut self.history_requests, &room_id);
        let room = self.room_mut(&room_id);
        room.timeline.apply_page(messages, has_more);
        self.errors.remove(&Slot::Room(room_id));
        Vec::new()
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
    pub(super) fn set_my_status(&mut self, room_id: &RoomId, status: MemberStatus) -> Vec<Command> {
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
                // Too fast: the outbox sends it again by itself, in order; nothing to say.
                let rate_limited = code == ErrorCode::RateLimited;
                // Anything else marks the message failed, which the composer shows
                // (`ChatState::composer_error`) until it is retried or discarded.
                if self.outbox.refused(&readable, rate_limited).is_none() {
                    self.errors.insert(Slot::General, readable);
                }
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
}
