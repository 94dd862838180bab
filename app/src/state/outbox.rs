//! Messages the user sent that the server has not yet confirmed.
//!
//! Each gets a `clientMsgId` when the user presses Send and waits here, in the order
//! typed. [`Outbox::pump`] writes them one at a time: the next goes out when the one
//! before is answered, so that a refusal (the rate limit) can never let a later message
//! be stored before an earlier one. It also paces itself to the server's documented
//! message rate, so a burst of sends is spread out instead of refused; a rate refusal
//! that happens anyway (another tab of the same user, a server set stricter) puts the
//! message back at the head of the queue and tries again shortly, with no action from
//! the user. After a reconnect the same ids are sent again, so the server stores each
//! message once.

use knock_protocol::{ClientMessage, ClientMsgId, ReplyTo, RoomId, limits};

/// After a rate refusal, wait this long before the next try (the server's allowance
/// refills one message per 200 ms at its default rate).
pub const REFUSAL_PAUSE_MS: f64 = 500.0;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OutgoingState {
    /// Waiting its turn (or for a connection).
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
    /// The message it answers, quoted while it waits.
    pub reply_to: Option<ReplyTo>,
    pub state: OutgoingState,
}

impl Outgoing {
    pub fn frame(&self) -> ClientMessage {
        ClientMessage::SendMessage {
            message: self.text.clone(),
            room_id: Some(self.room_id.clone()),
            client_msg_id: Some(self.client_msg_id.clone()),
            reply_to: self.reply_to.as_ref().map(|r| r.message_id.clone()),
        }
    }
}

/// What the outbox wants done now.
#[derive(Clone, Debug, PartialEq)]
pub enum Pump {
    /// Nothing to send, or waiting for an answer or a connection.
    Idle,
    /// Write this frame.
    Send(ClientMessage),
    /// A message waits for the rate: pump again at this time (ms).
    WakeAt(f64),
}

/// The client's copy of the server's per-user token bucket (`limits::MESSAGE_*`).
#[derive(Clone, Debug, PartialEq)]
struct Pacer {
    tokens: f64,
    updated_ms: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        Self {
            tokens: limits::MESSAGE_BURST,
            updated_ms: f64::NEG_INFINITY,
        }
    }
}

impl Pacer {
    fn refill(&mut self, now: f64) {
        let elapsed_s = ((now - self.updated_ms) / 1_000.0).max(0.0);
        self.tokens =
            (self.tokens + elapsed_s * limits::MESSAGE_RATE_PER_SEC).min(limits::MESSAGE_BURST);
        self.updated_ms = now;
    }

    /// Takes one message's allowance, or says when there will be one.
    fn take(&mut self, now: f64) -> Result<(), f64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + (1.0 - self.tokens) / limits::MESSAGE_RATE_PER_SEC * 1_000.0)
        }
    }

    fn empty(&mut self, now: f64) {
        self.tokens = 0.0;
        self.updated_ms = now;
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outbox {
    items: Vec<Outgoing>,
    pacer: Pacer,
    /// A rate refusal came back since the last pump.
    refused: bool,
    /// Nothing is sent before this time (ms).
    hold_until: f64,
}

impl Outbox {
    /// Adds a message at the end of the queue; [`Self::pump`] sends it in its turn.
    pub fn push(&mut self, client_msg_id: ClientMsgId, room_id: RoomId, text: String) {
        self.push_reply(client_msg_id, room_id, text, None);
    }

    /// [`Self::push`] for a message that answers another.
    pub fn push_reply(
        &mut self,
        client_msg_id: ClientMsgId,
        room_id: RoomId,
        text: String,
        reply_to: Option<ReplyTo>,
    ) {
        self.items.push(Outgoing {
            client_msg_id,
            room_id,
            text,
            reply_to,
            state: OutgoingState::Queued,
        });
    }

    /// What to do now: at most one message is in flight at a time, and sends keep to
    /// the rate.
    pub fn pump(&mut self, now: f64, online: bool) -> Pump {
        if !online
            || self
                .items
                .iter()
                .any(|m| m.state == OutgoingState::InFlight)
        {
            return Pump::Idle;
        }
        if std::mem::take(&mut self.refused) {
            self.hold_until = now + REFUSAL_PAUSE_MS;
            self.pacer.empty(now);
        }
        let Some(next) = self
            .items
            .iter_mut()
            .find(|m| m.state == OutgoingState::Queued)
        else {
            return Pump::Idle;
        };
        if now < self.hold_until {
            return Pump::WakeAt(self.hold_until);
        }
        match self.pacer.take(now) {
            Ok(()) => {
                next.state = OutgoingState::InFlight;
                Pump::Send(next.frame())
            }
            Err(at) => Pump::WakeAt(at),
        }
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
    /// carries no `clientMsgId`): the message in flight in that room with that text is
    /// the one, so it is shown once, as stored.
    pub fn settle_echo(&mut self, room_id: &RoomId, text: &str) -> Option<Outgoing> {
        let index = self.items.iter().position(|m| {
            m.state == OutgoingState::InFlight && &m.room_id == room_id && m.text == text
        })?;
        Some(self.items.remove(index))
    }

    /// The server refused the message in flight. Too fast: it goes back to the head of
    /// the queue and is sent again after a pause. Anything else: it fails, for the user
    /// to retry or discard, and the queue goes on.
    pub fn refused(&mut self, reason: &str, rate_limited: bool) -> Option<&Outgoing> {
        let item = self
            .items
            .iter_mut()
            .find(|m| m.state == OutgoingState::InFlight)?;
        if rate_limited {
            item.state = OutgoingState::Queued;
            self.refused = true;
        } else {
            item.state = OutgoingState::Failed(reason.to_owned());
        }
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

    /// The user asked to try a failed message again: it takes its place in the queue.
    pub fn retry(&mut self, client_msg_id: &ClientMsgId) {
        if let Some(item) = self.items.iter_mut().find(|m| {
            &m.client_msg_id == client_msg_id && matches!(m.state, OutgoingState::Failed(_))
        }) {
            item.state = OutgoingState::Queued;
        }
    }

    pub fn discard(&mut self, client_msg_id: &ClientMsgId) {
        self.items.retain(|m| &m.client_msg_id != client_msg_id);
    }

    /// The user is no longer in the room: what waits for it will not be sent (a message
    /// already on its way gets its answer as usual).
    pub fn forget_room(&mut self, room_id: &RoomId) {
        self.items
            .retain(|m| &m.room_id != room_id || m.state == OutgoingState::InFlight);
    }

    /// Why the oldest failed message of this room was refused, while one waits for the
    /// user (retry or discard).
    pub fn failure(&self, room_id: &RoomId) -> Option<&str> {
        self.items.iter().find_map(|m| match &m.state {
            _ if &m.room_id != room_id => None,
            OutgoingState::Failed(reason) => Some(reason.as_str()),
            _ => None,
        })
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

    fn text(pump: &Pump) -> &str {
        match pump {
            Pump::Send(ClientMessage::SendMessage { message, .. }) => message,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    /// Sends, acking each at once, until the outbox waits; returns the texts sent.
    fn drain(o: &mut Outbox, now: f64) -> (Vec<String>, Pump) {
        let mut out = Vec::new();
        loop {
            match o.pump(now, true) {
                Pump::Send(ClientMessage::SendMessage {
                    message,
                    client_msg_id,
                    ..
                }) => {
                    out.push(message);
                    o.ack(&client_msg_id.unwrap());
                }
                other => return (out, other),
            }
        }
    }

    #[test]
    fn one_message_in_flight_at_a_time_in_the_order_typed() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        o.push(id(2), RoomId::from("s"), "b".into());
        let first = o.pump(0.0, true);
        assert_eq!(
            first,
            Pump::Send(ClientMessage::SendMessage {
                message: "a".into(),
                room_id: Some(RoomId::from("r")),
                client_msg_id: Some(id(1)),
                reply_to: None,
            })
        );
        assert_eq!(o.pump(0.0, true), Pump::Idle, "b waits for a's answer");
        assert_eq!(o.ack(&id(1)).unwrap().text, "a");
        assert_eq!(text(&o.pump(1.0, true)), "b");
        o.ack(&id(2));
        assert!(o.is_empty());
        assert!(o.ack(&id(1)).is_none(), "a second ack is harmless");
        assert_eq!(o.pump(2.0, true), Pump::Idle);
    }

    #[test]
    fn offline_messages_wait_and_go_out_in_order_with_the_same_ids() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        assert_eq!(text(&o.pump(0.0, true)), "a");
        o.disconnected();
        o.push(id(2), RoomId::from("r"), "b".into());
        o.push(id(3), RoomId::from("s"), "c".into());
        assert_eq!(o.pump(1.0, false), Pump::Idle, "nothing while offline");
        let again = o.pump(2.0, true);
        assert!(matches!(
            &again,
            Pump::Send(ClientMessage::SendMessage { client_msg_id: Some(c), .. }) if *c == id(1)
        ));
        o.ack(&id(1));
        let (sent, _) = drain(&mut o, 3.0);
        assert_eq!(sent, ["b", "c"]);
    }

    #[test]
    fn a_burst_is_paced_to_the_documented_rate_not_refused() {
        let mut o = Outbox::default();
        for n in 0..40 {
            o.push(id(n), RoomId::from("r"), format!("m{n}"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = limits::MESSAGE_BURST as usize;
        let (sent, next) = drain(&mut o, 0.0);
        assert_eq!(sent.len(), burst, "the burst goes at once");
        let Pump::WakeAt(at) = next else {
            panic!("expected a wait, got {next:?}")
        };
        assert!((at - 1_000.0 / limits::MESSAGE_RATE_PER_SEC).abs() < 1e-6);
        let Pump::WakeAt(again) = o.pump(at - 1.0, true) else {
            panic!("not before its time")
        };
        assert!((again - at).abs() < 1e-6);
        let (sent, _) = drain(&mut o, at);
        assert_eq!(sent, ["m20"]);
        // Eight seconds later the rest has gone out, still in order.
        let (sent, _) = drain(&mut o, 10_000.0);
        let expected: Vec<String> = (21..40).map(|n| format!("m{n}")).collect();
        assert_eq!(sent, expected);
    }

    #[test]
    fn a_rate_refusal_puts_the_message_back_first_and_tries_again_by_itself() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        o.push(id(2), RoomId::from("r"), "b".into());
        assert_eq!(text(&o.pump(0.0, true)), "a");
        let back = o.refused("too fast", true).unwrap();
        assert_eq!(back.state, OutgoingState::Queued);
        let Pump::WakeAt(at) = o.pump(10.0, true) else {
            panic!("expected a pause")
        };
        assert!(at >= 10.0 + REFUSAL_PAUSE_MS);
        let mut now = at;
        let resent = loop {
            match o.pump(now, true) {
                Pump::WakeAt(later) => now = later,
                other => break other,
            }
        };
        assert_eq!(text(&resent), "a", "a again, before b");
        o.ack(&id(1));
        let (sent, _) = drain(&mut o, now + 1_000.0);
        assert_eq!(sent, ["b"]);
    }

    #[test]
    fn other_refusals_fail_the_message_and_the_queue_goes_on() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        o.push(id(2), RoomId::from("r"), "b".into());
        o.pump(0.0, true);
        let failed = o.refused("not a member", false).unwrap();
        assert_eq!(failed.client_msg_id, id(1));
        assert_eq!(o.failure(&RoomId::from("r")), Some("not a member"));
        assert_eq!(text(&o.pump(1.0, true)), "b");
        o.ack(&id(2));
        assert_eq!(
            o.pump(2.0, true),
            Pump::Idle,
            "failed ones wait for the user"
        );
        o.retry(&id(1));
        assert_eq!(text(&o.pump(3.0, true)), "a");
        o.refused("again", false);
        o.discard(&id(1));
        assert!(o.is_empty());
        assert_eq!(o.failure(&RoomId::from("r")), None);
        assert!(o.refused("nothing", false).is_none());
    }

    #[test]
    fn an_echo_before_the_ack_settles_the_message_in_flight() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "same".into());
        o.push(id(2), RoomId::from("r"), "same".into());
        assert!(
            o.settle_echo(&RoomId::from("r"), "same").is_none(),
            "not sent yet"
        );
        o.pump(0.0, true);
        assert!(o.settle_echo(&RoomId::from("s"), "same").is_none());
        assert_eq!(
            o.settle_echo(&RoomId::from("r"), "same")
                .unwrap()
                .client_msg_id,
            id(1)
        );
        assert!(o.ack(&id(1)).is_none(), "the late ack finds nothing");
        assert_eq!(o.len(), 1);
        assert_eq!(text(&o.pump(1.0, true)), "same", "the next one goes");
    }

    #[test]
    fn per_room_view() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        o.push(id(2), RoomId::from("s"), "b".into());
        o.push(id(3), RoomId::from("r"), "c".into());
        let r = RoomId::from("r");
        let in_r: Vec<_> = o.for_room(&r).map(|m| m.text.as_str()).collect();
        assert_eq!(in_r, ["a", "c"]);
    }

    #[test]
    fn a_room_left_takes_its_waiting_messages_with_it() {
        let mut o = Outbox::default();
        o.push(id(1), RoomId::from("r"), "a".into());
        o.push(id(2), RoomId::from("s"), "b".into());
        o.push(id(3), RoomId::from("r"), "c".into());
        assert_eq!(text(&o.pump(0.0, true)), "a");
        o.forget_room(&RoomId::from("r"));
        let left: Vec<_> = o.items.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(left, ["a", "b"], "a is on its way and gets its answer");
        o.ack(&id(1));
        assert_eq!(text(&o.pump(1.0, true)), "b");
    }
}
