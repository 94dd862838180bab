//! Who is in which room, in memory in front of storage: every message needs to know that
//! its sender is approved and who its recipients are, and asking the database each time
//! was a third of the server's work under load (docs/benchmarks.md).
//!
//! Entries are loaded on first use, updated in place with every membership change this
//! node stores or another node announces (through Redis), dropped after a Redis outage,
//! and read again after [`MAX_AGE`] in any case. An entry keeps the users who may receive
//! the room by the rule ([`domain::may_receive`]); whether a user may receive a room now
//! is answered by [`crate::access::RoomAccess`], which owns this directory, says what
//! its staleness allows, and is the only way in.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use knock_protocol::{Participant, RoomId, UserId};

use crate::{
    domain::{self, Membership},
    storage::{Storage, StorageError},
};

/// An entry older than this is read again (a safety net for a missed invalidation).
const MAX_AGE: Duration = Duration::from_secs(30);

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One room's name and the users who may receive it ([`domain::may_receive`]), as of
/// `loaded`. Nobody else is kept (pending and rejected users): nothing on the hot path
/// asks about them.
#[derive(Clone, Debug)]
pub(crate) struct RoomEntry {
    pub(crate) room_id: RoomId,
    pub(crate) room_name: String,
    /// The users who may receive the room, with their memberships.
    members: FastMap<UserId, Membership>,
    /// The same users: the recipients of every message and member change.
    receivers: Vec<UserId>,
    loaded: Instant,
}

impl RoomEntry {
    fn new(room_id: RoomId, room_name: String, members: Vec<Participant>) -> Self {
        let members: FastMap<UserId, Membership> = members
            .into_iter()
            .map(|m| {
                let membership = Membership::from(&m);
                (m.user_id, membership)
            })
            .filter(|(_, membership)| domain::may_receive(Some(*membership)))
            .collect();
        Self {
            room_id,
            room_name,
            receivers: members.keys().cloned().collect(),
            members,
            loaded: Instant::now(),
        }
    }

    /// The user's membership if they may receive the room; `None` for everyone else.
    pub(crate) fn membership(&self, user: &UserId) -> Option<Membership> {
        self.members.get(user).copied()
    }

    /// The users who may receive the room.
    pub(crate) fn receivers(&self) -> &[UserId] {
        &self.receivers
    }

    /// The room's acting admins ([`domain::is_acting_admin`]).
    pub(crate) fn admins(&self) -> impl Iterator<Item = &UserId> {
        self.members
            .iter()
            .filter_map(|(user, &membership)| domain::is_acting_admin(membership).then_some(user))
    }

    /// This entry with one membership changed, or `None` when nothing it keeps changes
    /// (a request, a rejection).
    fn with_change(&self, user: &UserId, membership: Membership) -> Option<Self> {
        let receives = domain::may_receive(Some(membership));
        let kept = self.members.get(user);
        if (receives && kept == Some(&membership)) || (!receives && kept.is_none()) {
            return None;
        }
        let mut next = self.clone();
        if receives {
            if next.members.insert(user.clone(), membership).is_none() {
                next.receivers.push(user.clone());
            }
        } else {
            next.members.remove(user);
            next.receivers.retain(|member| member != user);
        }
        Some(next)
    }
}

#[derive(Default)]
struct Rooms {
    entries: FastMap<RoomId, Arc<RoomEntry>>,
    /// Bumped by every change to a room, so that a load that raced with one is not kept.
    generations: FastMap<RoomId, u64>,
}

impl Rooms {
    fn generation(&self, room_id: &RoomId) -> u64 {
        self.generations.get(room_id).copied().unwrap_or(0)
    }

    fn bump(&mut self, room_id: &RoomId) {
        *self.generations.entry(room_id.clone()).or_insert(0) += 1;
    }
}

pub(crate) struct RoomDirectory {
    storage: Arc<dyn Storage>,
    /// Bumped by [`RoomDirectory::clear`]: loads begun before it are not kept either.
    epoch: AtomicU64,
    rooms: RwLock<Rooms>,
}

impl RoomDirectory {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            epoch: AtomicU64::new(0),
            rooms: RwLock::new(Rooms::default()),
        }
    }

    /// The room, or `None` when it does not exist.
    pub(crate) async fn get(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<Arc<RoomEntry>>, StorageError> {
        let generation = {
            let rooms = self.read();
            if let Some(entry) = rooms.entries.get(room_id)
                && entry.loaded.elapsed() < MAX_AGE
            {
                return Ok(Some(entry.clone()));
            }
            rooms.generation(room_id)
        };
        let epoch = self.epoch.load(Ordering::SeqCst);
        let Some(room) = self.storage.room(room_id).await? else {
            return Ok(None);
        };
        let members = self.storage.members(room_id).await?;
        let entry = Arc::new(RoomEntry::new(room.room_id, room.room_name, members));
        let mut rooms = self.write();
        if rooms.generation(room_id) == generation && self.epoch.load(Ordering::SeqCst) == epoch {
            rooms.entries.insert(room_id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// The room's entry if this node has it loaded (nothing is read).
    pub(crate) fn loaded(&self, room_id: &RoomId) -> Option<Arc<RoomEntry>> {
        self.read().entries.get(room_id).cloned()
    }

    /// A mark that changes with every change applied to the room (or a clear): what was
    /// read from storage before it changed may be older than the change.
    pub(crate) fn version(&self, room_id: &RoomId) -> (u64, u64) {
        let rooms = self.read();
        (self.epoch.load(Ordering::SeqCst), rooms.generation(room_id))
    }

    /// Records a membership read from storage, unless the room changed since `version`
    /// (the read may then predate the change); whether it was recorded.
    pub(crate) fn apply_read(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: Membership,
        version: (u64, u64),
    ) -> bool {
        let mut rooms = self.write();
        if (self.epoch.load(Ordering::SeqCst), rooms.generation(room_id)) != version {
            return false;
        }
        Self::apply_locked(&mut rooms, room_id, user, membership);
        true
    }

    /// Records a membership change that is already stored (here or on another node).
    pub(crate) fn apply(&self, room_id: &RoomId, user: &UserId, membership: Membership) {
        Self::apply_locked(&mut self.write(), room_id, user, membership);
    }

    fn apply_locked(rooms: &mut Rooms, room_id: &RoomId, user: &UserId, membership: Membership) {
        rooms.bump(room_id);
        let next = rooms
            .entries
            .get(room_id)
            .and_then(|entry| entry.with_change(user, membership));
        if let Some(next) = next {
            rooms.entries.insert(room_id.clone(), Arc::new(next));
        }
    }

    /// Forgets one room (it was deleted): the next question about it reads storage.
    pub(crate) fn forget(&self, room_id: &RoomId) {
        let mut rooms = self.write();
        rooms.bump(room_id);
        rooms.entries.remove(room_id);
    }

    /// Forgets every room (after this node may have missed changes).
    pub(crate) fn clear(&self) {
        let mut rooms = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        rooms.entries.clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.rooms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.rooms
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::MemberStatus;

    use super::*;
    use crate::testing::alices_room;

    #[tokio::test]
    async fn rooms_load_on_first_use() {
        let (storage, room_id) = alices_room().await;
        let directory = RoomDirectory::new(storage);
        let entry = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(entry.room_name, "Room");
        assert_eq!(entry.receivers(), [UserId::new("alice")]);
        assert!(entry.membership(&UserId::new("alice")).unwrap().is_admin);
        assert_eq!(entry.membership(&UserId::new("bob")), None);
        assert!(directory.get(&RoomId::new("nope")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn changes_apply_in_place_until_cleared() {
        let (storage, room_id) = alices_room().await;
        let directory = RoomDirectory::new(storage);
        directory.get(&room_id).await.unwrap();
        let bob = UserId::new("bob");
        let pending = Membership {
            status: MemberStatus::Pending,
            is_admin: false,
        };
        directory.apply(&room_id, &bob, pending);
        assert_eq!(
            directory
                .get(&room_id)
                .await
                .unwrap()
                .unwrap()
                .membership(&bob),
            None,
            "pending users are not kept"
        );
        let approved = Membership {
            status: MemberStatus::Approved,
            is_admin: false,
        };
        // Applied without reading storage (which never heard of this approval)...
        directory.apply(&room_id, &bob, approved);
        let entry = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(entry.membership(&bob), Some(approved));
        assert_eq!(entry.receivers().len(), 2);
        // ...until the directory is cleared and reads storage again.
        directory.clear();
        let reloaded = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(reloaded.membership(&bob), None);
    }
}
