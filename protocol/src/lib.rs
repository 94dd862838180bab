//! Knock's wire contract (`docs/protocol.md`), shared by the server and the browser client.
//!
//! Every frame is one JSON object with a string `action`. The seed design's shapes are
//! accepted and produced verbatim; everything else here is additive.
//! No I/O lives here: this crate compiles to native code and to `wasm32`.

mod client;
mod error;
mod http;
mod ids;
pub mod limits;
mod server;
mod wire_enum;

pub use client::{ClientMessage, DecodeError, JoinRoom, ResumeRoom, Role, Targets, decode_client};
pub use error::ErrorCode;
pub use http::{
    AccountDeletion, AccountExport, ApiError, ApiErrorBody, AuthResponse, Credentials,
    DELETED_USER, ExportedMessage, ExportedRoom, ExportedUser, LogoutRequest, PasswordChange,
    RoomPreview, SessionInfo, SessionList,
};
pub use ids::{ClientMsgId, InviteCode, MessageId, RoomId, SessionToken, UserId};
pub use server::{
    ChatMessage, Invite, InviteRef, MemberStatus, Participant, ReplyTo, RoomSummary, SearchResult,
    ServerMessage, SnippetPart, decode_server,
};

/// WebSocket close codes the server uses, beyond the standard ones.
pub mod close_code {
    /// Authentication failed, or the session was revoked (logout).
    pub const UNAUTHENTICATED: u16 = 4401;
    /// The socket did not authenticate in time.
    pub const AUTH_TIMEOUT: u16 = 4408;
    /// Policy violation: too many sockets for one user, or a flood of frames.
    pub const POLICY: u16 = 1008;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_UTF8: u16 = 1007;
    /// The client read too slowly and its bounded outgoing queue filled up; resume later.
    pub const TOO_SLOW: u16 = 4429;
    /// A frame larger than [`crate::limits::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is restarting; reconnect.
    pub const SERVICE_RESTART: u16 = 1012;
}
