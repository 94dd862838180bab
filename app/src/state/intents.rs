//! What the user does, applied to the state: each intent returns the frames to send.

use knock_protocol::{
    ClientMessage, ClientMsgId, ErrorCode, InviteCode, JoinRoom, Role, RoomId, Targets, UserId,
    limits,
};

use super::outbox::Pump;
use super::timeline::PageKind;
use super::wording::{invisible_name_text, offline_text};
use super::{
    Awaiting, ChatState, Command, PAGE_SIZE, RoomState, Slot, describe_error, extract_room_id,
    room_path,
};

/// A reason or message as sent: trimmed, none when empty, refused when too long.
pub fn reason_to_send(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.chars().count() > limits::MAX_REASON_CHARS {
        Err(describe_error(ErrorCode::ReasonTooLong, ""))
    } else {
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }
}

impl ChatState {
    /// The user opened a room's page (or it is on screen when the socket comes back).
    pub fn open_room(&mut self, room_id: &RoomId) -> Vec<Command> {
        self.viewing = Some(room_id.clone());
        self.announcement.clear();
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.opened();
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
            let approved = room.is_approved();
            let timeline = &mut room.timeline;
            if approved
                && !timeline.loaded
                && !timeline
                    .pending_pages
                    .iter()
                    .any(|k| matches!(k, PageKind::Newest | PageKind::Around))
            {
                // Opened at a search result, the page around it; else the newest.
                let (kind, around_seq) = match timeline.focus {
                    Some(seq) => (PageKind::Around, Some(seq)),
                    None => (PageKind::Newest, None),
                };
                timeline.pending_pages.push(kind);
                self.history_requests.push_back(room_id.clone());
                commands.push(Command::Send(ClientMessage::GetHistory {
                    room_id: room_id.clone(),
                    before_seq: None,
                    limit: Some(PAGE_SIZE),
                    around_seq,
                    after_seq: None,
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
            around_seq: None,
            after_seq: None,
        })]
    }

    /// Scrolled to the bottom of a room opened at an older message: the page after the
    /// newest shown.
    pub fn load_newer(&mut self, room_id: &RoomId) -> Vec<Command> {
        if !self.online {
            return Vec::new();
        }
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Vec::new();
        };
        if !room.timeline.can_load_newer() {
            return Vec::new();
        }
        room.timeline.pending_pages.push(PageKind::Newer);
        let after_seq = Some(room.timeline.newest_seq());
        self.history_requests.push_back(room_id.clone());
        vec![Command::Send(ClientMessage::GetHistory {
            room_id: room_id.clone(),
            before_seq: None,
            limit: Some(PAGE_SIZE),
            around_seq: None,
            after_seq,
        })]
    }

    /// Searches all rooms, or one; the results replace those shown.
    pub fn search(&mut self, query: &str, room_id: Option<RoomId>) -> Vec<Command> {
        let commands = self.search.start(query, room_id);
        if !commands.is_empty() && !self.online {
            self.search.disconnected();
            return Vec::new();
        }
        commands
    }

    pub fn search_more(&mut self) -> Vec<Command> {
        if self.online {
            self.search.more()
        } else {
            Vec::new()
        }
    }

    /// Opens a search result: its room, at the message, highlighted.
    pub fn open_result(&mut self, room_id: &RoomId, seq: u64) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(room_id);
        let room = self.room_mut(room_id);
        let mut commands = Vec::new();
        if room.timeline.open_at(seq) && viewing {
            // On screen already: the page around it now (else when the room opens).
            commands = self.load_room(room_id);
        }
        if !viewing {
            commands.push(Command::Navigate(room_path(room_id)));
        }
        commands
    }

    /// Creates a room; a name the server would refuse is refused here, at its field.
    pub fn create_room(&mut self, name: &str) -> Vec<Command> {
        let name = name.trim();
        self.errors.remove(&Slot::CreateRoom);
        let problem = if name.chars().count() > limits::MAX_ROOM_NAME_CHARS {
            Some(describe_error(ErrorCode::InvalidRoomName, ""))
        } else if !limits::has_visible_character(name) {
            Some(invisible_name_text())
        } else {
            None
        };
        if let Some(text) = problem {
            self.errors.insert(Slot::RoomName, text);
            return Vec::new();
        }
        self.errors.remove(&Slot::RoomName);
        if !self.online {
            self.errors.insert(Slot::CreateRoom, offline_text());
            return Vec::new();
        }
        self.creating += 1;
        vec![Command::Send(ClientMessage::CreateRoom {
            room_name: name.to_owned(),
        })]
    }

    /// Asks to join a room by id (typed, pasted, or from an invite link), with an
    /// optional message to its admins. Its errors show on the room's page when asked
    /// from there, else at the join form.
    pub fn request_join(&mut self, room_id: &str, message: &str) -> Vec<Command> {
        // A pasted invite link (`…/i/<code>`) opens its own page, which knocks with it.
        if let Some((_, code)) = room_id.trim().trim_end_matches('/').rsplit_once("/i/")
            && !code.is_empty()
        {
            return vec![Command::Navigate(format!("/i/{code}"))];
        }
        self.request_join_with(extract_room_id(room_id), message, None)
    }

    /// [`Self::request_join`] of a room id, with the invite link's code when it came from
    /// one.
    pub(super) fn request_join_with(
        &mut self,
        room_id: &str,
        message: &str,
        invite_code: Option<InviteCode>,
    ) -> Vec<Command> {
        if room_id.is_empty() {
            self.errors
                .insert(Slot::JoinRoom, "Enter a room ID.".into());
            return Vec::new();
        }
        let room_id = RoomId::new(room_id);
        let slot = if self.viewing.as_ref() == Some(&room_id) {
            Slot::Room(room_id.clone())
        } else {
            Slot::JoinRoom
        };
        if self.room(&room_id).is_some_and(RoomState::is_approved) {
            self.errors.remove(&slot);
            return vec![Command::Navigate(room_path(&room_id))];
        }
        let reason = match reason_to_send(message) {
            Ok(reason) => reason,
            Err(text) => {
                self.errors.insert(slot, text);
                return Vec::new();
            }
        };
        if !self.ready(&slot) {
            return Vec::new();
        }
        self.awaiting
            .push_back((room_id.clone(), Awaiting::Knock(slot)));
        vec![Command::Send(ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room_id),
            invite_code,
            reason,
        }))]
    }

    /// The waiting user takes their request back.
    pub fn withdraw_request(&mut self, room_id: &RoomId) -> Vec<Command> {
        if !self.ready(&Slot::Standing(room_id.clone())) {
            return Vec::new();
        }
        self.awaiting
            .push_back((room_id.clone(), Awaiting::Withdrawal));
        vec![Command::Send(ClientMessage::JoinRoom(JoinRoom::Cancel {
            room_id: room_id.clone(),
        }))]
    }

    /// An admin's answer to join requests, one frame per hundred users; a rejection may
    /// say why.
    pub fn decide(
        &mut self,
        room_id: &RoomId,
        users: &[UserId],
        approve: bool,
        reason: &str,
    ) -> Vec<Command> {
        let slot = Slot::Admin(room_id.clone());
        let reason = match reason_to_send(reason) {
            Ok(reason) => reason.filter(|_| !approve),
            Err(text) => {
                self.errors.insert(slot, text);
                return Vec::new();
            }
        };
        if users.is_empty() || !self.ready(&slot) {
            return Vec::new();
        }
        let mut commands = Vec::new();
        for chunk in users.chunks(limits::MAX_DECISION_TARGETS) {
            self.awaiting
                .push_back((room_id.clone(), Awaiting::Decision(chunk.to_vec())));
            let targets = match chunk {
                [one] => Targets::one(one.clone()),
                many => Targets::many(many.to_vec()),
            };
            let room_id = Some(room_id.clone());
            let frame = if approve {
                JoinRoom::Approve { room_id, targets }
            } else {
                JoinRoom::Reject {
                    room_id,
                    targets,
                    reason: reason.clone(),
                }
            };
            commands.push(Command::Send(ClientMessage::JoinRoom(frame)));
        }
        commands
    }

    /// "Approve all": every request waiting in the room, in one decision.
    pub fn approve_all(&mut self, room_id: &RoomId) -> Vec<Command> {
        let users: Vec<UserId> = self
            .room(room_id)
            .map(|r| r.members.pending().map(|p| p.user_id.clone()).collect())
            .unwrap_or_default();
        self.decide(room_id, &users, true, "")
    }

    /// The user leaves the room (the last admin is refused while others remain).
    pub fn leave_room(&mut self, room_id: &RoomId) -> Vec<Command> {
        let me = self.me.clone();
        self.room_action(
            ClientMessage::LeaveRoom {
                room_id: room_id.clone(),
            },
            room_id,
            Slot::Standing,
            me,
        )
    }

    /// An admin deletes the room for everyone.
    pub fn delete_room(&mut self, room_id: &RoomId) -> Vec<Command> {
        self.room_action(
            ClientMessage::DeleteRoom {
                room_id: room_id.clone(),
            },
            room_id,
            Slot::Standing,
            None,
        )
    }

    /// An admin takes a member out of the room (`ban`: and refuses their knocks).
    pub fn remove_member(
        &mut self,
        room_id: &RoomId,
        user_id: &UserId,
        ban: bool,
        reason: &str,
    ) -> Vec<Command> {
        self.take_out(Slot::Members, room_id, user_id, ban, reason)
    }

    /// An admin bans someone who asks to join instead of answering them (a spammer who
    /// knocks again and again): their knocks are refused from then on, alerting no one.
    pub fn ban_request(
        &mut self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: &str,
    ) -> Vec<Command> {
        self.take_out(Slot::Admin, room_id, user_id, true, reason)
    }

    /// `removeMember` or `banMember`, its errors shown at the room's slot `at`.
    fn take_out(
        &mut self,
        at: fn(RoomId) -> Slot,
        room_id: &RoomId,
        user_id: &UserId,
        ban: bool,
        reason: &str,
    ) -> Vec<Command> {
        let reason = match reason_to_send(reason) {
            Ok(reason) => reason,
            Err(text) => {
                self.errors.insert(at(room_id.clone()), text);
                return Vec::new();
            }
        };
        let (room_id_, target_user_id) = (room_id.clone(), user_id.clone());
        let frame = if ban {
            ClientMessage::BanMember {
                room_id: room_id_,
                target_user_id,
                reason,
            }
        } else {
            ClientMessage::RemoveMember {
                room_id: room_id_,
                target_user_id,
                reason,
            }
        };
        self.room_action(frame, room_id, at, Some(user_id.clone()))
    }

    /// An admin lets a banned user knock again.
    pub fn unban_member(&mut self, room_id: &RoomId, user_id: &UserId) -> Vec<Command> {
        let frame = ClientMessage::UnbanMember {
            room_id: room_id.clone(),
            target_user_id: user_id.clone(),
            reason: None,
        };
        self.room_action(frame, room_id, Slot::Members, Some(user_id.clone()))
    }

    /// An admin makes a member an admin, or an admin (themselves too) a member.
    pub fn set_role(&mut self, room_id: &RoomId, user_id: &UserId, admin: bool) -> Vec<Command> {
        let frame = ClientMessage::SetRole {
            room_id: room_id.clone(),
            target_user_id: user_id.clone(),
            role: if admin { Role::Admin } else { Role::Member },
        };
        self.room_action(frame, room_id, Slot::Members, Some(user_id.clone()))
    }

    /// Sends a room action, remembering it so that its error shows where it was asked:
    /// at the room's slot `at`.
    fn room_action(
        &mut self,
        frame: ClientMessage,
        room_id: &RoomId,
        at: fn(RoomId) -> Slot,
        target: Option<UserId>,
    ) -> Vec<Command> {
        let slot = at(room_id.clone());
        if !self.ready(&slot) {
            return Vec::new();
        }
        let action = frame.action();
        self.awaiting.push_back((
            room_id.clone(),
            Awaiting::Action {
                action,
                target,
                slot,
            },
        ));
        vec![Command::Send(frame)]
    }

    /// Online: clears the slot's old error. Offline: says so there.
    fn ready(&mut self, slot: &Slot) -> bool {
        if self.online {
            self.errors.remove(slot);
        } else {
            self.errors.insert(slot.clone(), offline_text());
        }
        self.online
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
        let reply_to = self.room_mut(room_id).replying_to.take();
        self.outbox
            .push_reply(client_msg_id, room_id.clone(), text.to_owned(), reply_to);
        // Read at an older message (a search result), the room goes back to its newest,
        // where the message will show.
        let room = self.room_mut(room_id);
        if room.timeline.has_newer {
            room.timeline.clear();
            return Ok(self.load_room(room_id));
        }
        Ok(Vec::new())
    }

    /// Writes what the outbox may send now, and the read markers due (`pump_reads`).
    /// [`Connection::act`] calls it after every change, so that a message goes out as
    /// soon as its turn and the rate allow. One wake-up serves both: the earlier.
    ///
    /// [`Connection::act`]: crate::client::Connection::act
    pub fn pump_outbox(&mut self, now_ms: f64) -> Vec<Command> {
        let (mut commands, read_wake) = self.pump_reads(now_ms);
        let outbox_wake = match self.outbox.pump(now_ms, self.online) {
            Pump::Idle => None,
            Pump::Send(frame) => {
                commands.push(Command::Send(frame));
                None
            }
            Pump::WakeAt(at) => Some(at),
        };
        let wake = match (outbox_wake, read_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = wake {
            commands.push(Command::WakeAfter(std::time::Duration::from_secs_f64(
                (at - now_ms).max(0.0) / 1_000.0,
            )));
        }
        commands
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
