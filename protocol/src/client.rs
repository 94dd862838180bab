use serde::{Deserialize, Serialize};

use crate::{ClientMsgId, RoomId, UserId};

/// A frame from a client to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    /// First frame on every socket.
    Authenticate {
        token: String,
    },
    CreateRoom {
        room_name: String,
    },
    /// The seed's `joinRoom`, told apart by `subAction`.
    JoinRoom(JoinRoom),
    SendMessage {
        message: String,
        /// The socket's current room when absent (as in the seed's example).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        /// Makes retries safe: stored at most once per user and id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<ClientMsgId>,
    },
    GetMembers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
    },
    GetHistory {
        room_id: RoomId,
        /// Only messages with a smaller `seq`; the newest page when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Resume {
        rooms: Vec<ResumeRoom>,
    },
    MyRooms,
    /// Answered with `pong`: browsers cannot see WebSocket pings, so a client checks with
    /// this that its socket still carries frames.
    Ping,
}

/// `joinRoom`'s three sub-actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "subAction",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum JoinRoom {
    Request {
        room_id: RoomId,
    },
    Approve {
        /// The socket's current room when absent (the seed's approval flow omits it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        target_user_id: UserId,
    },
    Reject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        target_user_id: UserId,
    },
}

/// One room of a `resume`: send what was stored after `after_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeRoom {
    pub room_id: RoomId,
    pub after_seq: u64,
}

impl ClientMessage {
    /// Every `action` a client may send.
    pub const ACTIONS: [&'static str; 9] = [
        "authenticate",
        "createRoom",
        "joinRoom",
        "sendMessage",
        "getMembers",
        "getHistory",
        "resume",
        "myRooms",
        "ping",
    ];

    /// The frame's `action`, as on the wire.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Authenticate { .. } => "authenticate",
            Self::CreateRoom { .. } => "createRoom",
            Self::JoinRoom(_) => "joinRoom",
            Self::SendMessage { .. } => "sendMessage",
            Self::GetMembers { .. } => "getMembers",
            Self::GetHistory { .. } => "getHistory",
            Self::Resume { .. } => "resume",
            Self::MyRooms => "myRooms",
            Self::Ping => "ping",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }
}

/// Why a client frame was refused, with the `action` it named when it named a known one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a JSON object, or no string `action`.
    NotAnAction { reason: String },
    /// An `action` nobody knows (the seed's `$default`).
    UnknownAction { action: String },
    /// A known action with missing or mistyped fields.
    BadFields {
        action: &'static str,
        reason: String,
    },
}

/// Decodes one text frame, telling apart unknown actions from malformed known ones.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => Ok(message),
        Err(full_error) => {
            #[derive(Deserialize)]
            struct ActionOnly {
                action: String,
            }
            match serde_json::from_str::<ActionOnly>(text) {
                Err(e) => Err(DecodeError::NotAnAction {
                    reason: e.to_string(),
                }),
                Ok(ActionOnly { action }) => {
                    match ClientMessage::ACTIONS
                        .iter()
                        .find(|known| **known == action)
                    {
                        Some(known) => Err(DecodeError::BadFields {
                            action: known,
                            reason: full_error.to_string(),
                        }),
                        None => Err(DecodeError::UnknownAction { action }),
                    }
                }
            }
        }
    }
}
