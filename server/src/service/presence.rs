//! Typing and presence: hints about the room's members, never stored.

use knock_protocol::{MemberStatus, Participant, RoomId, ServerMessage};

use super::{Service, SocketSession, now_ms};
use crate::{error::ServiceError, gateway::Outbound, metrics};

impl Service {
    /// `typing {roomId, userId}` to the room's other approved members, on every node; at
    /// most one per user and room per throttle period, the others dropped silently.
    pub(super) async fn typing(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        let room = self.access.require(&room_id, &session.user_id).await?;
        let now = now_ms();
        let user = &session.user_id;
        if !self
            .limits
            .typing_per_room
            .try_take(&(user.clone(), room_id.clone()), now)
        {
            return Ok(Vec::new());
        }
        if !self.limits.typing.try_take(user, now) {
            metrics::refused(metrics::Refusal::Typing);
            return Err(ServiceError::RateLimited);
        }
        let typing = ServerMessage::Typing {
            room_id,
            user_id: user.clone(),
        };
        self.fanout.to_room(&room, Some(user), &typing);
        Ok(Vec::new())
    }

    /// Sets `online` on the approved rows, in one lookup for them all.
    pub(super) async fn mark_online(&self, participants: &mut [Participant]) {
        let Some(presence) = &self.presence else {
            return;
        };
        let approved: Vec<usize> = (0..participants.len())
            .filter(|&i| participants[i].status == MemberStatus::Approved)
            .collect();
        let users: Vec<_> = approved
            .iter()
            .map(|&i| participants[i].user_id.clone())
            .collect();
        for (i, online) in approved.into_iter().zip(presence.online(&users).await) {
            participants[i].online = online;
        }
    }
}
