//! Fixtures shared by the unit tests of several modules.

use std::sync::Arc;

use knock_protocol::{RoomId, UserId};

use crate::storage::{NewRoom, Storage, open};

/// In-memory storage with alice (admin) in room "r", and bob, who is not in it.
pub async fn alices_room() -> (Arc<dyn Storage>, RoomId) {
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

/// A write half for mailbox and write-thread tests: records the frames it takes.
pub struct FakeWriter {
    pub written: Vec<String>,
    /// Frames containing this are left to the socket's task.
    pub refuse: Option<&'static str>,
    /// Whether flushing completes without waiting.
    pub flushes: bool,
    /// Told this writer's `id` after each flush.
    pub on_flush: Option<(usize, std::sync::mpsc::Sender<usize>)>,
    /// Flushing says so on the first channel, then waits for the second.
    pub flush_gate: Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>,
}

impl FakeWriter {
    pub fn new() -> Self {
        Self {
            written: Vec::new(),
            refuse: None,
            flushes: true,
            on_flush: None,
            flush_gate: None,
        }
    }
}

impl crate::mailbox::DirectWrite for FakeWriter {
    fn try_feed(&mut self, item: &crate::hub::Outbound) -> bool {
        let crate::hub::Outbound::Frame(frame) = item else {
            return false;
        };
        if self.refuse.is_some_and(|refused| frame.contains(refused)) {
            return false;
        }
        self.written.push(frame.to_string());
        true
    }

    fn try_flush(&mut self) -> bool {
        if let Some((id, flushed)) = &self.on_flush {
            let _ = flushed.send(*id);
        }
        if let Some((entered, release)) = &self.flush_gate {
            let _ = entered.send(());
            let _ = release.recv();
        }
        self.flushes
    }
}
