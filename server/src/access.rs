//! May this user receive this room now? The one place that answers it, on every node.
//!
//! Everything that sends a room's contents to a user, or reads them for a user, asks here:
//! the fan-out of messages and member changes (its recipients are [`RoomEntry::receivers`],
//! on the node that stores a message and on every node that hears of it), history, member
//! lists and `resume` (through [`RoomAccess::require`]), and a socket's catch-up and resync
//! from storage (through [`RoomAccess::may_receive`], per room, just before reading it).
//! Every change to who may receive a room goes through [`RoomAccess::apply`].
//!
//! # What it guarantees
//!
//! - One rule: a user may receive a room exactly when [`domain::may_receive`] says so of
//!   their membership. No caller tests a status itself.
//! - On the node that stores a membership change, the change is applied here before the
//!   action that made it is answered (`service::membership`). Other nodes apply it when
//!   its `roomChanged` event reaches them (`fanout.rs`); after a Redis outage they forget
//!   everything and read storage again, and any entry is read again after 30 seconds.
//! - A refusal is checked against storage before it is given, so a node that has not yet
//!   heard of an approval does not refuse it.
//! - A live message is addressed to the room's receivers when it is fanned out; a catch-up
//!   or resync, which reads a room's stored messages later, asks again for that room first.
//!
//! Taking access back (leaving, removal, a ban, a deleted room) is a membership change
//! passed to [`RoomAccess::apply`] (or [`RoomAccess::forget_room`]) with a status for which
//! [`domain::may_receive`] is false. The acting node applies it first, then publishes it
//! as a barrier and answers only once every node has applied it (`fanout.rs`): this
//! node's answer may lag behind a grant (the storage check covers that), never behind a
//! revocation that was answered. History and member lists ask again after reading, and a
//! catch-up asks before each page, so a read under way when access goes sends nothing more.

use std::sync::Arc;

use knock_protocol::{RoomId, UserId};

use crate::{
    directory::{RoomDirectory, RoomEntry},
    domain::{self, Membership, RuleError},
    error::ServiceError,
    storage::{Storage, StorageError},
};

/// This node's answer to "may this user receive this room now" (see the module docs).
/// Cloning shares it.
#[derive(Clone)]
pub struct RoomAccess {
    directory: Arc<RoomDirectory>,
    storage: Arc<dyn Storage>,
}

impl RoomAccess {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            directory: Arc::new(RoomDirectory::new(storage.clone())),
            storage,
        }
    }

    /// The storage the rooms' messages are read from, for those allowed to read them.
    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The room with the users who may receive it now ([`RoomEntry::receivers`]), or
    /// `None` when it does not exist.
    pub(crate) async fn room(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<Arc<RoomEntry>>, StorageError> {
        self.directory.get(room_id).await
    }

    /// The room, when it exists ([`ServiceError::RoomNotFound`] otherwise).
    pub(crate) async fn existing_room(
        &self,
        room_id: &RoomId,
    ) -> Result<Arc<RoomEntry>, ServiceError> {
        // Ids Knock never made cannot name a room; no need to ask storage.
        if uuid::Uuid::parse_str(room_id.as_str()).is_err() {
            return Err(ServiceError::RoomNotFound);
        }
        self.room(room_id).await?.ok_or(ServiceError::RoomNotFound)
    }

    /// The room, when `user_id` may receive it now; [`ServiceError::RoomNotFound`] or
    /// [`RuleError::NotMember`] otherwise. The hot path's check (every message sent,
    /// history page, member list, resume).
    pub(crate) async fn require(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Arc<RoomEntry>, ServiceError> {
        let room = self.existing_room(room_id).await?;
        if self.receives(&room, user_id).await? {
            Ok(room)
        } else {
            Err(RuleError::NotMember.into())
        }
    }

    /// Whether `user_id` may receive the room now (false when it does not exist): asked by
    /// a socket's catch-up and resync before they read the room's stored messages.
    pub(crate) async fn may_receive(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<bool, StorageError> {
        match self.room(room_id).await? {
            Some(room) => self.receives(&room, user_id).await,
            None => Ok(false),
        }
    }

    /// The one decision: this node's entry, by the rule; a refusal is checked against the
    /// stored membership first (the entry may lag behind an approval made on another
    /// node), and what storage says is kept unless the room changed during the read.
    async fn receives(&self, room: &RoomEntry, user_id: &UserId) -> Result<bool, StorageError> {
        if domain::may_receive(room.membership(user_id)) {
            return Ok(true);
        }
        let version = self.directory.version(&room.room_id);
        let stored = self.storage.membership(&room.room_id, user_id).await?;
        if !domain::may_receive(stored) {
            return Ok(false);
        }
        let Some(membership) = stored else {
            return Ok(false);
        };
        if self
            .directory
            .apply_read(&room.room_id, user_id, membership, version)
        {
            return Ok(true);
        }
        // A change was applied while storage was read (a removal, say): storage, where
        // every change is written before it is applied, has the answer; nothing is kept.
        let again = self.storage.membership(&room.room_id, user_id).await?;
        Ok(domain::may_receive(again))
    }

    /// Records a stored membership change (made on this node or announced by another):
    /// from the moment this returns, every answer of this node reflects it.
    pub(crate) fn apply(&self, room_id: &RoomId, user_id: &UserId, membership: Membership) {
        self.directory.apply(room_id, user_id, membership);
    }

    /// Records a membership change announced by another node. The announcement may reach
    /// this node after a later change to the same membership (nodes publish independently),
    /// so what is kept is what storage holds now, where every change is written before it
    /// is announced: a revocation is applied at once, then the membership is read again and
    /// kept unless another change was applied meanwhile.
    pub(crate) async fn apply_announced(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
    ) -> Result<(), StorageError> {
        // Most announcements change nothing here (a request in a room this node has not
        // loaded, or whose requester it does not keep): no read for those.
        let Some(entry) = self.directory.loaded(room_id) else {
            return Ok(());
        };
        let kept = domain::may_receive(Some(membership)).then_some(membership);
        if entry.membership(user_id) == kept {
            return Ok(());
        }
        if kept.is_none() {
            self.directory.apply(room_id, user_id, membership);
        }
        for _ in 0..3 {
            let version = self.directory.version(room_id);
            let Some(stored) = self.storage.membership(room_id, user_id).await? else {
                return Ok(());
            };
            if self.directory.apply_read(room_id, user_id, stored, version) {
                return Ok(());
            }
        }
        // Changed three times while read: the entry is read again on its next use.
        self.directory.forget(room_id);
        Ok(())
    }

    /// Records that the room was deleted: from the moment this returns, nobody receives it
    /// on this node.
    pub(crate) fn forget_room(&self, room_id: &RoomId) {
        self.directory.forget(room_id);
    }

    /// Forgets everything this node knows (after it may have missed changes): answers are
    /// read from storage again.
    pub(crate) fn forget_all(&self) {
        self.directory.clear();
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::MemberStatus;

    use super::*;
    use crate::{storage::MembershipChange, testing::alices_room};

    #[tokio::test]
    async fn members_receive_others_do_not() {
        let (storage, room_id) = alices_room().await;
        let access = RoomAccess::new(storage);
        let alice = UserId::new("alice");
        let bob = UserId::new("bob");
        assert!(access.may_receive(&room_id, &alice).await.unwrap());
        assert!(!access.may_receive(&room_id, &bob).await.unwrap());
        assert!(
            !access
                .may_receive(&RoomId::new("nope"), &alice)
                .await
                .unwrap()
        );
        // Ids Knock never made name no room, without asking storage.
        let refused = access.require(&room_id, &alice).await.unwrap_err();
        assert!(matches!(refused, ServiceError::RoomNotFound));
    }

    #[tokio::test]
    async fn an_approval_this_node_has_not_heard_of_is_read_from_storage() {
        let (storage, room_id) = alices_room().await;
        let access = RoomAccess::new(storage.clone());
        let bob = UserId::new("bob");
        assert!(!access.may_receive(&room_id, &bob).await.unwrap());
        // Stored by another node: this node's entry does not know it yet.
        storage
            .set_memberships(&[MembershipChange {
                room_id: room_id.clone(),
                user_id: bob.clone(),
                membership: Membership {
                    status: MemberStatus::Approved,
                    is_admin: false,
                },
                only_if: crate::storage::Precondition::Any,
                reason: None,
                updated_at: 1,
            }])
            .await
            .unwrap();
        assert!(access.may_receive(&room_id, &bob).await.unwrap());
        let room = access.room(&room_id).await.unwrap().unwrap();
        assert!(room.receivers().contains(&bob), "and kept for the fan-out");
    }
}
