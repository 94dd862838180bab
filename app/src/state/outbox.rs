//! Messages the user sent that the server has not yet confirmed.
//!
//! Each gets a `clientMsgId` when the user presses Send. It is sent at once when the
//! socket is up, kept while it is down, and sent again (with the same id, so the server
//! stores it once) after every reconnect until a `messageAck` removes it. The server
//! answers a socket's `sendMessage` frames in order, each with an ack or an error, so an
//! error belongs to the oldest message in flight.

use knock_protocol::{ClientMessage, ClientMsgId, RoomId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OutgoingState {
    /// Waiting for a connection.
    Queued,
    /// Written to the current socket, no answer yet.
    InFlight,
    /// The server refused it; the user may retry or discard it.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub client_msg_id: ClientMsgId,
    pub room_id: RoomId,
    pub text: String,
    pub state: OutgoingState,
}

impl Outgoing {
    pub fn frame(&self) -> ClientMessage {
        ClientMessage::SendMessage {
            message: self.text.clone(),
            room_id: Some(self.room_id.clone()),
            client_msg_id: Some(self.client_msg_id.clone()),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    items: Vec<Outgoing>,
}

impl Outbox {
    /// Adds a message; returns the frame to write now when `online`.
    pub fn push(
        &mut self,
        client_msg_id: ClientMsgId,
        room_id: RoomId,
        text: String,
        online: bool,
    ) -> Option<ClientMessage> {
        let item = Outgoing {
            client_msg_id,
            room_id,
            text,
            state: if online {
                OutgoingState::InFlight
            } else {
                OutgoingState::Queued
            },
        };
        let frame = online.then(|| item.frame());
        self.items.push(item);
        frame
    }

    /// The server stored it: forget it, returning it.
    pub fn ack(&mut self, client_msg_id: &ClientMsgId) -> Option<Outgoing> {
        let index = self
            .items
            .iter()
            .position(|m| &m.client_msg_id == client_msg_id)?;
        Some(self.items.remove(index))
    }

    /// The server's broadcast of one of our messages can arrive before its ack (it
    /// carries no `clientMsgId`): the oldest message in flight in that room with that
    /// text is the one, so it is shown once, as stored.
    pub fn settle_echo(&mut self, room_id: &RoomId, text: &str) -> Option<Outgoing> {
        let index = self.items.iter().position(|m| {
            m.state == OutgoingState::InFlight && &m.room_id == room_id && m.text == text
        })?;
        Some(self.items.remove(index))
    }

    /// The server refused the oldest message in flight.
    pub fn fail_oldest_in_flight(&mut self, reason: &str) -> Option<&Outgoing> {
        let item = self
            .items
            .iter_mut()
            .find(|m| m.state == OutgoingState::InFlight)?;
        item.state = OutgoingState::Failed(reason.to_owned());
        Some(item)
    }

    /// The socket closed: whatever was in flight must be sent again.
    pub fn disconnected(&mut self) {
        for item in &mut self.items {
            if item.state == OutgoingState::InFlight {
                item.state = OutgoingState::Queued;
            }
        }
    }

    /// A new socket is authenticated: the frames to write, in the order typed.
    pub fn flush(&mut self) -> Vec<ClientMessage> {
        self.items
            .iter_mut()
            .filter(|m| m.state == OutgoingState::Queued)
            .map(|m| {
                m.state = OutgoingState::InFlight;
                m.frame()
            })
            .collect()
    }

    /// The user asked to try a failed message again.
    pub fn retry(&mut self, client_msg_id: &ClientMsgId, online: bool) -> Option<ClientMessage> {
        let item = self
            .items
            .iter_mut()
            .find(|m| &m.client_msg_id == client_msg_id)?;
        if online {
            item.state = OutgoingState::InFlight;
            Some(item.frame())
        } else {
            item.state = OutgoingState::Queued;
            None
        }
    }

    pub fn discard(&mut self, client_msg_id: &ClientMsgId) {
        self.items.retain(|m| &m.client_msg_id != client_msg_id);
    }

    /// Unconfirmed messages of one room, in the order typed.
    pub fn for_room<'a>(&'a self, room_id: &'a RoomId) -> impl Iterator<Item = &'a Outgoing> {
        self.items.iter().filter(move |m| &m.room_id == room_id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> ClientMsgId {
        ClientMsgId::new(format!("c{n}"))
    }

    fn texts(frames: &[ClientMessage]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                ClientMessage::SendMessage { message, .. } => message.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn online_send_then_ack() {
        let mut o = Outbox::default();
        let frame = o.push(id(1), RoomId::from("r"), "hi".into(), true).unwrap();
        assert_eq!(
            frame,
            ClientMessage::SendMessage {
                message: "hi".into(),
                room_id: Some(RoomId::from("r")),
                client_msg_id: Some(id(1)),
            }
        );
        assert_eq!(o.ack(&id(1)).unwrap().text, "hi");
        assert!(o.is_empty());
        assert!(o.ack(&id(1)).is_none(), "a second ack is harmless");
    }

    #[test]
    fn offline_messages_wait_and_go_out_in_order_with_the_same_ids() {
        let mut o = Outbox::default();
        assert!(o.push(id(1), RoomId::from("r"), "a".into(), true).is_some());
        o.disconnected();
        assert!(
            o.push(id(2), RoomId::from("r"), "b".into(), false)
                .is_none()
        );
        assert!(
            o.push(id(3), RoomId::from("s"), "c".into(), false)
                .is_none()
        );
        let frames = o.flush();
        assert_eq!(texts(&frames), ["a", "b", "c"]);
        assert!(o.flush().is_empty(), "in flight now, not sent twice");
        o.ack(&id(2));
        o.disconnected();
        let again = o.flush();
        assert_eq!(texts(&again), ["a", "c"]);
        assert!(matches!(
            &again[0],
            ClientMessage::SendMessage { client_msg_id: Some(c), .. } if *c == id(1)
        ));
    }

    #[test]
    fn an_error_fails_the_oldest_in_flight_and_retry_resends() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into(), true);
        o.push(id(2), RoomId::from("r"), "b".into(), true);
        let failed = o.fail_oldest_in_flight("rate limited").unwrap();
        assert_eq!(failed.client_msg_id, id(1));
        o.ack(&id(2));
        assert_eq!(o.len(), 1);
        assert!(o.flush().is_empty(), "failed ones wait for the user");
        assert!(o.retry(&id(1), true).is_some());
        assert_eq!(
            o.for_room(&RoomId::from("r")).next().unwrap().state,
            OutgoingState::InFlight
        );
        o.fail_oldest_in_flight("again");
        o.discard(&id(1));
        assert!(o.is_empty());
        assert!(o.fail_oldest_in_flight("nothing").is_none());
    }

    #[test]
    fn an_echo_before_the_ack_settles_the_oldest_matching_message() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "same".into(), true);
        o.push(id(2), RoomId::from("r"), "same".into(), true);
        o.push(id(3), RoomId::from("r"), "other".into(), false);
        assert!(o.settle_echo(&RoomId::from("s"), "same").is_none());
        assert!(
            o.settle_echo(&RoomId::from("r"), "other").is_none(),
            "not sent yet"
        );
        assert_eq!(
            o.settle_echo(&RoomId::from("r"), "same")
                .unwrap()
                .client_msg_id,
            id(1)
        );
        assert!(o.ack(&id(1)).is_none(), "the late ack finds nothing");
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn per_room_view() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into(), false);
        o.push(id(2), RoomId::from("s"), "b".into(), false);
        o.push(id(3), RoomId::from("r"), "c".into(), false);
        let r = RoomId::from("r");
        let in_r: Vec<_> = o.for_room(&r).map(|m| m.text.as_str()).collect();
        assert_eq!(in_r, ["a", "c"]);
        assert!(o.retry(&id(2), false).is_none());
    }
}
