//! Who is typing and who is online (docs/protocol.md, *Typing and presence*). Typing is
//! a hint that expires: each `typing` frame asks the Leptos layer, through
//! [`Command::Later`], to call [`ChatState::typing_expired`] after
//! `limits::TYPING_EXPIRES_SECS`; a renewal makes the older call do nothing.

use std::time::Duration;

use knock_protocol::{ClientMessage, RoomId, UserId, limits};

use super::{ChatState, Command, Later};

impl ChatState {
    /// `typing {roomId, userId}`: shown until it expires or that user's message comes.
    pub(super) fn on_typing(&mut self, room_id: &RoomId, user_id: UserId) -> Vec<Command> {
        if self.is_me(&user_id) {
            return Vec::new();
        }
        self.typing_renewals += 1;
        let token = self.typing_renewals;
        let Some(room) = self.rooms.get_mut(room_id) else {
            return Vec::new();
        };
        match room.typing.iter_mut().find(|(u, _)| *u == user_id) {
            Some(entry) => entry.1 = token,
            None => room.typing.push((user_id.clone(), token)),
        }
        vec![Command::Later(
            Duration::from_secs(limits::TYPING_EXPIRES_SECS),
            Later::TypingEnds {
                room_id: room_id.clone(),
                user_id,
                token,
            },
        )]
    }

    /// The time of a `typing` frame is up: unless renewed since, the user is no longer
    /// shown typing.
    pub fn typing_expired(&mut self, room_id: &RoomId, user_id: &UserId, token: u64) {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.typing.retain(|(u, t)| !(u == user_id && *t == token));
        }
    }

    /// A message from `user_id` ends their typing.
    pub(super) fn stopped_typing(&mut self, room_id: &RoomId, user_id: &UserId) {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.typing.retain(|(u, _)| u != user_id);
        }
    }

    /// The user typed in the composer at `now_ms`: `typing` to the room, at most once per
    /// `limits::TYPING_THROTTLE_SECS` (the server would drop more).
    pub fn typed(&mut self, room_id: &RoomId, now_ms: f64) -> Vec<Command> {
        if !self.online
            || !self
                .room(room_id)
                .is_some_and(super::RoomState::is_approved)
        {
            return Vec::new();
        }
        #[allow(clippy::cast_precision_loss, reason = "a few seconds in milliseconds")]
        let every = (limits::TYPING_THROTTLE_SECS * 1_000) as f64;
        if let Some((room, at)) = &self.typing_sent
            && room == room_id
            && now_ms - at < every
        {
            return Vec::new();
        }
        self.typing_sent = Some((room_id.clone(), now_ms));
        vec![Command::Send(ClientMessage::Typing {
            room_id: room_id.clone(),
        })]
    }

    /// `presence`: members who came online or went offline.
    pub(super) fn on_presence(&mut self, room_id: &RoomId, online: &[UserId], offline: &[UserId]) {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.members.set_online(online, true);
            room.members.set_online(offline, false);
        }
    }
}

/// "ann is typing…", "ann and ben are typing…", "Several people are typing…".
pub fn typing_text(names: &[String]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [one, two] => Some(format!("{one} and {two} are typing…")),
        _ => Some("Several people are typing…".to_owned()),
    }
}
