//! What travels from the service to a socket, and why a socket is closed: the types every
//! other part of the gateway shares. This file depends on nothing else in the gateway.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use knock_protocol::{RoomId, ServerMessage, close_code};

/// A socket's number in this node's hub.
pub type ConnId = u64;

/// A stored chat message, encoded once for all its recipients.
#[derive(Debug)]
pub struct ChatFrame {
    pub room_id: RoomId,
    pub seq: u64,
    pub frame: Utf8Bytes,
}

/// What a socket is sent.
#[derive(Clone, Debug)]
pub enum Outbound {
    /// Send this frame as it is.
    Frame(Utf8Bytes),
    /// A chat message: sent unless this socket had it already; a gap before it is filled
    /// from storage first.
    Chat(Arc<ChatFrame>),
    /// Send every stored message of the room after this `seq` (the `resume` action), if
    /// the socket's user may receive the room then (`access::RoomAccess`).
    CatchUp { room_id: RoomId, after_seq: u64 },
    /// Send what was stored after the last message sent, in every room this socket has
    /// been sent messages of and its user may still receive, asked per room of
    /// `access::RoomAccess` (after this node may have missed events).
    Resync,
}

impl Outbound {
    pub(crate) fn message(message: &ServerMessage) -> Self {
        Self::Frame(message.to_json().into())
    }

    /// The bytes this holds for a socket's queue: its frame's length (a catch-up writes
    /// from storage as it goes and holds nothing).
    pub(crate) fn weight(&self) -> usize {
        match self {
            Self::Frame(frame) => frame.len(),
            Self::Chat(chat) => chat.frame.len(),
            Self::CatchUp { .. } | Self::Resync => 0,
        }
    }
}

/// Why the server closes a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

impl CloseReason {
    pub(crate) const SIGNED_OUT: Self = Self {
        code: close_code::UNAUTHENTICATED,
        reason: "signed out",
    };
    pub(crate) const TOO_SLOW: Self = Self {
        code: close_code::TOO_SLOW,
        reason: "too slow: outgoing queue full",
    };
    pub(crate) const RESTARTING: Self = Self {
        code: close_code::SERVICE_RESTART,
        reason: "server restarting",
    };
    pub(crate) const FRAME_TOO_BIG: Self = Self {
        code: close_code::MESSAGE_TOO_BIG,
        reason: "frame too big",
    };
    pub(crate) const SILENT: Self = Self {
        code: 1001,
        reason: "no answer to pings",
    };
    pub(crate) const FLOOD: Self = Self {
        code: close_code::POLICY,
        reason: "too many frames",
    };
    pub(crate) const INVALID_UTF8: Self = Self {
        code: close_code::INVALID_UTF8,
        reason: "text frame is not UTF-8",
    };
}
