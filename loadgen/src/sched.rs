//! Open-loop rate scheduling: message `k` of a run is due at `k / rate` seconds after the
//! start, whatever happened to earlier ones, and goes out on sender `k % senders`, so the
//! total stream is evenly spaced however many sockets carry it.

use std::time::Duration;

/// A fixed-rate plan of `count` messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub rate: f64,
    pub count: u64,
    pub senders: usize,
}

impl Plan {
    /// `rate` messages per second for `duration`, spread over `senders` sockets.
    pub fn new(rate: f64, duration: Duration, senders: usize) -> Self {
        assert!(rate > 0.0, "a plan needs a positive rate");
        Self {
            rate,
            count: crate::util::round_u64(rate * duration.as_secs_f64()).max(1),
            senders: senders.max(1),
        }
    }

    /// When message `k` is due, from the start of the run.
    pub fn due(&self, k: u64) -> Duration {
        Duration::from_secs_f64(crate::util::f(k) / self.rate)
    }

    /// Which sender carries message `k`.
    pub fn sender_of(&self, k: u64) -> usize {
        // `senders` fits in u64 and the remainder is below it, so both casts are exact.
        usize::try_from(k % self.senders as u64).expect("remainder below a usize")
    }

    /// How long the whole plan takes to send.
    #[cfg(test)]
    pub fn span(&self) -> Duration {
        self.due(self.count.saturating_sub(1))
    }

    /// How many messages sender `s` carries.
    #[cfg(test)]
    pub fn count_for(&self, s: usize) -> u64 {
        let senders = self.senders as u64;
        let s = s as u64;
        self.count / senders + u64::from(s < self.count % senders)
    }
}

/// The text of a probe message: run, index and send stamp, then padding to `size` bytes.
/// Receivers find it by its `lg ` prefix without decoding the whole frame.
pub fn probe_text(run: u32, k: u64, sent_us: u64, size: usize) -> String {
    let mut text = format!("lg {run} {k} {sent_us} ");
    while text.len() < size {
        text.push('x');
    }
    text
}

/// A probe found in a `message` frame: (run, index, send stamp in microseconds).
pub fn parse_probe(frame: &str) -> Option<(u32, u64, u64)> {
    const KEY: &str = "\"message\":";
    let start = frame.find(KEY)? + KEY.len();
    parse_probe_text(frame[start..].strip_prefix('"')?)
}

/// The `seq` of a `message` frame, found without decoding it (probe texts hold no `"`,
/// so the key cannot be inside one).
pub fn parse_seq(frame: &str) -> Option<u64> {
    const KEY: &str = "\"seq\":";
    let digits = &frame[frame.find(KEY)? + KEY.len()..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The probe at the start of `text` (as made by [`probe_text`]).
pub fn parse_probe_text(text: &str) -> Option<(u32, u64, u64)> {
    let mut parts = text.strip_prefix("lg ")?.splitn(4, ' ');
    let run = parts.next()?.parse().ok()?;
    let k = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((run, k, sent))
}

#[cfg(test)]
mod tests {
    use knock_protocol::{ChatMessage, MessageId, RoomId, ServerMessage, UserId};

    use super::*;

    #[test]
    fn messages_are_evenly_spaced_across_senders() {
        let plan = Plan::new(100.0, Duration::from_secs(2), 7);
        assert_eq!(plan.count, 200);
        assert_eq!(plan.due(0), Duration::ZERO);
        assert_eq!(plan.due(50), Duration::from_millis(500));
        assert_eq!(plan.span(), Duration::from_millis(1990));
        assert_eq!(plan.sender_of(0), 0);
        assert_eq!(plan.sender_of(8), 1);
        let total: u64 = (0..7).map(|s| plan.count_for(s)).sum();
        assert_eq!(total, 200);
        for s in 0..7 {
            let carried = (0..plan.count).filter(|k| plan.sender_of(*k) == s).count() as u64;
            assert_eq!(carried, plan.count_for(s));
        }
    }

    #[test]
    fn a_short_plan_sends_at_least_one_message() {
        let plan = Plan::new(1.0, Duration::from_millis(100), 3);
        assert_eq!(plan.count, 1);
        assert_eq!(plan.span(), Duration::ZERO);
    }

    #[test]
    fn fractional_rates() {
        let plan = Plan::new(0.5, Duration::from_secs(10), 1);
        assert_eq!(plan.count, 5);
        assert_eq!(plan.due(1), Duration::from_secs(2));
    }

    #[test]
    fn probes_survive_the_server_frame() {
        let text = probe_text(3, 41, 123_456, 64);
        assert_eq!(text.len(), 64);
        let frame = ServerMessage::Message(ChatMessage {
            room_id: RoomId::new("r"),
            user_id: UserId::new("u"),
            message: text,
            timestamp: 1,
            seq: 9,
            message_id: MessageId::new("m"),
            reply_to: None,
            edited_at: None,
            deleted: false,
            mentions: Vec::new(),
        })
        .to_json();
        assert_eq!(parse_probe(&frame), Some((3, 41, 123_456)));
        assert_eq!(parse_seq(&frame), Some(9));
        assert_eq!(parse_seq(r#"{"action":"message","seq":}"#), None);
        assert_eq!(
            parse_probe(r#"{"action":"message","message":"hello"}"#),
            None
        );
        assert_eq!(
            parse_probe_text(&probe_text(3, 41, 123_456, 64)),
            Some((3, 41, 123_456))
        );
        assert_eq!(parse_probe_text("lg 3 41"), None, "no send stamp");
    }
}
