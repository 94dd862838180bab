//! The WebSocket side of the server: from an upgraded socket to the frames written to it.
//!
//! Each file depends only on those listed before it:
//!
//! - `frames.rs`: what a socket is sent ([`Outbound`], [`ChatFrame`]) and why it is closed
//!   ([`CloseReason`]); shared by all the others.
//! - `mailbox.rs`: a socket's bounded queue, close signal and parked write half.
//! - `write_threads.rs`: one thread per core that writes queued frames straight to idle
//!   sockets.
//! - `socket_task.rs`: a socket's write half ([`socket_task::SocketSink`]) and its write
//!   task, which does what the write threads cannot (pings, the close, catch-ups and gaps
//!   read from storage, a slow client).
//! - `hub.rs`: every open socket of this node, by user; queues frames for them.
//! - `ws.rs`: the `/ws` route: authenticate, then read frames and hand them to the service.
//!
//! The rest of the server uses what is re-exported here.

#[cfg(test)]
mod fake_sink;
mod frames;
mod hub;
mod mailbox;
mod socket_task;
mod write_threads;
mod ws;

pub(crate) use frames::CloseReason;
pub use frames::{ChatFrame, ConnId, Outbound};
pub use hub::{Hub, Registration};
pub use socket_task::SocketQueue;
pub(crate) use ws::upgrade;
