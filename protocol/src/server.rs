use std::fmt;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::{ClientMsgId, ErrorCode, InviteCode, MessageId, RoomId, UserId};

/// A user's standing in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Pending,
    Approved,
    Rejected,
    /// Left the room, or withdrew their request (or had a ban lifted).
    Left,
    /// Taken out of the room by an admin; may knock again.
    Removed,
    /// Taken out by an admin, and their knocks are refused until unbanned.
    Banned,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Left,
        Self::Removed,
        Self::Banned,
    ];

    /// The wire names, in the order of [`MemberStatus::ALL`].
    const NAMES: [&'static str; 6] = [
        Self::ALL[0].as_str(),
        Self::ALL[1].as_str(),
        Self::ALL[2].as_str(),
        Self::ALL[3].as_str(),
        Self::ALL[4].as_str(),
        Self::ALL[5].as_str(),
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Left => "left",
            Self::Removed => "removed",
            Self::Banned => "banned",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            "left" => Some(Self::Left),
            "removed" => Some(Self::Removed),
            "banned" => Some(Self::Banned),
            _ => None,
        }
    }
}

/// Decodes what the derive would (`#[serde(rename_all = "snake_case")]`), through one table
/// (see `wire_enum`).
impl<'de> Deserialize<'de> for MemberStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire_enum::deserialize(deserializer, "MemberStatus", &Self::NAMES, &Self::ALL)
    }
}

/// A stored chat message, as broadcast, replayed and paged.
///
/// `roomId`, `seq` and `messageId` are always sent by Knock; they default when absent so
/// that the seed's shorter example still decodes (`seq` 0 never names a stored message).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    #[serde(default)]
    pub room_id: RoomId,
    pub user_id: UserId,
    pub message: String,
    pub timestamp: i64,
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub message_id: MessageId,
    /// The message this one answers, as it reads now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// When the text was last edited; absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// A tombstone: the message was deleted and `message` is empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The approved members the text names with `@username` (see `docs/protocol.md`,
    /// *Mentions*), each once, in order of first appearance; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

/// The message a reply answers: its author and the start of its current text
/// (`limits::REPLY_EXCERPT_CHARS` characters at most), read when the reply is sent out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyTo {
    pub message_id: MessageId,
    pub user_id: UserId,
    /// Empty when the answered message was deleted.
    pub excerpt: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

impl ReplyTo {
    /// The start of a message that a reply shows: at most `limits::REPLY_EXCERPT_CHARS`
    /// characters, cut between characters. The server sends it; a client quoting a reply
    /// it is writing, or an edit of the answered message, cuts the same.
    pub fn excerpt_of(text: &str) -> &str {
        match text.char_indices().nth(crate::limits::REPLY_EXCERPT_CHARS) {
            Some((end, _)) => &text[..end],
            None => text,
        }
    }
}

/// One row of `roomMembers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub user_id: UserId,
    pub status: MemberStatus,
    pub is_admin: bool,
    /// The message of a pending request, or why a user was rejected, removed or banned:
    /// sent to the room's admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the user has a socket open now (any node); sent only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub online: bool,
    /// The invite link a pending request came by: sent to the room's admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteRef>,
}

/// An invite link of a room, as its admins see it (`invite`, and each of `invites`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub room_id: RoomId,
    pub code: InviteCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created_at: i64,
    /// When the link stops working; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// How many requests the link may make; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Requests made with the link so far.
    pub uses: u32,
}

/// Which invite link a request came by, for the admins deciding on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteRef {
    pub code: InviteCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One row of `rooms`: a room the user belongs to or asked to join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    pub room_id: RoomId,
    pub room_name: String,
    pub status: MemberStatus,
    pub is_admin: bool,
    /// The `seq` of the room's newest entry (a message, an edit or a deletion): what a
    /// client resumes from. 0 when the room has none (or the user may not read it).
    pub last_seq: u64,
    /// The user's read marker: every `seq` up to it has been read (0 unless approved).
    #[serde(default)]
    pub read_seq: u64,
    /// Messages after `read_seq` written by others.
    #[serde(default)]
    pub unread_count: u64,
    /// Messages after `read_seq` written by others that mention the user.
    #[serde(default)]
    pub mention_count: u64,
    /// Pending join requests of the room: for its admins only (absent for others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<u64>,
}

/// One message found by `search`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub room_id: RoomId,
    pub seq: u64,
    pub message_id: MessageId,
    pub user_id: UserId,
    /// The whole message.
    pub message: String,
    pub timestamp: i64,
    /// An excerpt of the message around its first match, cut in parts; the parts joined
    /// are the excerpt, as plain text (never HTML).
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a search result's snippet: `match` is true for a word the query named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnippetPart {
    pub text: String,
    #[serde(rename = "match")]
    pub is_match: bool,
}

/// A frame from the server to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    Authenticated {
        user_id: UserId,
    },
    RoomCreated {
        room_id: RoomId,
        room_name: String,
    },
    /// To every admin of the room when someone asks to join.
    JoinRequest {
        user_id: UserId,
        room_id: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The invite link the request came by, when it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite: Option<InviteRef>,
    },
    /// To the user concerned: the state of their request.
    JoinResponse {
        room_id: RoomId,
        status: MemberStatus,
        /// Why a request was rejected, when the admin said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Message(ChatMessage),
    RoomMembers {
        room_id: RoomId,
        room_name: String,
        participants: Vec<Participant>,
        /// Knocks by bare room id are refused (`setRoomSettings`); absent when false, so
        /// that an open room's list is the seed's shape.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        invite_only: bool,
    },
    /// One membership change, to the room's approved members and the user concerned.
    MemberChanged {
        room_id: RoomId,
        user_id: UserId,
        status: MemberStatus,
        is_admin: bool,
        /// Why, when an admin said (a rejection, a removal, a ban).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// To every member and pending user of a room that was deleted.
    RoomDeleted {
        room_id: RoomId,
    },
    /// To the sender's socket once its message is durably stored.
    MessageAck {
        client_msg_id: ClientMsgId,
        room_id: RoomId,
        seq: u64,
        message_id: MessageId,
        timestamp: i64,
    },
    History {
        room_id: RoomId,
        messages: Vec<ChatMessage>,
        /// Older messages exist before the first of the page.
        has_more: bool,
        /// Newer messages exist after the last of the page: only in answer to `aroundSeq`
        /// or `afterSeq`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more_after: Option<bool>,
    },
    /// The answer to `search`: matching messages, newest first.
    SearchResults {
        /// The query as sent, so that a client can drop answers to queries it replaced.
        query: String,
        /// The room searched, when the search named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        results: Vec<SearchResult>,
        /// More results exist after the last one: ask again with `nextCursor`.
        has_more: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_cursor: Option<String>,
    },
    /// Before a catch-up that skips the older part of a long run of missed messages: those
    /// with `after_seq < seq < before_seq` were not sent; `getHistory` with `beforeSeq`
    /// pages them.
    HistoryGap {
        room_id: RoomId,
        after_seq: u64,
        before_seq: u64,
    },
    Rooms {
        rooms: Vec<RoomSummary>,
    },
    /// The user's read marker of a room moved forward (`markRead`), to every socket of the
    /// user on every node.
    ReadMarker {
        room_id: RoomId,
        seq: u64,
    },
    /// The answer to `ping`.
    Pong,
    /// A message's new text; `seq` is this edit's place in the room's log.
    MessageEdited {
        room_id: RoomId,
        message_id: MessageId,
        message: String,
        edited_at: i64,
        seq: u64,
    },
    /// A message was deleted; `seq` is this deletion's place in the room's log.
    MessageDeleted {
        room_id: RoomId,
        message_id: MessageId,
        seq: u64,
    },
    /// Another member of the room is typing (to the room's approved members but them); a
    /// client shows it for [`crate::limits::TYPING_EXPIRES_SECS`] unless renewed, and ends
    /// it at a `message` from that user.
    Typing {
        room_id: RoomId,
        user_id: UserId,
    },
    /// Members of the room who came online or went offline since the last such frame of
    /// the room (at most one per room per [`crate::limits::PRESENCE_TICK_MS`]).
    Presence {
        room_id: RoomId,
        online: Vec<UserId>,
        offline: Vec<UserId>,
    },
    /// An invite link, to the room's admins when one is made (and to whoever made it).
    Invite(Invite),
    /// The answer to `listInvites`: the room's links, newest first, revoked ones aside
    /// (expired and used-up ones included, for the client to mark).
    Invites {
        room_id: RoomId,
        invites: Vec<Invite>,
    },
    /// To the room's admins: the link no longer works.
    InviteRevoked {
        room_id: RoomId,
        code: InviteCode,
    },
    /// The answer to `lookupInvite`: the room a usable link leads to.
    InviteInfo {
        code: InviteCode,
        room_id: RoomId,
        room_name: String,
    },
    /// The room's settings, to its approved members when an admin changes them.
    RoomSettings {
        room_id: RoomId,
        invite_only: bool,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The `action` of the frame that failed, when it named a known one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_action: Option<String>,
        /// The user of a decision on several users that this error is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_user_id: Option<UserId>,
        /// The room of a `resume` entry that this error is about.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<RoomId>,
        /// When the action may be tried again (`knock_cooldown`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
}

impl ServerMessage {
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        request_action: Option<&str>,
    ) -> Self {
        Self::Error {
            code,
            message: message.into(),
            request_action: request_action.map(str::to_owned),
            target_user_id: None,
            room_id: None,
            retry_after_secs: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Every `action` a server frame may have.
const SERVER_ACTIONS: [&str; 25] = [
    "authenticated",
    "roomCreated",
    "joinRequest",
    "joinResponse",
    "message",
    "roomMembers",
    "memberChanged",
    "roomDeleted",
    "messageAck",
    "history",
    "historyGap",
    "searchResults",
    "rooms",
    "pong",
    "error",
    "messageEdited",
    "messageDeleted",
    "readMarker",
    "typing",
    "presence",
    "invite",
    "invites",
    "inviteRevoked",
    "inviteInfo",
    "roomSettings",
];

/// Decodes a frame from the server, as the browser client does.
///
/// The result is what `serde_json::from_str::<ServerMessage>` gives (the derive, which the
/// server's tests and the load generator use): the object is read once as a list of
/// fields, each kept as its raw JSON text; the `action` picks the variant, and each of its
/// fields is decoded from its text, unknown fields ignored, a field given twice refused.
/// The derive buffers the object in serde's generic `Content` tree to find the tag, and
/// that code, one copy per variant, was the largest part of the client's JSON decoding in
/// WebAssembly; a derived struct per variant (a visitor for maps and one for arrays, and a
/// field matcher) was the next largest, so fields are read by name, with one small
/// function per field type. Forms that serde's derive also accepts, and that Knock's
/// server never sends, are refused here: the whole frame as an array (`["pong"]`), an
/// object inside it written as an array (`"invite": ["code", "label"]`), and an empty
/// object as the value of a unit variant written as an object (`"code": {"banned": {}}`).
#[allow(clippy::too_many_lines)] // one short arm per frame: a table, not logic
pub fn decode_server(text: &str) -> Result<ServerMessage, serde_json::Error> {
    if !text.trim_start().starts_with('{') {
        return Err(serde::de::Error::custom("a server frame is a JSON object"));
    }
    let f: Fields<'_> = serde_json::from_str(text)?;
    let action: String = f.req("action")?;
    Ok(match action.as_str() {
        "authenticated" => ServerMessage::Authenticated {
            user_id: f.req("userId")?,
        },
        "roomCreated" => ServerMessage::RoomCreated {
            room_id: f.req("roomId")?,
            room_name: f.req("roomName")?,
        },
        "joinRequest" => ServerMessage::JoinRequest {
            user_id: f.req("userId")?,
            room_id: f.req("roomId")?,
            reason: f.opt("reason")?,
            invite: f.opt_with("invite", invite_ref)?,
        },
        "joinResponse" => ServerMessage::JoinResponse {
            room_id: f.req("roomId")?,
            status: f.req("status")?,
            reason: f.opt("reason")?,
        },
        "message" => ServerMessage::Message(chat_message(text)?),
        "roomMembers" => ServerMessage::RoomMembers {
            room_id: f.req("roomId")?,
            room_name: f.req("roomName")?,
            participants: f.req_with("participants", |t| list(t, participant))?,
            invite_only: f.or_default("inviteOnly")?,
        },
        "memberChanged" => ServerMessage::MemberChanged {
            room_id: f.req("roomId")?,
            user_id: f.req("userId")?,
            status: f.req("status")?,
            is_admin: f.req("isAdmin")?,
            reason: f.opt("reason")?,
        },
        "roomDeleted" => ServerMessage::RoomDeleted {
            room_id: f.req("roomId")?,
        },
        "messageAck" => ServerMessage::MessageAck {
            client_msg_id: f.req("clientMsgId")?,
            room_id: f.req("roomId")?,
            seq: f.req("seq")?,
            message_id: f.req("messageId")?,
            timestamp: f.req("timestamp")?,
        },
        "history" => ServerMessage::History {
            room_id: f.req("roomId")?,
            messages: f.req_with("messages", |t| list(t, chat_message))?,
            has_more: f.req("hasMore")?,
            has_more_after: f.opt("hasMoreAfter")?,
        },
        "searchResults" => ServerMessage::SearchResults {
            query: f.req("query")?,
            room_id: f.opt("roomId")?,
            results: f.req_with("results", |t| list(t, search_result))?,
            has_more: f.req("hasMore")?,
            next_cursor: f.opt("nextCursor")?,
        },
        "historyGap" => ServerMessage::HistoryGap {
            room_id: f.req("roomId")?,
            after_seq: f.req("afterSeq")?,
            before_seq: f.req("beforeSeq")?,
        },
        "rooms" => ServerMessage::Rooms {
            rooms: f.req_with("rooms", |t| list(t, room_summary))?,
        },
        "readMarker" => ServerMessage::ReadMarker {
            room_id: f.req("roomId")?,
            seq: f.req("seq")?,
        },
        "pong" => ServerMessage::Pong,
        "messageEdited" => ServerMessage::MessageEdited {
            room_id: f.req("roomId")?,
            message_id: f.req("messageId")?,
            message: f.req("message")?,
            edited_at: f.req("editedAt")?,
            seq: f.req("seq")?,
        },
        "messageDeleted" => ServerMessage::MessageDeleted {
            room_id: f.req("roomId")?,
            message_id: f.req("messageId")?,
            seq: f.req("seq")?,
        },
        "typing" => ServerMessage::Typing {
            room_id: f.req("roomId")?,
            user_id: f.req("userId")?,
        },
        "presence" => ServerMessage::Presence {
            room_id: f.req("roomId")?,
            online: f.req("online")?,
            offline: f.req("offline")?,
        },
        "invite" => ServerMessage::Invite(invite(text)?),
        "invites" => ServerMessage::Invites {
            room_id: f.req("roomId")?,
            invites: f.req_with("invites", |t| list(t, invite))?,
        },
        "inviteRevoked" => ServerMessage::InviteRevoked {
            room_id: f.req("roomId")?,
            code: f.req("code")?,
        },
        "inviteInfo" => ServerMessage::InviteInfo {
            code: f.req("code")?,
            room_id: f.req("roomId")?,
            room_name: f.req("roomName")?,
        },
        "roomSettings" => ServerMessage::RoomSettings {
            room_id: f.req("roomId")?,
            invite_only: f.req("inviteOnly")?,
        },
        "error" => ServerMessage::Error {
            code: f.req("code")?,
            message: f.req("message")?,
            request_action: f.opt("requestAction")?,
            target_user_id: f.opt("targetUserId")?,
            room_id: f.opt("roomId")?,
            retry_after_secs: f.opt("retryAfterSecs")?,
        },
        other => return Err(serde::de::Error::unknown_variant(other, &SERVER_ACTIONS)),
    })
}

type Decoded<T> = Result<T, serde_json::Error>;

/// The frame types inside frames, read the same way (their derives stay for the server).
fn chat_message(text: &str) -> Decoded<ChatMessage> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(ChatMessage {
        room_id: f.or_default("roomId")?,
        user_id: f.req("userId")?,
        message: f.req("message")?,
        timestamp: f.req("timestamp")?,
        seq: f.or_default("seq")?,
        message_id: f.or_default("messageId")?,
        reply_to: f.opt_with("replyTo", reply_to)?,
        edited_at: f.opt("editedAt")?,
        deleted: f.or_default("deleted")?,
        mentions: f.or_default("mentions")?,
    })
}

fn reply_to(text: &str) -> Decoded<ReplyTo> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(ReplyTo {
        message_id: f.req("messageId")?,
        user_id: f.req("userId")?,
        excerpt: f.req("excerpt")?,
        deleted: f.or_default("deleted")?,
    })
}

fn participant(text: &str) -> Decoded<Participant> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(Participant {
        user_id: f.req("userId")?,
        status: f.req("status")?,
        is_admin: f.req("isAdmin")?,
        reason: f.opt("reason")?,
        online: f.or_default("online")?,
        invite: f.opt_with("invite", invite_ref)?,
    })
}

fn invite(text: &str) -> Decoded<Invite> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(Invite {
        room_id: f.req("roomId")?,
        code: f.req("code")?,
        label: f.opt("label")?,
        created_at: f.req("createdAt")?,
        expires_at: f.opt("expiresAt")?,
        max_uses: f.opt("maxUses")?,
        uses: f.req("uses")?,
    })
}

fn invite_ref(text: &str) -> Decoded<InviteRef> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(InviteRef {
        code: f.req("code")?,
        label: f.opt("label")?,
    })
}

fn room_summary(text: &str) -> Decoded<RoomSummary> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(RoomSummary {
        room_id: f.req("roomId")?,
        room_name: f.req("roomName")?,
        status: f.req("status")?,
        is_admin: f.req("isAdmin")?,
        last_seq: f.req("lastSeq")?,
        read_seq: f.or_default("readSeq")?,
        unread_count: f.or_default("unreadCount")?,
        mention_count: f.or_default("mentionCount")?,
        pending_count: f.opt("pendingCount")?,
    })
}

fn search_result(text: &str) -> Decoded<SearchResult> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(SearchResult {
        room_id: f.req("roomId")?,
        seq: f.req("seq")?,
        message_id: f.req("messageId")?,
        user_id: f.req("userId")?,
        message: f.req("message")?,
        timestamp: f.req("timestamp")?,
        snippet: f.req_with("snippet", |t| list(t, snippet_part))?,
    })
}

fn snippet_part(text: &str) -> Decoded<SnippetPart> {
    let f: Fields<'_> = serde_json::from_str(text)?;
    Ok(SnippetPart {
        text: f.req("text")?,
        is_match: f.req("match")?,
    })
}

/// A JSON array, each element read by `item`.
fn list<T>(text: &str, item: fn(&str) -> Decoded<T>) -> Decoded<Vec<T>> {
    let items: Vec<&RawValue> = serde_json::from_str(text)?;
    items.into_iter().map(|raw| item(raw.get())).collect()
}

/// A frame's fields in order, each as its JSON text (borrowed from the frame).
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Fields<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a server frame")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

impl Fields<'_> {
    /// The text of the field `name`, if given (once: twice is refused, as by the derive).
    fn text(&self, name: &'static str) -> Result<Option<&str>, serde_json::Error> {
        let mut found = None;
        for (key, value) in &self.0 {
            if key == name {
                if found.is_some() {
                    return Err(serde::de::Error::duplicate_field(name));
                }
                found = Some(value.get());
            }
        }
        Ok(found)
    }

    /// A field that must be given.
    fn req<T: DeserializeOwned>(&self, name: &'static str) -> Result<T, serde_json::Error> {
        match self.text(name)? {
            Some(text) => serde_json::from_str(text),
            None => Err(serde::de::Error::missing_field(name)),
        }
    }

    /// An `Option` field: absent or `null` is `None`.
    fn opt<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<T>, serde_json::Error> {
        match self.text(name)? {
            Some(text) => serde_json::from_str(text),
            None => Ok(None),
        }
    }

    /// A field that must be given, read by `parse`.
    fn req_with<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Decoded<T>,
    ) -> Decoded<T> {
        match self.text(name)? {
            Some(text) => parse(text),
            None => Err(serde::de::Error::missing_field(name)),
        }
    }

    /// An `Option` field read by `parse`: absent or `null` is `None`.
    fn opt_with<T>(&self, name: &'static str, parse: fn(&str) -> Decoded<T>) -> Decoded<Option<T>> {
        match self.text(name)? {
            Some("null") | None => Ok(None),
            Some(text) => parse(text).map(Some),
        }
    }

    /// A `#[serde(default)]` field.
    fn or_default<T: DeserializeOwned + Default>(
        &self,
        name: &'static str,
    ) -> Result<T, serde_json::Error> {
        match self.text(name)? {
            Some(text) => serde_json::from_str(text),
            None => Ok(T::default()),
        }
    }
}
