//! Edits and deletions of messages. Each is an entry of its room's log: stored with the
//! room's next `seq` and delivered like a chat message (`Fanout::chat`), so each socket
//! gets it once, in order, and a `resume` or a gap reads it back from storage.

use knock_protocol::{MessageId, RoomId};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain::{self, RuleError},
    error::ServiceError,
    gateway::{ChatFrame, Outbound},
    storage::{ChangeKind, Changed, MessageChange},
};

impl Service {
    pub(super) async fn edit_message(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        message_id: MessageId,
        text: String,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        domain::message_text(&text)?;
        self.access.require(&room_id, &session.user_id).await?;
        let message = self
            .storage
            .message(&room_id, &message_id)
            .await?
            .ok_or(RuleError::MessageNotFound)?;
        domain::may_edit(&session.user_id, &message)?;
        self.change(room_id, message_id, ChangeKind::Edit(text))
            .await
    }

    pub(super) async fn delete_message(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        message_id: MessageId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        let room = self.access.require(&room_id, &session.user_id).await?;
        let message = self
            .storage
            .message(&room_id, &message_id)
            .await?
            .ok_or(RuleError::MessageNotFound)?;
        domain::may_delete(
            &session.user_id,
            room.membership(&session.user_id),
            &message,
        )?;
        self.change(room_id, message_id, ChangeKind::Delete).await
    }

    /// Stores the change and sends it to those who may receive the room. Nothing goes back
    /// to the acting socket but what every member's sockets get.
    async fn change(
        &self,
        room_id: RoomId,
        message_id: MessageId,
        kind: ChangeKind,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let change = MessageChange {
            room_id,
            message_id,
            kind,
            at: now_ms(),
        };
        let entry = match self.storage.change_message(&change).await? {
            Changed::Stored(entry) => entry,
            // The state the rules saw changed since (another deletion won the race).
            Changed::NotFound => return Err(RuleError::MessageNotFound.into()),
            Changed::AlreadyDeleted => return Err(RuleError::MessageDeleted.into()),
            // The text it has already: nothing to store, nobody to tell.
            Changed::Unchanged => return Ok(Vec::new()),
        };
        // Read after the write, as the batcher does for messages: whoever may receive the
        // room now.
        if let Some(room) = self.access.room(&change.room_id).await? {
            self.fanout.chat(
                room.receivers(),
                ChatFrame {
                    room_id: change.room_id,
                    seq: entry.seq(),
                    frame: entry.into_frame().to_json().into(),
                },
            );
        }
        Ok(Vec::new())
    }
}
