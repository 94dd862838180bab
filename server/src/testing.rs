//! Fixtures shared by the unit tests of several modules.

use std::sync::Arc;

use knock_protocol::{RoomId, UserId};

use crate::storage::{NewRoom, Storage, open};

/// In-memory storage with alice (admin) in room "r", and bob, who is not in it.
pub(crate) async fn alices_room() -> (Arc<dyn Storage>, RoomId) {
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
    (storage, room_id)
}
