//! Who is in which room, in memory in front of storage: every message needs to know that
//! its sender is approved and who its recipients are, and asking the database each time
//! was a third of the server's work under load (docs/benchmarks.md).
//!
//! Entries are loaded on first use and dropped whenever this node changes a membership,
//! when another node says it did (through Redis), after a Redis outage, and after
//! [`MAX_AGE`] in any case. Staleness never grants access: v1 has no way to take an
//! approval back (no kick, no leave), and admins never change; a refusal is checked
//! against storage again before it is answered, so a lagging entry does not delay an
//! approval either. A kick would have to invalidate on every node before answering.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use knock_protocol::{MemberStatus, Participant, RoomId, UserId};

use crate::storage::{Membership, Storage, StorageError};

/// An entry older than this is read again (a safety net for a missed invalidation).
const MAX_AGE: Duration = Duration::from_secs(30);

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One room's name and memberships, as of `loaded`.
#[derive(Debug)]
pub struct RoomEntry {
    pub room_id: RoomId,
    pub room_name: String,
    memberships: FastMap<UserId, Membership>,
    /// The approved members: the recipients of every message.
    pub approved: Vec<UserId>,
    pub admins: Vec<UserId>,
    loaded: Instant,
}

impl RoomEntry {
    fn new(room_id: RoomId, room_name: String, members: Vec<Participant>) -> Self {
        let approved = members
            .iter()
            .filter(|m| m.status == MemberStatus::Approved)
            .map(|m| m.user_id.clone())
            .collect();
        let admins = members
            .iter()
            .filter(|m| m.is_admin)
            .map(|m| m.user_id.clone())
            .collect();
        let memberships = members
            .into_iter()
            .map(|m| {
                let membership = Membership {
                    status: m.status,
                    is_admin: m.is_admin,
                };
                (m.user_id, membership)
            })
            .collect();
        Self {
            room_id,
            room_name,
            memberships,
            approved,
            admins,
            loaded: Instant::now(),
        }
    }

    pub fn membership(&self, user: &UserId) -> Option<Membership> {
        self.memberships.get(user).copied()
    }
}

pub struct RoomDirectory {
    storage: Arc<dyn Storage>,
    /// Bumped by every invalidation, so that a load that raced with one is not kept.
    generation: AtomicU64,
    rooms: RwLock<FastMap<RoomId, Arc<RoomEntry>>>,
}

impl RoomDirectory {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            generation: AtomicU64::new(0),
            rooms: RwLock::new(FastMap::default()),
        }
    }

    /// The room, or `None` when it does not exist.
    pub async fn get(&self, room_id: &RoomId) -> Result<Option<Arc<RoomEntry>>, StorageError> {
        if let Some(entry) = self.read().get(room_id)
            && entry.loaded.elapsed() < MAX_AGE
        {
            return Ok(Some(entry.clone()));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(room) = self.storage.room(room_id).await? else {
            return Ok(None);
        };
        let members = self.storage.members(room_id).await?;
        let entry = Arc::new(RoomEntry::new(room.room_id, room.room_name, members));
        let mut rooms = self.write();
        if self.generation.load(Ordering::SeqCst) == generation {
            rooms.insert(room_id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// Forgets the room; call after changing one of its memberships.
    pub fn invalidate(&self, room_id: &RoomId) {
        let mut rooms = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        rooms.remove(room_id);
    }

    /// Forgets every room (after this node may have missed invalidations).
    pub fn clear(&self) {
        let mut rooms = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        rooms.clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FastMap<RoomId, Arc<RoomEntry>>> {
        self.rooms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FastMap<RoomId, Arc<RoomEntry>>> {
        self.rooms
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewRoom, open};

    #[tokio::test]
    async fn entries_follow_invalidation() {
        let storage = open("sqlite::memory:").await.unwrap();
        for user in ["alice", "bob"] {
            storage
                .create_user(&UserId::new(user), "h", 0)
                .await
                .unwrap();
        }
        let room_id = RoomId::new("r");
        storage
            .create_room(&NewRoom {
                room_id: room_id.clone(),
                room_name: "Room".into(),
                admin: UserId::new("alice"),
                created_at: 0,
            })
            .await
            .unwrap();
        let directory = RoomDirectory::new(storage.clone());
        let entry = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(entry.approved, vec![UserId::new("alice")]);
        assert_eq!(entry.admins, vec![UserId::new("alice")]);
        assert_eq!(entry.membership(&UserId::new("bob")), None);

        let approved = Membership {
            status: MemberStatus::Approved,
            is_admin: false,
        };
        storage
            .set_membership(&room_id, &UserId::new("bob"), approved, 1)
            .await
            .unwrap();
        // Until invalidated, the entry is what was loaded...
        let cached = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(cached.membership(&UserId::new("bob")), None);
        // ...and after, what is stored.
        directory.invalidate(&room_id);
        let fresh = directory.get(&room_id).await.unwrap().unwrap();
        assert_eq!(fresh.membership(&UserId::new("bob")), Some(approved));
        assert_eq!(fresh.approved.len(), 2);
        assert!(directory.get(&RoomId::new("nope")).await.unwrap().is_none());
    }
}
