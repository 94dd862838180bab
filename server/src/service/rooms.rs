//! Rooms: create one, preview one from an invite link, list the rooms of a user.

use std::net::IpAddr;

use knock_protocol::{RoomId, RoomPreview, ServerMessage};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain::{self, Membership},
    error::ServiceError,
    gateway::Outbound,
    storage::NewRoom,
};

impl Service {
    pub(super) async fn create_room(
        &self,
        session: &mut SocketSession,
        raw_name: &str,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_name = domain::room_name(raw_name)?;
        self.check_room_count(&session.user_id).await?;
        let room_id = RoomId::new(uuid::Uuid::new_v4().to_string());
        self.storage
            .create_room(&NewRoom {
                room_id: room_id.clone(),
                room_name: room_name.clone(),
                admin: session.user_id.clone(),
                created_at: now_ms(),
            })
            .await?;
        tracing::info!(room = %room_id, "room created");
        session.current_room = Some(room_id.clone());
        let created = ServerMessage::RoomCreated { room_id, room_name };
        // The creator's other tabs learn of the room too.
        self.fanout.to_user(&session.user_id, &created);
        Ok(Vec::new())
    }

    /// What an invite link's page shows before knocking: the room's name and who runs
    /// it, and nothing else (no members, no messages). Anyone with the id may ask.
    pub(crate) async fn room_preview(
        &self,
        room_id: &RoomId,
        address: Option<IpAddr>,
    ) -> Result<RoomPreview, ServiceError> {
        if !self.limits.previews.try_take(&address, now_ms()) {
            crate::metrics::refused(crate::metrics::Refusal::Preview);
            return Err(ServiceError::RateLimited);
        }
        let room = self
            .storage
            .room(room_id)
            .await?
            .ok_or(ServiceError::RoomNotFound)?;
        let admins = self
            .storage
            .members(room_id)
            .await?
            .into_iter()
            .filter(|m| domain::is_acting_admin(Membership::from(m)))
            .map(|m| m.user_id)
            .collect();
        Ok(RoomPreview {
            room_id: room.room_id,
            room_name: room.room_name,
            admins,
        })
    }

    pub(super) async fn my_rooms(
        &self,
        session: &SocketSession,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let mut rooms = self.storage.rooms_of_user(&session.user_id).await?;
        rooms.retain(|room| domain::listed_in_my_rooms(room.status));
        for room in &mut rooms {
            let membership = Membership {
                status: room.status,
                is_admin: room.is_admin,
            };
            if !domain::may_receive(Some(membership)) {
                room.last_seq = 0;
                room.read_seq = 0;
                room.unread_count = 0;
                room.mention_count = 0;
            }
            if !domain::is_acting_admin(membership) {
                room.pending_count = None;
            }
        }
        Ok(vec![Outbound::message(&ServerMessage::Rooms { rooms })])
    }
}
