//! The message writer: one task stores chat messages in batches (one transaction for
//! everything that queued up while the previous batch was written) and fans each stored
//! message out in `seq` order. Being the only writer of messages keeps every room's
//! delivery order equal to its storage order.

use std::{collections::HashMap, sync::Arc};

use knock_protocol::{RoomId, ServerMessage};
use tokio::sync::{mpsc, oneshot};

use crate::{
    directory::{RoomDirectory, RoomEntry},
    error::ServiceError,
    fanout::Fanout,
    hub::ChatFrame,
    storage::{Inserted, NewMessage, Storage},
};

/// Most messages stored in one transaction.
const MAX_BATCH: usize = 512;
/// Messages waiting for the writer before senders wait too.
const QUEUE: usize = 4_096;

struct Job {
    message: NewMessage,
    done: oneshot::Sender<Result<Inserted, ServiceError>>,
}

#[derive(Clone)]
pub struct MessageWriter {
    jobs: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts the writer task. It ends once every `MessageWriter` clone is dropped and the
    /// queued messages are stored.
    pub fn spawn(
        storage: Arc<dyn Storage>,
        directory: Arc<RoomDirectory>,
        fanout: Fanout,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(queue, storage, directory, fanout));
        (Self { jobs }, task)
    }

    /// Stores the message and delivers it to the room's approved members; returns once it
    /// is durably stored (and already queued for every recipient).
    pub async fn store(&self, message: NewMessage) -> Result<Inserted, ServiceError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job { message, done })
            .await
            .map_err(|_| ServiceError::Internal("message writer stopped".into()))?;
        result
            .await
            .map_err(|_| ServiceError::Internal("message writer dropped a message".into()))?
    }
}

async fn run(
    mut queue: mpsc::Receiver<Job>,
    storage: Arc<dyn Storage>,
    directory: Arc<RoomDirectory>,
    fanout: Fanout,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let messages: Vec<NewMessage> = batch.iter().map(|job| job.message.clone()).collect();
        match storage.insert_messages(&messages).await {
            Ok(results) => {
                fan_out(&results, &directory, &fanout).await;
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.done.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::error!(%error, count = batch.len(), "storing messages failed");
                for job in batch.drain(..) {
                    let _ = job
                        .done
                        .send(Err(ServiceError::Internal("storing failed".into())));
                }
            }
        }
    }
    tracing::debug!("message writer finished");
}

/// Delivers the batch's new messages, in order, to the approved members of their rooms.
async fn fan_out(results: &[Inserted], directory: &RoomDirectory, fanout: &Fanout) {
    let mut rooms: HashMap<&RoomId, Option<Arc<RoomEntry>>> = HashMap::new();
    for result in results {
        let Inserted::New(message) = result else {
            continue;
        };
        if !rooms.contains_key(&message.room_id) {
            let room = directory
                .get(&message.room_id)
                .await
                .unwrap_or_else(|error| {
                    // Stored but not delivered live: clients find it by `seq` on resume.
                    tracing::error!(%error, room = %message.room_id, "loading recipients failed");
                    None
                });
            rooms.insert(&message.room_id, room);
        }
        let Some(room) = &rooms[&message.room_id] else {
            continue;
        };
        let frame = ChatFrame {
            room_id: message.room_id.clone(),
            seq: message.seq,
            frame: ServerMessage::Message(message.clone()).to_json().into(),
        };
        fanout.chat(&room.approved, frame);
    }
}
