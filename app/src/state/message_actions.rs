//! What the user does to a message: answer it, edit or delete it (docs/protocol.md,
//! *Messages, edits, deletions, replies*). The server's `messageEdited` and
//! `messageDeleted` change the timeline; nothing here changes it ahead of them.

use knock_protocol::{
    ChatMessage, ClientMessage, ErrorCode, MessageId, ReplyTo, RoomId, UserId, limits,
};

use super::{ChatState, Command, Slot, describe_error};

impl ChatState {
    /// "Reply": the composer quotes the message until it is sent or the reply cancelled.
    pub fn start_reply(&mut self, room_id: &RoomId, message_id: &MessageId) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let Some(message) = room.timeline.by_id(message_id).filter(|m| !m.deleted) else {
            return;
        };
        room.replying_to = Some(ReplyTo {
            message_id: message.message_id.clone(),
            user_id: message.user_id.clone(),
            excerpt: ReplyTo::excerpt_of(&message.message).to_owned(),
            deleted: false,
        });
    }

    pub fn cancel_reply(&mut self, room_id: &RoomId) {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.replying_to = None;
        }
    }

    /// Whether the user may edit this message ([`may_edit`]).
    pub fn may_edit(&self, room_id: &RoomId, message_id: &MessageId) -> bool {
        self.room(room_id)
            .and_then(|r| r.timeline.by_id(message_id))
            .is_some_and(|m| may_edit(m, self.me.as_ref()))
    }

    /// Whether the user may delete this message ([`may_delete`]).
    pub fn may_delete(&self, room_id: &RoomId, message_id: &MessageId) -> bool {
        self.room(room_id).is_some_and(|room| {
            room.timeline
                .by_id(message_id)
                .is_some_and(|m| may_delete(m, self.me.as_ref(), room.is_admin))
        })
    }

    /// "Save" on an edited message. `Err` with a readable reason when the text cannot be
    /// sent (the edit box keeps it then); nothing is sent for an unchanged text.
    pub fn edit_message(
        &mut self,
        room_id: &RoomId,
        message_id: &MessageId,
        text: &str,
    ) -> Result<Vec<Command>, String> {
        if text.trim().is_empty() {
            return Err(describe_error(ErrorCode::EmptyMessage, ""));
        }
        if text.chars().count() > limits::MAX_MESSAGE_CHARS {
            return Err(describe_error(ErrorCode::MessageTooLong, ""));
        }
        let unchanged = self
            .room(room_id)
            .and_then(|r| r.timeline.by_id(message_id))
            .is_some_and(|m| m.message == text);
        if unchanged {
            return Ok(Vec::new());
        }
        self.errors.remove(&Slot::Room(room_id.clone()));
        Ok(vec![Command::Send(ClientMessage::EditMessage {
            room_id: room_id.clone(),
            message_id: message_id.clone(),
            message: text.to_owned(),
        })])
    }

    /// "Delete", confirmed: for everyone.
    pub fn delete_message(&mut self, room_id: &RoomId, message_id: &MessageId) -> Vec<Command> {
        self.errors.remove(&Slot::Room(room_id.clone()));
        vec![Command::Send(ClientMessage::DeleteMessage {
            room_id: room_id.clone(),
            message_id: message_id.clone(),
        })]
    }

    /// An edit or a deletion was refused: said on the room's page.
    pub(super) fn message_change_refused(&mut self, readable: String) {
        let slot = self.viewing.clone().map_or(Slot::General, Slot::Room);
        self.errors.insert(slot, readable);
    }
}

/// Who may edit a message: its author, while it is not deleted (the server's rule,
/// docs/protocol.md `editMessage`).
pub fn may_edit(message: &ChatMessage, me: Option<&UserId>) -> bool {
    !message.deleted && me == Some(&message.user_id)
}

/// Who may delete a message: its author, or any admin of the room.
pub fn may_delete(message: &ChatMessage, me: Option<&UserId>, admin: bool) -> bool {
    !message.deleted && (admin || me == Some(&message.user_id))
}
