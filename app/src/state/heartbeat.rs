//! Noticing a dead socket. Browsers answer the server's pings without telling the page,
//! and a connection that silently died (a laptop lid, a dropped Wi-Fi, a server killed
//! without a goodbye) can look open for minutes. So the client sends `ping` when the
//! socket has been quiet for a while, and gives the socket up when even that gets no
//! answer. Time is passed in, so the decision is tested exactly.

/// How often the driver looks at the socket.
pub const CHECK_EVERY_MS: u32 = 10_000;
/// Quiet for this long: ask with a `ping`.
pub const PING_AFTER_MS: f64 = 20_000.0;
/// Quiet for this long: the socket is dead; reconnect.
pub const DEAD_AFTER_MS: f64 = 45_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    /// Frames arrived recently.
    Healthy,
    /// Quiet: send a `ping`, whose `pong` will count as a frame.
    Ping,
    /// Nothing for too long: close it and reconnect.
    Dead,
}

/// What to do, given when the last frame arrived.
pub fn check(now_ms: f64, last_frame_ms: f64) -> Beat {
    let quiet = now_ms - last_frame_ms;
    if quiet >= DEAD_AFTER_MS {
        Beat::Dead
    } else if quiet >= PING_AFTER_MS {
        Beat::Ping
    } else {
        Beat::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_sockets_are_pinged_then_given_up() {
        assert_eq!(check(1_000.0, 0.0), Beat::Healthy);
        assert_eq!(check(19_999.0, 0.0), Beat::Healthy);
        assert_eq!(check(20_000.0, 0.0), Beat::Ping);
        assert_eq!(check(44_999.0, 0.0), Beat::Ping);
        assert_eq!(check(45_000.0, 0.0), Beat::Dead);
    }

    #[test]
    fn an_answer_makes_it_healthy_again() {
        // The pong arrives: the last frame is now.
        assert_eq!(check(30_000.0, 29_990.0), Beat::Healthy);
    }

    #[test]
    fn checks_come_often_enough_to_ping_before_giving_up() {
        // At least two checks fall between "ping" and "dead", so a ping is always sent
        // (and has a check interval to be answered) before the socket is given up.
        assert!(DEAD_AFTER_MS - PING_AFTER_MS >= 2.0 * f64::from(CHECK_EVERY_MS));
    }
}
