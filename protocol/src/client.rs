use serde::{Deserialize, Serialize};

use crate::{ClientMsgId, InviteCode, MessageId, RoomId, SessionToken, UserId};

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
        token: SessionToken,
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
        /// The message of the same room this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
    },
    GetMembers {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
    },
    /// A page of a room's messages: the newest (no bound), those before `beforeSeq`,
    /// those after `afterSeq`, or those around `aroundSeq` (at most one of the three).
    GetHistory {
        room_id: RoomId,
        /// Only messages with a smaller `seq`; the newest page when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// The page around this message, so that a search result opens the room at it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        around_seq: Option<u64>,
        /// Only messages with a greater `seq`, oldest first: the page below a page
        /// opened with `aroundSeq`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<u64>,
    },
    /// Messages of the user's rooms (or of `roomId`) holding every word of `query`.
    Search {
        query: String,
        /// Only this room; every room the user is an approved member of when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        /// With `roomId`: only messages with a smaller `seq` (the next page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<u64>,
        /// The `nextCursor` of the previous page of the same search.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Resume {
        rooms: Vec<ResumeRoom>,
    },
    MyRooms,
    /// The user leaves a room they are in, or withdraws their request to join it.
    LeaveRoom {
        room_id: RoomId,
    },
    /// An admin takes a member out of the room; they may knock again.
    RemoveMember {
        room_id: RoomId,
        target_user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An admin removes a user (if in the room) and refuses their knocks until unbanned.
    BanMember {
        room_id: RoomId,
        target_user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An admin lifts a ban: the user may knock again.
    UnbanMember {
        room_id: RoomId,
        target_user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An admin makes an approved member an admin, or an admin a plain member.
    SetRole {
        room_id: RoomId,
        target_user_id: UserId,
        role: Role,
    },
    /// An admin deletes the room with its messages, for everyone.
    DeleteRoom {
        room_id: RoomId,
    },
    /// Answered with `pong`: browsers cannot see WebSocket pings, so a client checks with
    /// this that its socket still carries frames.
    Ping,
    /// The author replaces the text of their message.
    EditMessage {
        room_id: RoomId,
        message_id: MessageId,
        message: String,
    },
    /// The author, or an admin of the room, deletes a message: its text is gone for good.
    DeleteMessage {
        room_id: RoomId,
        message_id: MessageId,
    },
    /// The user has read the room up to `seq`: the read marker moves there (never back).
    MarkRead {
        room_id: RoomId,
        seq: u64,
    },
    /// The user is typing in the room: a hint for its other members, never stored, and
    /// forwarded at most once per [`crate::limits::TYPING_THROTTLE_SECS`].
    Typing {
        room_id: RoomId,
    },
    /// An admin makes an invite link for the room.
    CreateInvite {
        room_id: RoomId,
        /// A name for the admins (at most `limits::MAX_INVITE_LABEL_CHARS`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Never expires when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_in_secs: Option<u64>,
        /// Unlimited when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_uses: Option<u32>,
    },
    /// An admin lists the room's invite links (revoked ones aside).
    ListInvites {
        room_id: RoomId,
    },
    /// An admin revokes an invite link: it stops working at once.
    RevokeInvite {
        room_id: RoomId,
        code: InviteCode,
    },
    /// Any signed-in user: the room an invite link leads to, to show the knock form.
    LookupInvite {
        code: InviteCode,
    },
    /// An admin changes the room's settings; a setting left out is kept.
    SetRoomSettings {
        room_id: RoomId,
        /// Knocks by bare room id are refused (`invite_only`); invite links still work.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite_only: Option<bool>,
    },
}

/// A member's role in `setRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Admin,
    Member,
}

/// `joinRoom`'s sub-actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "subAction",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum JoinRoom {
    /// A knock: by room id, by invite link (`inviteCode`), or both (they must agree).
    Request {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        /// A message to the admins (at most `limits::MAX_REASON_CHARS`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The code of the invite link followed: counts one use when a request is made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite_code: Option<InviteCode>,
    },
    /// The pending user withdraws their request.
    Cancel { room_id: RoomId },
    Approve {
        /// The socket's current room when absent (the seed's approval flow omits it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        #[serde(flatten)]
        targets: Targets,
    },
    Reject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        #[serde(flatten)]
        targets: Targets,
        /// Told to the rejected users.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// Whom an approval or rejection answers: one user (`targetUserId`, as in the seed) or
/// up to `limits::MAX_DECISION_TARGETS` (`targetUserIds`), exactly one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user_ids: Option<Vec<UserId>>,
}

impl Targets {
    pub fn one(user: UserId) -> Self {
        Self {
            target_user_id: Some(user),
            target_user_ids: None,
        }
    }

    pub fn many(users: Vec<UserId>) -> Self {
        Self {
            target_user_id: None,
            target_user_ids: Some(users),
        }
    }
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
    pub const ACTIONS: [&'static str; 25] = [
        "authenticate",
        "createRoom",
        "joinRoom",
        "sendMessage",
        "getMembers",
        "getHistory",
        "resume",
        "myRooms",
        "leaveRoom",
        "removeMember",
        "banMember",
        "unbanMember",
        "setRole",
        "deleteRoom",
        "ping",
        "search",
        "editMessage",
        "deleteMessage",
        "markRead",
        "typing",
        "createInvite",
        "listInvites",
        "revokeInvite",
        "lookupInvite",
        "setRoomSettings",
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
            Self::LeaveRoom { .. } => "leaveRoom",
            Self::RemoveMember { .. } => "removeMember",
            Self::BanMember { .. } => "banMember",
            Self::UnbanMember { .. } => "unbanMember",
            Self::SetRole { .. } => "setRole",
            Self::DeleteRoom { .. } => "deleteRoom",
            Self::Ping => "ping",
            Self::Search { .. } => "search",
            Self::EditMessage { .. } => "editMessage",
            Self::DeleteMessage { .. } => "deleteMessage",
            Self::MarkRead { .. } => "markRead",
            Self::Typing { .. } => "typing",
            Self::CreateInvite { .. } => "createInvite",
            Self::ListInvites { .. } => "listInvites",
            Self::RevokeInvite { .. } => "revokeInvite",
            Self::LookupInvite { .. } => "lookupInvite",
            Self::SetRoomSettings { .. } => "setRoomSettings",
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
