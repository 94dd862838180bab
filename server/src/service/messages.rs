//! Messages: send, read history, resume after a gap.

use knock_protocol::{ClientMsgId, MessageId, ReplyTo, ResumeRoom, RoomId, ServerMessage};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain,
    error::ServiceError,
    gateway::Outbound,
    storage::{Inserted, NewMessage},
};

impl Service {
    pub(super) async fn send_message(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        text: String,
        client_msg_id: Option<ClientMsgId>,
        reply_to: Option<MessageId>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        domain::message_text(&text)?;
        if let Some(id) = &client_msg_id {
            domain::client_msg_id(id)?;
        }
        let room = self.access.require(&room_id, &session.user_id).await?;
        // A reply costs one read of the message it answers; a plain message none.
        let reply_to = match reply_to {
            Some(message_id) => Some(self.replied(&room_id, &message_id).await?),
            None => None,
        };
        // Who is approved comes from the room access the check above just used: no query
        // per message.
        let mentions = domain::mentions::mentions(&text, |user| room.membership(user).is_some());
        if !self.limits.messages.try_take(&session.user_id, now_ms()) {
            crate::metrics::refused(crate::metrics::Refusal::Message);
            return Err(ServiceError::RateLimited);
        }
        let inserted = self
            .messages
            .store(NewMessage {
                room_id,
                user_id: session.user_id.clone(),
                message: text,
                timestamp: now_ms(),
                // Time-ordered (v7): each new id lands at the end of the unique index
                // instead of on a random page of it, one page fewer written per message.
                message_id: MessageId::new(uuid::Uuid::now_v7().to_string()),
                client_msg_id: client_msg_id.clone(),
                reply_to,
                mentions,
            })
            .await?;
        let stored = match &inserted {
            Inserted::New(stored) => stored,
            Inserted::Duplicate(stored) => {
                tracing::debug!(seq = stored.seq, "retry of a stored message");
                stored
            }
        };
        Ok(client_msg_id
            .map(|client_msg_id| {
                Outbound::message(&ServerMessage::MessageAck {
                    client_msg_id,
                    room_id: stored.room_id.clone(),
                    seq: stored.seq,
                    message_id: stored.message_id.clone(),
                    timestamp: stored.timestamp,
                })
            })
            .into_iter()
            .collect())
    }

    /// What a reply to `message_id` shows of it; the message must be one of the room's, and
    /// not deleted (there is nothing left to answer).
    async fn replied(
        &self,
        room_id: &RoomId,
        message_id: &MessageId,
    ) -> Result<ReplyTo, ServiceError> {
        let answered = self
            .storage
            .message(room_id, message_id)
            .await?
            .ok_or(domain::RuleError::MessageNotFound)?;
        if answered.deleted {
            return Err(domain::RuleError::MessageDeleted.into());
        }
        Ok(crate::storage::reply_to(
            answered.message_id.0,
            answered.user_id.0,
            &answered.message,
            answered.deleted,
        ))
    }

    pub(super) async fn history(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        page: domain::search::HistoryPage,
        limit: Option<u32>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        use domain::search::HistoryPage;
        session.current_room = Some(room_id.clone());
        self.access.require(&room_id, &session.user_id).await?;
        let limit = domain::history_page(limit);
        let page_size = limit as usize;
        // One more than asked, each way, tells whether more exist beyond the page.
        let (messages, has_more, has_more_after) = match page {
            HistoryPage::Before(before_seq) => {
                let mut messages = self
                    .storage
                    .messages_before(&room_id, before_seq, limit + 1)
                    .await?;
                let has_more = messages.len() > page_size;
                if has_more {
                    messages.remove(0);
                }
                (messages, has_more, None)
            }
            HistoryPage::After(after_seq) => {
                let mut messages = self
                    .storage
                    .messages_after(&room_id, after_seq, limit + 1)
                    .await?;
                let has_more_after = messages.len() > page_size;
                messages.truncate(page_size);
                let first = messages
                    .first()
                    .map_or(after_seq.saturating_add(1), |message| message.seq);
                let has_more = !self
                    .storage
                    .messages_before(&room_id, Some(first), 1)
                    .await?
                    .is_empty();
                (messages, has_more, Some(has_more_after))
            }
            HistoryPage::Around(around_seq) => {
                let mut older = self
                    .storage
                    .messages_before(&room_id, Some(around_seq), limit + 1)
                    .await?;
                let mut newer = self
                    .storage
                    .messages_after(&room_id, around_seq.saturating_sub(1), limit + 1)
                    .await?;
                let (older_taken, newer_taken) =
                    domain::search::around_split(page_size, older.len(), newer.len());
                let has_more = older.len() > older_taken;
                let has_more_after = newer.len() > newer_taken;
                older.drain(..older.len() - older_taken);
                newer.truncate(newer_taken);
                older.append(&mut newer);
                (older, has_more, Some(has_more_after))
            }
        };
        // Access taken back while the page was read: nothing of the room goes out.
        self.access.require(&room_id, &session.user_id).await?;
        Ok(vec![Outbound::message(&ServerMessage::History {
            room_id,
            messages,
            has_more,
            has_more_after,
        })])
    }

    /// `markRead`: the approved member's marker moves forward (see
    /// [`crate::storage::Storage::mark_read`]); when it moved, every socket of the user, on
    /// every node, this one included, is told where it now is. Otherwise nothing is sent.
    pub(super) async fn mark_read(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        seq: u64,
    ) -> Result<Vec<Outbound>, ServiceError> {
        self.access.require(&room_id, &session.user_id).await?;
        if let Some(seq) = self
            .storage
            .mark_read(&room_id, &session.user_id, seq)
            .await?
        {
            self.fanout.to_user(
                &session.user_id,
                &ServerMessage::ReadMarker { room_id, seq },
            );
        }
        Ok(Vec::new())
    }

    pub(super) async fn resume(
        &self,
        session: &SocketSession,
        rooms: Vec<ResumeRoom>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let rooms = domain::resume_rooms(rooms)?;
        // Access may have gone while the client was away (a removal, a ban, a deleted
        // room): such a room is answered with an error naming it, the others are replayed.
        let mut answers = Vec::with_capacity(rooms.len());
        for room in rooms {
            match self.access.require(&room.room_id, &session.user_id).await {
                Ok(_) => answers.push(Outbound::CatchUp {
                    room_id: room.room_id,
                    after_seq: room.after_seq,
                }),
                Err(error @ (ServiceError::Rule(_) | ServiceError::RoomNotFound)) => {
                    let mut frame = error.to_frame(Some("resume"));
                    if let ServerMessage::Error { room_id, .. } = &mut frame {
                        *room_id = Some(room.room_id);
                    }
                    answers.push(Outbound::message(&frame));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(answers)
    }
}
