//! The batchers of the hot paths: one task per kind of write stores, in one transaction,
//! everything that queued up while its previous batch was being written. Under load that
//! turns a commit (an fsync) per action into one per batch, and with SQLite it also keeps
//! writers from queueing on the database's write lock (where they sleep and retry).
//!
//! The message batcher also fans each stored message out in `seq` order: being the only
//! writer of messages keeps every room's delivery order equal to its storage order.

use std::{collections::HashMap, sync::Arc, time::Instant};

use knock_protocol::{RoomId, ServerMessage};
use tokio::sync::{mpsc, oneshot};

use crate::{
    access::RoomAccess,
    directory::RoomEntry,
    error::ServiceError,
    fanout::Fanout,
    gateway::ChatFrame,
    metrics::{self, Batch},
    storage::{Inserted, MembershipChange, NewMessage, Storage, StorageError},
};

/// Most messages stored in one transaction.
const MAX_BATCH: usize = 512;
/// Messages waiting for the batcher before senders wait too.
const QUEUE: usize = 4_096;

struct Job {
    message: NewMessage,
    done: oneshot::Sender<Result<Inserted, ServiceError>>,
}

#[derive(Clone)]
pub struct MessageBatcher {
    jobs: mpsc::Sender<Job>,
}

impl MessageBatcher {
    /// Starts the batcher's task. It ends once every `MessageBatcher` clone is dropped and
    /// the queued messages are stored.
    pub fn spawn(
        storage: Arc<dyn Storage>,
        access: RoomAccess,
        fanout: Fanout,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(queue, storage, access, fanout));
        (Self { jobs }, task)
    }

    /// Stores the message and delivers it to those who may receive the room; returns once
    /// it is durably stored (and already queued for every recipient).
    pub(crate) async fn store(&self, message: NewMessage) -> Result<Inserted, ServiceError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job { message, done })
            .await
            .map_err(|_| ServiceError::Internal("message batcher stopped".into()))?;
        result
            .await
            .map_err(|_| ServiceError::Internal("message batcher dropped a message".into()))?
    }
}

async fn run(
    mut queue: mpsc::Receiver<Job>,
    storage: Arc<dyn Storage>,
    access: RoomAccess,
    fanout: Fanout,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (messages, dones): (Vec<NewMessage>, Vec<_>) =
            batch.drain(..).map(|job| (job.message, job.done)).unzip();
        let started = Instant::now();
        let stored = storage.insert_messages(&messages).await;
        metrics::storage_batch(Batch::Messages, messages.len(), started.elapsed());
        match stored {
            Ok(results) => {
                count_new(&results);
                fan_out(&results, &access, &fanout).await;
                for (done, result) in dones.into_iter().zip(results) {
                    let _ = done.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::debug!(%error, count = messages.len(), "message batch failed, storing room by room");
                store_room_by_room(messages, dones, storage.as_ref(), &access, &fanout).await;
            }
        }
    }
    tracing::debug!("message batcher finished");
}

/// After a failed batch: one room's messages at a time, so that a room deleted while its
/// messages waited fails only those (with `room_not_found`).
async fn store_room_by_room(
    messages: Vec<NewMessage>,
    dones: Vec<oneshot::Sender<Result<Inserted, ServiceError>>>,
    storage: &dyn Storage,
    access: &RoomAccess,
    fanout: &Fanout,
) {
    let mut rooms: Vec<(RoomId, Vec<(NewMessage, oneshot::Sender<_>)>)> = Vec::new();
    for (message, done) in messages.into_iter().zip(dones) {
        match rooms.iter_mut().find(|(room, _)| *room == message.room_id) {
            Some((_, jobs)) => jobs.push((message, done)),
            None => rooms.push((message.room_id.clone(), vec![(message, done)])),
        }
    }
    for (room_id, jobs) in rooms {
        let (messages, dones): (Vec<NewMessage>, Vec<_>) = jobs.into_iter().unzip();
        match storage.insert_messages(&messages).await {
            Ok(results) => {
                count_new(&results);
                fan_out(&results, access, fanout).await;
                for (done, result) in dones.into_iter().zip(results) {
                    let _ = done.send(Ok(result));
                }
            }
            Err(error) => {
                // A room deleted while its messages waited is the senders' refusal
                // (`room_not_found`); anything else is a failure, logged once here.
                let room_gone = matches!(error, StorageError::NotFound("room"));
                if !room_gone {
                    tracing::error!(%error, room = %room_id, count = messages.len(), "storing messages failed");
                }
                for done in dones {
                    let _ = done.send(Err(if room_gone {
                        StorageError::NotFound("room").into()
                    } else {
                        ServiceError::Internal("storing failed".into())
                    }));
                }
            }
        }
    }
}

fn count_new(results: &[Inserted]) {
    let new = results
        .iter()
        .filter(|result| matches!(result, Inserted::New(_)))
        .count();
    metrics::messages_stored(new as u64);
}

/// Delivers the batch's new messages, in order, to those who may receive their rooms.
async fn fan_out(results: &[Inserted], access: &RoomAccess, fanout: &Fanout) {
    let mut rooms: HashMap<&RoomId, Option<Arc<RoomEntry>>> = HashMap::new();
    for result in results {
        let Inserted::New(message) = result else {
            continue;
        };
        if !rooms.contains_key(&message.room_id) {
            let room = access.room(&message.room_id).await.unwrap_or_else(|error| {
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
        fanout.chat(room.receivers(), frame);
    }
}

/// Most membership changes stored in one transaction.
const MAX_MEMBERSHIP_BATCH: usize = 256;

struct MembershipJob {
    change: MembershipChange,
    done: oneshot::Sender<Result<bool, StorageError>>,
}

/// Stores join requests and decisions in batches.
#[derive(Clone)]
pub struct MembershipBatcher {
    jobs: mpsc::Sender<MembershipJob>,
}

impl MembershipBatcher {
    /// Starts the batcher's task. It ends once every clone is dropped and the queued
    /// changes are stored.
    pub fn spawn(storage: Arc<dyn Storage>) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run_memberships(queue, storage));
        (Self { jobs }, task)
    }

    /// Returns once the change is durably stored; [`ServiceError::Conflict`] when its
    /// precondition no longer held (another action changed the membership first).
    pub(crate) async fn store(&self, change: MembershipChange) -> Result<(), ServiceError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(MembershipJob { change, done })
            .await
            .map_err(|_| ServiceError::Internal("membership batcher stopped".into()))?;
        result
            .await
            .map_err(|_| ServiceError::Internal("membership batcher dropped a change".into()))?
            .map_err(ServiceError::from)
            .and_then(|stored| {
                if stored {
                    Ok(())
                } else {
                    Err(ServiceError::Conflict)
                }
            })
    }
}

async fn run_memberships(mut queue: mpsc::Receiver<MembershipJob>, storage: Arc<dyn Storage>) {
    let mut batch = Vec::with_capacity(MAX_MEMBERSHIP_BATCH);
    while queue.recv_many(&mut batch, MAX_MEMBERSHIP_BATCH).await > 0 {
        let (changes, dones): (Vec<MembershipChange>, Vec<_>) =
            batch.drain(..).map(|job| (job.change, job.done)).unzip();
        let started = Instant::now();
        let result = storage.set_memberships(&changes).await;
        metrics::storage_batch(Batch::Memberships, changes.len(), started.elapsed());
        match result {
            Ok(stored) => {
                for (done, stored) in dones.into_iter().zip(stored) {
                    let _ = done.send(Ok(stored));
                }
            }
            Err(error) if changes.len() == 1 => {
                if let Some(done) = dones.into_iter().next() {
                    let _ = done.send(Err(error));
                }
            }
            Err(error) => {
                // One bad change (a room or user that does not exist) must not fail the
                // others: store them one by one, each with its own answer.
                tracing::debug!(%error, count = changes.len(), "membership batch failed, storing one by one");
                for (change, done) in changes.iter().zip(dones) {
                    let result = storage.set_memberships(std::slice::from_ref(change)).await;
                    let _ = done.send(result.map(|stored| stored.first() == Some(&true)));
                }
            }
        }
    }
    tracing::debug!("membership batcher finished");
}

#[cfg(test)]
mod tests {
    use knock_protocol::{MemberStatus, UserId};

    use super::*;
    use crate::{storage::Membership, testing::alices_room};

    fn pending(room: &str, user: &str) -> MembershipChange {
        MembershipChange {
            room_id: RoomId::new(room),
            user_id: UserId::new(user),
            membership: Membership {
                status: MemberStatus::Pending,
                is_admin: false,
            },
            only_if: crate::storage::Precondition::Any,
            reason: None,
            updated_at: 1,
        }
    }

    // One thread: both changes are queued before the batcher runs, so they share a batch.
    #[tokio::test(flavor = "current_thread")]
    async fn a_bad_change_does_not_fail_the_rest_of_its_batch() {
        let (storage, _room) = alices_room().await;
        let (batcher, _task) = MembershipBatcher::spawn(storage.clone());

        let both = async {
            tokio::join!(
                batcher.store(pending("r", "bob")),
                batcher.store(pending("ghost", "bob")),
            )
        };
        let (good, bad) = tokio::time::timeout(std::time::Duration::from_secs(10), both)
            .await
            .expect("both changes are answered");

        good.expect("bob's request is stored");
        assert!(matches!(bad, Err(ServiceError::RoomNotFound)), "{bad:?}");
        let stored = storage
            .membership(&RoomId::new("r"), &UserId::new("bob"))
            .await
            .unwrap();
        assert_eq!(stored.map(|m| m.status), Some(MemberStatus::Pending));
    }
}
