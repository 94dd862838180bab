//! Search: the messages of the user's rooms that hold every word of a query.

use std::collections::HashMap;

use knock_protocol::{RoomId, SearchResult, ServerMessage};

use super::{Service, SocketSession};
use crate::{
    domain::{
        self, Membership,
        search::{SearchFrom, next_cursor, search_from, search_page, search_query, snippet},
    },
    error::ServiceError,
    gateway::Outbound,
    storage::SearchIn,
};

impl Service {
    pub(super) async fn search(
        &self,
        session: &mut SocketSession,
        raw_query: String,
        room_id: Option<RoomId>,
        before_seq: Option<u64>,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let query = search_query(&raw_query)?;
        let from = search_from(room_id.is_some(), before_seq, cursor.as_deref())?;
        let limit = search_page(limit);
        let rooms = match &room_id {
            Some(room_id) => {
                session.current_room = Some(room_id.clone());
                self.access.require(room_id, &session.user_id).await?;
                vec![room_id.clone()]
            }
            // Read from storage, where every membership change is written before it is
            // answered: a room the user was just removed from is not searched.
            None => self
                .storage
                .memberships_of_user(&session.user_id)
                .await?
                .into_iter()
                .filter(|room| {
                    domain::may_receive(Some(Membership {
                        status: room.status,
                        is_admin: room.is_admin,
                    }))
                })
                .map(|room| room.room_id)
                .collect(),
        };
        let within = match (&room_id, from) {
            (Some(room_id), SearchFrom::BeforeSeq(seq)) => SearchIn::Room {
                room_id,
                before_seq: Some(seq),
            },
            (Some(room_id), _) => SearchIn::Room {
                room_id,
                before_seq: None,
            },
            (None, from) => SearchIn::Rooms {
                room_ids: &rooms,
                before_position: match from {
                    SearchFrom::BeforePosition(position) => Some(position),
                    _ => None,
                },
            },
        };
        // One more than asked tells whether another page exists.
        let mut found = self
            .storage
            .search_messages(&query, within, limit + 1)
            .await?;
        let has_more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next_cursor = found
            .last()
            .filter(|_| has_more)
            .map(|last| next_cursor(room_id.is_some(), last.message.seq, last.position));
        // Access taken back while the index was read: nothing of that room goes out.
        let mut receives: HashMap<RoomId, bool> = HashMap::new();
        for hit in &found {
            if !receives.contains_key(&hit.message.room_id) {
                let may = self
                    .access
                    .may_receive(&hit.message.room_id, &session.user_id)
                    .await?;
                receives.insert(hit.message.room_id.clone(), may);
            }
        }
        if let Some(room_id) = &room_id {
            self.access.require(room_id, &session.user_id).await?;
        }
        let results = found
            .into_iter()
            .filter(|hit| receives.get(&hit.message.room_id) == Some(&true))
            .map(|hit| {
                let message = hit.message;
                SearchResult {
                    snippet: snippet(&message.message, &query),
                    room_id: message.room_id,
                    seq: message.seq,
                    message_id: message.message_id,
                    user_id: message.user_id,
                    message: message.message,
                    timestamp: message.timestamp,
                }
            })
            .collect();
        Ok(vec![Outbound::message(&ServerMessage::SearchResults {
            query: raw_query,
            room_id,
            results,
            has_more,
            next_cursor,
        })])
    }
}
