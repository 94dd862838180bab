//! Membership: knocking, an admin's decision, who is in a room, and telling the people
//! concerned of each change.

use knock_protocol::{RoomId, ServerMessage, UserId};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain::{self, Decision, JoinOutcome},
    error::ServiceError,
    gateway::Outbound,
    storage::{Membership, MembershipChange},
};

impl Service {
    pub(super) async fn request_join(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        let room = self.access.existing_room(&room_id).await?;
        let current = self.storage.membership(&room_id, &session.user_id).await?;
        match domain::join_request(current) {
            JoinOutcome::Unchanged(status) => {
                Ok(vec![Outbound::message(&ServerMessage::JoinResponse {
                    room_id,
                    status,
                })])
            }
            JoinOutcome::Ask(pending) => {
                self.store_membership(&room_id, &session.user_id, pending)
                    .await?;
                tracing::info!(room = %room_id, "join requested");
                // The acting admins as this node's access knows them: kept current by every
                // stored change, here and (through `roomChanged`) on other nodes.
                let admins: Vec<UserId> = room.admins().cloned().collect();
                self.fanout.to_users(
                    &admins,
                    &ServerMessage::JoinRequest {
                        user_id: session.user_id.clone(),
                        room_id: room_id.clone(),
                    },
                );
                self.fanout.to_user(
                    &session.user_id,
                    &ServerMessage::JoinResponse {
                        room_id: room_id.clone(),
                        status: pending.status,
                    },
                );
                self.announce_change(&room_id, &session.user_id, pending)
                    .await?;
                Ok(Vec::new())
            }
        }
    }

    pub(super) async fn decide(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        target: &UserId,
        decision: Decision,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        self.access.existing_room(&room_id).await?;
        let actor = self.storage.membership(&room_id, &session.user_id).await?;
        let target = domain::username(target.as_str()).unwrap_or_else(|_| target.clone());
        let current = self.storage.membership(&room_id, &target).await?;
        let Some(changed) = domain::decide(actor, &target, current, decision)? else {
            // Already decided that way: nothing changes, nobody is notified again.
            return Ok(Vec::new());
        };
        self.store_membership(&room_id, &target, changed).await?;
        tracing::info!(room = %room_id, %target, status = changed.status.as_str(), "join decided");
        self.fanout.to_user(
            &target,
            &ServerMessage::JoinResponse {
                room_id: room_id.clone(),
                status: changed.status,
            },
        );
        self.announce_change(&room_id, &target, changed).await?;
        Ok(Vec::new())
    }

    /// Membership decisions read storage, not the room access (they must see the latest
    /// state); the change is stored (batched with others queued at the same time) and
    /// then applied to the room access of this node, before the action is answered, and
    /// of every other node.
    pub(super) async fn store_membership(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: Membership,
    ) -> Result<(), ServiceError> {
        self.memberships
            .store(MembershipChange {
                room_id: room_id.clone(),
                user_id: user.clone(),
                membership,
                updated_at: now_ms(),
            })
            .await?;
        self.access.apply(room_id, user, membership);
        self.fanout.room_changed(room_id, user, membership);
        Ok(())
    }

    /// `memberChanged` to everyone who may receive the room (as this node's access, which
    /// has just applied the change, knows them) and to the user concerned.
    pub(super) async fn announce_change(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
    ) -> Result<(), ServiceError> {
        let change = ServerMessage::MemberChanged {
            room_id: room_id.clone(),
            user_id: user_id.clone(),
            status: membership.status,
            is_admin: membership.is_admin,
        };
        let room = self.access.room(room_id).await?;
        let receivers = room.as_ref().map_or(&[][..], |room| room.receivers());
        self.fanout.to_users(receivers, &change);
        if !receivers.contains(user_id) {
            self.fanout.to_user(user_id, &change);
        }
        Ok(())
    }

    pub(super) async fn members(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        let room = self.access.require(&room_id, &session.user_id).await?;
        let participants = self
            .storage
            .members(&room_id)
            .await?
            .into_iter()
            .filter(|participant| domain::listed_in_members(participant.status))
            .collect();
        Ok(vec![Outbound::message(&ServerMessage::RoomMembers {
            room_id,
            room_name: room.room_name.clone(),
            participants,
        })])
    }
}
