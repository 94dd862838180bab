//! Noticing a dead socket. Browsers answer the server's pings without telling the page,
//! and a connection that silently died (a laptop lid, a dropped Wi-Fi, a server killed
//! without a goodbye) can look open for minutes. So the client sends `ping` when the
//! socket has been quiet for a while, or when something it sent got no answer soon, and
//! gives the socket up when the `pong` does not come within a few seconds. Time is
//! passed in, so the decision is tested exactly.

/// How often the driver looks at the socket (a comparison of numbers: cheap).
pub const CHECK_EVERY_MS: u32 = 1_000;
/// Quiet for this long: ask with a `ping`.
pub const PING_AFTER_MS: f64 = 20_000.0;
/// Sent something and heard nothing since for this long: ask with a `ping`. Most
/// frames are answered within milliseconds, but not all (a `resume` with nothing new).
pub const PROBE_AFTER_SEND_MS: f64 = 2_000.0;
/// A `ping` unanswered for this long: the socket is dead; reconnect.
pub const PONG_WITHIN_MS: f64 = 4_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// Frames arrived recently, or a `ping` is on its way.
    Healthy,
    /// Send a `ping`, whose `pong` will count as a frame.
    Ping,
    /// The `ping` went unanswered: close it and reconnect.
    Dead,
}

/// When things happened on the current socket, in ms (any common origin).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Times {
    /// The last frame received.
    pub last_frame: f64,
    /// The last frame sent.
    pub last_sent: f64,
    /// The last `ping` sent.
    pub ping_sent: Option<f64>,
}

/// What to do at `now`.
pub fn check(now: f64, t: Times) -> Beat {
    if let Some(ping) = t.ping_sent
        && ping >= t.last_frame
    {
        return if now - ping >= PONG_WITHIN_MS {
            Beat::Dead
        } else {
            Beat::Healthy
        };
    }
    let unanswered = t.last_sent > t.last_frame && now - t.last_sent >= PROBE_AFTER_SEND_MS;
    if unanswered || now - t.last_frame >= PING_AFTER_MS {
        Beat::Ping
    } else {
        Beat::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_since(last_frame: f64) -> Times {
        Times {
            last_frame,
            last_sent: 0.0,
            ping_sent: None,
        }
    }

    #[test]
    fn a_quiet_socket_is_pinged_then_given_up_within_seconds() {
        assert_eq!(check(1_000.0, quiet_since(0.0)), Beat::Healthy);
        assert_eq!(check(19_999.0, quiet_since(0.0)), Beat::Healthy);
        assert_eq!(check(20_000.0, quiet_since(0.0)), Beat::Ping);
        let pinged = Times {
            last_sent: 20_000.0,
            ping_sent: Some(20_000.0),
            ..quiet_since(0.0)
        };
        assert_eq!(check(23_999.0, pinged), Beat::Healthy);
        assert_eq!(check(24_000.0, pinged), Beat::Dead);
    }

    #[test]
    fn an_answer_makes_it_healthy_again() {
        let answered = Times {
            last_frame: 20_050.0,
            last_sent: 20_000.0,
            ping_sent: Some(20_000.0),
        };
        assert_eq!(check(30_000.0, answered), Beat::Healthy);
        assert_eq!(check(40_050.0, answered), Beat::Ping);
    }

    #[test]
    fn a_send_without_any_answer_is_checked_at_once() {
        // A message written to a socket whose network is gone: no ack, no error.
        let sent = Times {
            last_frame: 5_000.0,
            last_sent: 6_000.0,
            ping_sent: None,
        };
        assert_eq!(check(7_999.0, sent), Beat::Healthy);
        assert_eq!(check(8_000.0, sent), Beat::Ping);
        let probing = Times {
            ping_sent: Some(8_000.0),
            ..sent
        };
        assert_eq!(check(12_000.0, probing), Beat::Dead);
    }

    #[test]
    fn an_answered_send_needs_no_ping() {
        let acked = Times {
            last_frame: 6_010.0,
            last_sent: 6_000.0,
            ping_sent: None,
        };
        assert_eq!(check(10_000.0, acked), Beat::Healthy);
    }

    #[test]
    fn checks_come_often_enough_to_notice_in_time() {
        assert!(f64::from(CHECK_EVERY_MS) * 2.0 <= PONG_WITHIN_MS);
        assert!(f64::from(CHECK_EVERY_MS) * 2.0 <= PROBE_AFTER_SEND_MS);
    }
}
