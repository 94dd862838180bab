//! The server's frames, applied to the state: one handler per frame.

use knock_protocol::{
    ChatMessage, ClientMessage, ClientMsgId, ErrorCode, InviteRef, MemberStatus, MessageId,
    Participant, RoomId, RoomSummary, ServerMessage, UserId,
};

use super::alerts;
use super::timeline::{self, PageKind};
use super::wording::knock_cooldown_text;
use super::{
    Awaiting, ChatState, Command, Gone, Notice, Slot, describe_error, is_listed, remove_first,
    room_path,
};

impl ChatState {
    #[allow(
        clippy::too_many_lines,
        reason = "one short arm per frame: a table, not logic"
    )]
    pub fn apply(&mut self, frame: ServerMessage) -> Vec<Command> {
        match frame {
            ServerMessage::Authenticated { user_id } => self.on_authenticated(user_id),
            ServerMessage::RoomCreated { room_id, room_name } => {
                self.on_room_created(&room_id, room_name)
            }
            ServerMessage::JoinRequest {
                user_id,
                room_id,
                reason,
                invite,
            } => self.on_join_request(&room_id, user_id, reason, invite),
            ServerMessage::JoinResponse {
                room_id,
                status,
                reason,
            } => self.on_join_response(&room_id, status, reason),
            ServerMessage::Message(message) => self.on_message(message),
            ServerMessage::RoomMembers {
                room_id,
                room_name,
                participants,
                invite_only,
            } => {
                self.room_mut(&room_id).invite_only = invite_only;
                self.on_room_members(room_id, room_name, participants)
            }
            ServerMessage::MemberChanged {
                room_id,
                user_id,
                status,
                is_admin,
                reason,
            } => self.on_member_changed(&room_id, &user_id, status, is_admin, reason),
            ServerMessage::RoomDeleted { room_id } => self.on_room_deleted(&room_id),
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
                has_more_after,
            } => self.on_history(room_id, messages, has_more, has_more_after),
            ServerMessage::HistoryGap {
                room_id,
                after_seq,
                before_seq,
            } => self.on_history_gap(&room_id, after_seq, before_seq),
            ServerMessage::Rooms { rooms } => self.on_rooms(rooms),
            ServerMessage::Typing { room_id, user_id } => self.on_typing(&room_id, user_id),
            ServerMessage::Invite(invite) => {
                self.on_invite(invite);
                Vec::new()
            }
            ServerMessage::Invites { room_id, invites } => {
                self.on_invites(&room_id, invites);
                Vec::new()
            }
            ServerMessage::InviteRevoked { room_id, code } => {
                self.on_invite_revoked(&room_id, &code);
                Vec::new()
            }
            ServerMessage::InviteInfo {
                code,
                room_id,
                room_name,
            } => {
                self.on_invite_info(code, room_id, room_name);
                Vec::new()
            }
            ServerMessage::RoomSettings {
                room_id,
                invite_only,
            } => {
                self.room_mut(&room_id).invite_only = invite_only;
                Vec::new()
            }
            ServerMessage::Presence {
                room_id,
                online,
                offline,
            } => {
                self.on_presence(&room_id, &online, &offline);
                Vec::new()
            }
            ServerMessage::ReadMarker { room_id, seq } => {
                let me = self.me.clone();
                if let Some(room) = self.rooms.get_mut(&room_id) {
                    room.read_up_to(seq, me.as_ref());
                }
                Vec::new()
            }
            ServerMessage::MessageEdited {
                room_id,
                message_id,
                message,
                edited_at,
                seq,
            } => {
                if let Some(room) = self.rooms.get_mut(&room_id) {
                    room.timeline
                        .apply_edit(&message_id, &message, edited_at, seq);
                }
                Vec::new()
            }
            ServerMessage::MessageDeleted {
                room_id,
                message_id,
                seq,
            } => self.on_message_deleted(&room_id, &message_id, seq),
            ServerMessage::SearchResults {
                query,
                room_id,
                results,
                has_more,
                next_cursor,
            } => {
                self.search
                    .answered(&query, room_id.as_ref(), results, has_more, next_cursor);
                Vec::new()
            }
            // Only the driver cares: it counts as a frame received.
            ServerMessage::Pong => Vec::new(),
            ServerMessage::Error {
                code,
                message,
                request_action,
                target_user_id,
                retry_after_secs,
                ..
            } => {
                let readable = match code {
                    ErrorCode::KnockCooldown => knock_cooldown_text(retry_after_secs),
                    _ => describe_error(code, &message),
                };
                self.on_error(
                    code,
                    readable,
                    request_action.as_deref(),
                    target_user_id.as_ref(),
                )
            }
        }
    }

    /// A message became a tombstone; a reply being written to it is dropped.
    fn on_message_deleted(
        &mut self,
        room_id: &RoomId,
        message_id: &MessageId,
        seq: u64,
    ) -> Vec<Command> {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.timeline.apply_delete(message_id, seq);
            room.replying_to
                .take_if(|reply| &reply.message_id == message_id);
        }
        Vec::new()
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
        // The list says how the user stands, admin or not (a role may have changed).
        if let Some(mine) = me.and_then(|me| participants.iter().find(|p| p.user_id == me)) {
            room.status = Some(mine.status);
            room.is_admin = mine.is_admin;
        }
        room.members.set(participants);
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
            reply_to: sent.reply_to,
            ..ChatMessage::default()
        })
    }

    fn on_history(
        &mut self,
        room_id: RoomId,
        messages: Vec<ChatMessage>,
        has_more: bool,
        has_more_after: Option<bool>,
    ) -> Vec<Command> {
        remove_first(&mut self.history_requests, &room_id);
        let room = self.room_mut(&room_id);
        room.timeline.apply_page(messages, has_more, has_more_after);
        self.errors.remove(&Slot::Room(room_id));
        Vec::new()
    }

    /// A catch-up skipped the older part of what was missed: the timeline starts again
    /// after it, and the reader pages back into it. A room not on screen counts what was
    /// skipped as unread, as it would have counted the messages.
    fn on_history_gap(
        &mut self,
        room_id: &RoomId,
        after_seq: u64,
        before_seq: u64,
    ) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(room_id);
        let room = self.room_mut(room_id);
        if room.timeline.has_newer {
            // Opened at an older message, it does not follow live messages anyway.
            return Vec::new();
        }
        let skipped = room.timeline.skip_to(after_seq, before_seq);
        if !viewing {
            room.unread = room
                .unread
                .saturating_add(u32::try_from(skipped).unwrap_or(u32::MAX));
        }
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
                reason: None,
                online: false,
                invite: None,
            }]);
        }
        // A new room has no history.
        room.timeline.pending_pages.push(PageKind::Newest);
        room.timeline.apply_page(Vec::new(), false, None);
        self.errors.remove(&Slot::CreateRoom);
        if self.creating > 0 {
            self.creating -= 1;
            vec![Command::Navigate(room_path(room_id))]
        } else {
            Vec::new()
        }
    }

    fn on_join_request(
        &mut self,
        room_id: &RoomId,
        user_id: UserId,
        reason: Option<String>,
        invite: Option<InviteRef>,
    ) -> Vec<Command> {
        let room = self.room_mut(room_id);
        room.members
            .apply(&user_id, MemberStatus::Pending, false, reason.clone());
        if let Some(used) = &invite
            && let Some(link) = room
                .invites
                .as_mut()
                .and_then(|list| list.iter_mut().find(|i| i.code == used.code))
        {
            // A knock with a link is one use of it (counted by the server as it stored the
            // request).
            link.uses = link.uses.saturating_add(1);
        }
        room.members.set_invite(&user_id, invite);
        let name_unknown = room.name.is_none();
        let alert = Command::Alert(alerts::join_request(room, &user_id, reason.as_deref()));
        self.notify(Notice::JoinRequest {
            room_id: room_id.clone(),
            user_id,
            reason,
        });
        let mut commands = vec![alert];
        if name_unknown {
            commands.push(self.ask_rooms());
        }
        // The room's list was not read (nobody waited at sign-in): read it now, so that
        // the count and the Requests page show every request, not only this one.
        let unlisted = self
            .room(room_id)
            .is_some_and(|r| r.is_admin && !r.members.loaded);
        if unlisted && !self.member_requests.contains(room_id) {
            self.member_requests.push_back(room_id.clone());
            commands.push(Command::Send(ClientMessage::GetMembers {
                room_id: Some(room_id.clone()),
            }));
        }
        commands
    }

    fn on_join_response(
        &mut self,
        room_id: &RoomId,
        status: MemberStatus,
        reason: Option<String>,
    ) -> Vec<Command> {
        let asked_here = match self
            .awaiting
            .iter()
            .position(|(r, k)| r == room_id && matches!(k, Awaiting::Knock(_)))
        {
            Some(i) => {
                if let Some((_, Awaiting::Knock(slot))) = self.awaiting.remove(i) {
                    self.errors.remove(&slot);
                }
                true
            }
            None => false,
        };
        let mut commands = self.set_my_status(room_id, status, reason);
        if asked_here {
            commands.push(Command::Navigate(room_path(room_id)));
        }
        commands
    }

    /// The user's own standing in a room changed (or was confirmed).
    pub(super) fn set_my_status(
        &mut self,
        room_id: &RoomId,
        status: MemberStatus,
        reason: Option<String>,
    ) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(room_id);
        let room = self.room_mut(room_id);
        let previous = room.status;
        room.status = Some(status);
        let name_unknown = room.name.is_none();
        let mut commands = Vec::new();
        match status {
            MemberStatus::Pending => {
                room.rejection = None;
                if name_unknown {
                    commands.push(self.ask_rooms());
                }
            }
            MemberStatus::Approved => {
                if previous == Some(MemberStatus::Pending) {
                    commands.push(Command::Alert(alerts::decision(room, status, None)));
                }
                if previous != Some(MemberStatus::Approved) {
                    if previous == Some(MemberStatus::Pending) && !viewing {
                        self.notify(Notice::Approved {
                            room_id: room_id.clone(),
                        });
                    }
                    self.errors.remove(&Slot::Room(room_id.clone()));
                    commands.push(self.ask_rooms());
                    if viewing {
                        commands.extend(self.load_room(room_id));
                    }
                }
            }
            MemberStatus::Rejected => {
                if previous == Some(MemberStatus::Pending) {
                    commands.push(Command::Alert(alerts::decision(
                        room,
                        status,
                        reason.as_deref(),
                    )));
                }
                room.timeline.clear();
                room.members.clear();
                room.rejection.clone_from(&reason);
                if previous != Some(MemberStatus::Rejected) && !viewing {
                    self.notify(Notice::Rejected {
                        room_id: room_id.clone(),
                        reason,
                    });
                }
            }
            MemberStatus::Left | MemberStatus::Removed | MemberStatus::Banned => {
                let room_name = room.display_name();
                self.forget_room(room_id);
                if status == MemberStatus::Banned {
                    // Remembered, to tell when it ends.
                    self.room_mut(room_id).status = Some(status);
                }
                let why = match (previous, status) {
                    (Some(MemberStatus::Banned), MemberStatus::Left) => Some(Gone::Unbanned),
                    // Told only about a room they knew (not a ban before knocking).
                    (previous, _) if !is_listed(previous) => None,
                    (_, MemberStatus::Removed) => Some(Gone::Removed),
                    (_, MemberStatus::Banned) => Some(Gone::Banned),
                    (Some(MemberStatus::Pending), _) => Some(Gone::Withdrew),
                    _ => Some(Gone::Left),
                };
                if let Some(why) = why {
                    self.notify(Notice::Gone {
                        room_id: room_id.clone(),
                        room_name,
                        why,
                        reason,
                    });
                    if viewing && why != Gone::Unbanned {
                        commands.push(Command::Navigate("/".into()));
                    }
                }
            }
        }
        commands
    }

    /// The user is no longer in the room: forget what was shown of it, what waits to be
    /// sent to it, and the alerts and errors about it.
    fn forget_room(&mut self, room_id: &RoomId) {
        let room = self.room_mut(room_id);
        room.status = None;
        room.is_admin = false;
        room.rejection = None;
        room.unread = 0;
        room.timeline.clear();
        room.members.clear();
        self.outbox.forget_room(room_id);
        self.notices.retain(|n| match &n.notice {
            Notice::JoinRequest { room_id: r, .. } => r != room_id,
            _ => true,
        });
        for slot in [
            Slot::Admin(room_id.clone()),
            Slot::Members(room_id.clone()),
            Slot::Standing(room_id.clone()),
            Slot::Room(room_id.clone()),
        ] {
            self.errors.remove(&slot);
        }
    }

    /// Every approved and pending user of a deleted room is told: it leaves their view.
    fn on_room_deleted(&mut self, room_id: &RoomId) -> Vec<Command> {
        // The last member leaving deletes the room: to them, they left.
        let why = if self
            .awaiting
            .iter()
            .any(|(r, k)| r == room_id && k.action() == "leaveRoom")
        {
            Gone::Left
        } else {
            Gone::Deleted
        };
        self.awaiting.retain(|(r, _)| r != room_id);
        let known = self.room(room_id).is_some_and(|r| is_listed(r.status));
        let room_name = self
            .room(room_id)
            .map_or_else(|| room_id.to_string(), super::RoomState::display_name);
        self.forget_room(room_id);
        self.room_mut(room_id).not_found = true;
        let mut commands = Vec::new();
        if known {
            self.notify(Notice::Gone {
                room_id: room_id.clone(),
                room_name,
                why,
                reason: None,
            });
        }
        if self.viewing.as_ref() == Some(room_id) {
            commands.push(Command::Navigate("/".into()));
        }
        commands
    }

    fn on_member_changed(
        &mut self,
        room_id: &RoomId,
        user_id: &UserId,
        status: MemberStatus,
        is_admin: bool,
        reason: Option<String>,
    ) -> Vec<Command> {
        let me = self.is_me(user_id);
        // Only admins see the banned: to others, a member banned is one who left.
        let status = match status {
            MemberStatus::Banned if !me && !self.room(room_id).is_some_and(|r| r.is_admin) => {
                MemberStatus::Left
            }
            status => status,
        };
        self.settle(room_id, user_id, me && status == MemberStatus::Left);
        if status != MemberStatus::Pending {
            // Decided, here or by another admin: the alert has done its job.
            self.notices.retain(|n| {
                !matches!(&n.notice, Notice::JoinRequest { room_id: r, user_id: u, .. }
                    if r == room_id && u == user_id)
            });
        }
        let viewing = self.viewing.as_ref() == Some(room_id);
        let room = self.room_mut(room_id);
        let previous = room
            .members
            .apply(user_id, status, is_admin, reason.clone());
        if !me {
            // Someone let in: `presence` tells only changes, so whether they are online
            // comes with the member list, read again.
            let let_in =
                status == MemberStatus::Approved && previous != Some(MemberStatus::Approved);
            if let_in && viewing && room.members.loaded {
                room.members.loaded = false;
                return self.load_room(room_id);
            }
            return Vec::new();
        }
        let role_changed = room.is_admin != is_admin && room.is_approved();
        room.is_admin = is_admin;
        let mut commands = self.set_my_status(room_id, status, reason);
        if role_changed && status == MemberStatus::Approved {
            // Admins see requests' messages and the banned; others do not: ask again.
            self.room_mut(room_id).members.loaded = false;
            if self.viewing.as_ref() == Some(room_id) {
                commands.extend(self.load_room(room_id));
            }
        }
        commands
    }

    /// A membership change answers what was waiting for it: a decision on that user,
    /// an admin's action on them, the user's own leaving or withdrawal.
    fn settle(&mut self, room_id: &RoomId, user_id: &UserId, withdrawn: bool) {
        let Some(i) = self.awaiting.iter().position(|(r, k)| {
            r == room_id
                && match k {
                    Awaiting::Decision(users) => users.contains(user_id),
                    Awaiting::Withdrawal => withdrawn,
                    Awaiting::Action { target, .. } => target.as_ref() == Some(user_id),
                    Awaiting::Knock(_) => false,
                }
        }) else {
            return;
        };
        if let Some((_, Awaiting::Decision(users))) = self.awaiting.get_mut(i) {
            users.retain(|u| u != user_id);
            if !users.is_empty() {
                return;
            }
        }
        self.awaiting.remove(i);
    }

    fn on_message(&mut self, message: ChatMessage) -> Vec<Command> {
        let viewing = self.viewing.as_ref() == Some(&message.room_id);
        let mine = self.is_me(&message.user_id);
        let room_id = message.room_id.clone();
        let author = message.user_id.clone();
        let text = message.message.clone();
        self.stopped_typing(&room_id, &author);
        let mentioned = !mine
            && self
                .me
                .as_ref()
                .is_some_and(|me| message.mentions.contains(me));
        let room = self.room_mut(&room_id);
        let mut commands = Vec::new();
        if let Some((before_seq, limit)) = room.timeline.gap_before(message.seq) {
            room.timeline.pending_pages.push(PageKind::Gap);
            commands.push(Command::Send(ClientMessage::GetHistory {
                room_id: room_id.clone(),
                before_seq: Some(before_seq),
                limit: Some(limit),
                around_seq: None,
                after_seq: None,
            }));
        }
        let is_new = room.timeline.insert_live(message) == timeline::Inserted::New;
        if is_new && !mine && !viewing {
            room.unread = room.unread.saturating_add(1);
            if mentioned {
                room.mentions = room.mentions.saturating_add(1);
            }
        }
        if is_new && mentioned {
            commands.push(Command::Alert(alerts::mention(room, &author, &text)));
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
        self.rooms_asked = self.rooms_asked.saturating_sub(1);
        let listed: Vec<RoomId> = rooms.iter().map(|r| r.room_id.clone()).collect();
        let mut commands = Vec::new();
        let viewing = self.viewing.clone();
        for summary in rooms {
            let asked = self.member_requests.contains(&summary.room_id);
            let room = self.room_mut(&summary.room_id);
            room.read_state_from(&summary, viewing.as_ref() == Some(&summary.room_id));
            room.name = Some(summary.room_name);
            room.is_admin = summary.is_admin;
            room.status = Some(summary.status);
            room.not_found = false;
            if summary.status == MemberStatus::Rejected {
                room.timeline.clear();
                room.members.clear();
            }
            // Admins learn of waiting requests from `pendingCount`; a room's list is
            // read only when someone waits (the Requests page lists them).
            let waiting = summary.pending_count.unwrap_or(0) > 0;
            if room.is_admin && room.is_approved() && !room.members.loaded && !asked && waiting {
                self.member_requests.push_back(summary.room_id.clone());
                commands.push(Command::Send(ClientMessage::GetMembers {
                    room_id: Some(summary.room_id.clone()),
                }));
            }
        }
        // The server no longer counts the user in (removed, banned or the room deleted
        // while the socket was down, so nobody said): it leaves the view. Only the
        // answer to the last `myRooms`: an earlier one may predate a room just joined.
        let gone: Vec<(RoomId, Option<MemberStatus>)> = self
            .rooms
            .values()
            .filter(|r| {
                self.rooms_asked == 0 && !listed.contains(&r.room_id) && is_listed(r.status)
            })
            .map(|r| (r.room_id.clone(), r.status))
            .collect();
        for (room_id, status) in gone {
            let room_name = self.rooms[&room_id].display_name();
            self.forget_room(&room_id);
            if status != Some(MemberStatus::Rejected) {
                self.notify(Notice::Gone {
                    room_id: room_id.clone(),
                    room_name,
                    why: Gone::Lost,
                    reason: None,
                });
                if self.viewing.as_ref() == Some(&room_id) {
                    commands.push(Command::Navigate("/".into()));
                    self.viewing = None;
                }
            }
        }
        if let Some(viewing) = self.viewing.clone() {
            commands.extend(self.load_room(&viewing));
        }
        commands
    }

    fn on_error(
        &mut self,
        code: ErrorCode,
        readable: String,
        action: Option<&str>,
        target: Option<&UserId>,
    ) -> Vec<Command> {
        if code == ErrorCode::Unauthenticated {
            return vec![Command::SessionExpired];
        }
        match action {
            Some("createRoom") => {
                self.creating = self.creating.saturating_sub(1);
                let slot = if code == ErrorCode::InvalidRoomName {
                    Slot::RoomName
                } else {
                    Slot::CreateRoom
                };
                self.errors.insert(slot, readable);
            }
            Some("joinRoom") if target.is_some() => {
                // One user of a decision on several: said with their name, beside what
                // the others of that decision gave.
                let target = target.expect("checked");
                let slot = self.decision_failed(target);
                self.errors.append(slot, format!("{target}: {readable}"));
            }
            Some(
                action @ ("joinRoom" | "leaveRoom" | "removeMember" | "banMember" | "unbanMember"
                | "setRole" | "deleteRoom"),
            ) => {
                let answered = self
                    .awaiting
                    .iter()
                    .position(|(_, k)| k.action() == action)
                    .and_then(|i| self.awaiting.remove(i));
                let slot = match answered {
                    Some((_, Awaiting::Knock(slot) | Awaiting::Action { slot, .. })) => slot,
                    Some((room_id, Awaiting::Withdrawal)) => Slot::Standing(room_id),
                    Some((room_id, Awaiting::Decision(_))) => Slot::Admin(room_id),
                    None if action == "joinRoom" => Slot::JoinRoom,
                    None => Slot::General,
                };
                self.errors.insert(slot, readable);
            }
            Some("search") => self.search.refused(readable),
            Some("editMessage" | "deleteMessage") => self.message_change_refused(readable),
            Some(
                action @ ("createInvite" | "listInvites" | "revokeInvite" | "lookupInvite"
                | "setRoomSettings"),
            ) => self.invite_refused(action, readable),
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

    /// The decision that named `target` failed for them: where to say so.
    fn decision_failed(&mut self, target: &UserId) -> Slot {
        let Some(i) = self
            .awaiting
            .iter()
            .position(|(_, k)| matches!(k, Awaiting::Decision(users) if users.contains(target)))
        else {
            return Slot::General;
        };
        let room_id = self.awaiting[i].0.clone();
        if let Some((_, Awaiting::Decision(users))) = self.awaiting.get_mut(i) {
            users.retain(|u| u != target);
            if users.is_empty() {
                self.awaiting.remove(i);
            }
        }
        Slot::Admin(room_id)
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
