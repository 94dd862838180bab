//! How a batch of messages is stored, worked out in memory so that the database sees a
//! few statements per batch instead of two or three per message: which messages repeat a
//! stored or an earlier `(user, clientMsgId)`, how many new messages each room gets, and
//! then, from each room's new `last_seq`, every new message's `seq`.

use std::collections::HashMap;

use knock_protocol::{ChatMessage, RoomId, UserId};

use super::{Inserted, NewMessage, StorageError, StorageResult};

/// `(user, clientMsgId)`: unique across rooms, as the index is.
pub(super) type ClientKey = (UserId, String);

enum Slot {
    /// Repeats a message stored before this batch.
    Earlier(Box<ChatMessage>),
    /// Repeats the new message at this earlier position of the batch.
    SameAs(usize),
    /// Stored now: the `nth` (from 1) new message of `rooms[room]` in this batch.
    New { room: usize, nth: u64 },
}

pub(super) struct Plan {
    slots: Vec<Slot>,
    /// Each room with new messages, and how many it gets.
    pub(super) rooms: Vec<(RoomId, u64)>,
}

/// The distinct client keys of the batch, to look up among stored messages.
pub(super) fn client_keys(batch: &[NewMessage]) -> Vec<ClientKey> {
    let mut keys: Vec<ClientKey> = batch
        .iter()
        .filter_map(|message| {
            let id = message.client_msg_id.as_ref()?;
            Some((message.user_id.clone(), id.as_str().to_owned()))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Plans the batch given the stored messages that carry one of its client keys.
pub(super) fn plan(batch: &[NewMessage], earlier: &HashMap<ClientKey, ChatMessage>) -> Plan {
    let mut rooms: Vec<(RoomId, u64)> = Vec::new();
    let mut room_index: HashMap<&RoomId, usize> = HashMap::new();
    let mut first_new: HashMap<ClientKey, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(batch.len());
    for (position, message) in batch.iter().enumerate() {
        let key = message
            .client_msg_id
            .as_ref()
            .map(|id| (message.user_id.clone(), id.as_str().to_owned()));
        if let Some(key) = &key {
            if let Some(stored) = earlier.get(key) {
                slots.push(Slot::Earlier(Box::new(stored.clone())));
                continue;
            }
            if let Some(&first) = first_new.get(key) {
                slots.push(Slot::SameAs(first));
                continue;
            }
        }
        let room = *room_index.entry(&message.room_id).or_insert_with(|| {
            rooms.push((message.room_id.clone(), 0));
            rooms.len() - 1
        });
        rooms[room].1 += 1;
        slots.push(Slot::New {
            room,
            nth: rooms[room].1,
        });
        if let Some(key) = key {
            first_new.insert(key, position);
        }
    }
    Plan { slots, rooms }
}

/// The batch's messages that `results` says are new, each with its seq: the rows to insert.
pub(super) fn new_rows<'a>(
    batch: &'a [NewMessage],
    results: &[Inserted],
) -> Vec<(&'a NewMessage, u64)> {
    batch
        .iter()
        .zip(results)
        .filter_map(|(message, result)| match result {
            Inserted::New(stored) => Some((message, stored.seq)),
            Inserted::Duplicate(_) => None,
        })
        .collect()
}

impl Plan {
    /// Every message's outcome, given each room's `last_seq` after this batch's increment
    /// (a room missing from `last_seqs` does not exist).
    pub(super) fn resolve(
        self,
        batch: &[NewMessage],
        last_seqs: &HashMap<RoomId, u64>,
    ) -> StorageResult<Vec<Inserted>> {
        let mut first_seqs = Vec::with_capacity(self.rooms.len());
        for (room_id, count) in &self.rooms {
            let last = *last_seqs
                .get(room_id)
                .ok_or(StorageError::NotFound("room"))?;
            first_seqs.push(last + 1 - count);
        }
        let mut results: Vec<Inserted> = Vec::with_capacity(batch.len());
        for (slot, message) in self.slots.into_iter().zip(batch) {
            let result = match slot {
                Slot::Earlier(stored) => Inserted::Duplicate(*stored),
                Slot::SameAs(first) => Inserted::Duplicate(results[first].message().clone()),
                Slot::New { room, nth } => Inserted::New(ChatMessage {
                    room_id: message.room_id.clone(),
                    user_id: message.user_id.clone(),
                    message: message.message.clone(),
                    timestamp: message.timestamp,
                    seq: first_seqs[room] + nth - 1,
                    message_id: message.message_id.clone(),
                    reply_to: message.reply_to.clone(),
                    edited_at: None,
                    deleted: false,
                    mentions: message.mentions.clone(),
                }),
            };
            results.push(result);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::{ClientMsgId, MessageId};

    use super::*;

    fn message(room: &str, user: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room_id: RoomId::new(room),
            user_id: UserId::new(user),
            message: format!("{user} in {room}"),
            timestamp: 7,
            message_id: MessageId::new(format!("{room}-{user}-{client_id:?}")),
            client_msg_id: client_id.map(ClientMsgId::new),
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    fn seqs(results: &[Inserted]) -> Vec<(bool, &str, u64)> {
        results
            .iter()
            .map(|r| {
                let m = r.message();
                (matches!(r, Inserted::New(_)), m.room_id.as_str(), m.seq)
            })
            .collect()
    }

    #[test]
    fn new_messages_number_on_from_each_rooms_last_seq_in_batch_order() {
        let batch = [
            message("a", "u", None),
            message("b", "u", None),
            message("a", "v", None),
            message("a", "u", None),
        ];
        let plan = plan(&batch, &HashMap::new());
        assert_eq!(
            plan.rooms,
            vec![(RoomId::new("a"), 3), (RoomId::new("b"), 1)]
        );
        // After the increments: a went 10 -> 13, b 0 -> 1.
        let last = HashMap::from([(RoomId::new("a"), 13), (RoomId::new("b"), 1)]);
        let results = plan.resolve(&batch, &last).unwrap();
        assert_eq!(
            seqs(&results),
            vec![
                (true, "a", 11),
                (true, "b", 1),
                (true, "a", 12),
                (true, "a", 13)
            ]
        );
    }

    #[test]
    fn repeated_client_ids_take_no_seq_and_return_the_first_message() {
        let stored = ChatMessage {
            room_id: RoomId::new("a"),
            user_id: UserId::new("u"),
            message: "before".into(),
            timestamp: 1,
            seq: 4,
            message_id: MessageId::new("old"),
            reply_to: None,
            edited_at: None,
            deleted: false,
            mentions: Vec::new(),
        };
        let batch = [
            message("a", "u", Some("x")), // stored before the batch
            message("a", "u", Some("y")), // new
            message("a", "v", Some("y")), // another user's "y": new
            message("a", "u", Some("y")), // repeats the second
        ];
        assert_eq!(
            client_keys(&batch),
            vec![
                (UserId::new("u"), "x".to_owned()),
                (UserId::new("u"), "y".to_owned()),
                (UserId::new("v"), "y".to_owned()),
            ]
        );
        let earlier = HashMap::from([((UserId::new("u"), "x".to_owned()), stored.clone())]);
        let plan = plan(&batch, &earlier);
        assert_eq!(plan.rooms, vec![(RoomId::new("a"), 2)]);
        let results = plan
            .resolve(&batch, &HashMap::from([(RoomId::new("a"), 6)]))
            .unwrap();
        assert_eq!(results[0], Inserted::Duplicate(stored));
        assert_eq!(
            seqs(&results[1..]),
            vec![(true, "a", 5), (true, "a", 6), (false, "a", 5)]
        );
        assert_eq!(results[3].message(), results[1].message());
    }

    #[test]
    fn a_room_without_a_last_seq_does_not_exist() {
        let batch = [message("a", "u", None), message("ghost", "u", None)];
        let plan = plan(&batch, &HashMap::new());
        let refused = plan
            .resolve(&batch, &HashMap::from([(RoomId::new("a"), 1)]))
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::NotFound("room")),
            "{refused:?}"
        );
    }
}
