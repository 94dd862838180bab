//! Property tests of the rules in `docs/protocol.md`, run against the service in-process
//! (no sockets): `Service::handle` for the actions, hub queues for what each socket is
//! sent, a fresh in-memory SQLite database per case.
//!
//! 1. `no_action_sequence_lets_outsiders_in`: random sequences of up to 40 actions by
//!    3-4 users (one of them with two sockets) in two rooms with different admins, plus
//!    a room id that names no room, checked step by step against a model of the rules
//!    written from the contract: each action's success or error code, every notice and
//!    live message each socket is sent, each query's answer, and the stored memberships.
//! 2. `seq_is_gapless_under_concurrent_senders`: many senders at once, with retries;
//!    `seq` is gapless, each sender's order is kept, retries are acknowledged with the
//!    same `seq`, and every member's socket sees each room in `seq` order exactly once.

use std::{collections::BTreeMap, sync::Arc};

use knock_protocol::{
    ChatMessage, ClientMessage, ClientMsgId, ErrorCode, JoinRoom, MemberStatus, MessageId,
    ResumeRoom, RoomId, ServerMessage, Targets, UserId,
};
use knock_server::{
    access::RoomAccess,
    batcher::{MembershipBatcher, MessageBatcher},
    fanout::Fanout,
    gateway::{Hub, Outbound, SocketQueue as Queue},
    service::{Limits, Service, SocketSession},
    storage,
    throttle::Rate,
};
use proptest::{prelude::*, sample::Index, test_runner::TestCaseError};

/// A well-formed room id that names no room.
const BOGUS_ROOM: &str = "00000000-0000-4000-8000-000000000000";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Rates so high that rate limiting never interferes.
fn no_limits() -> Limits {
    Limits::new(
        Rate {
            per_second: 1e9,
            burst: 1e9,
        },
        1000,
        0,
    )
}

async fn new_service() -> Service {
    let storage = storage::open("sqlite::memory:")
        .await
        .expect("in-memory storage");
    let fanout = Fanout::local(Arc::new(Hub::new()));
    let access = RoomAccess::new(storage.clone());
    let (messages, _task) = MessageBatcher::spawn(storage.clone(), access.clone(), fanout.clone());
    let (memberships, _task) = MembershipBatcher::spawn(storage.clone());
    Service::new(storage, access, fanout, messages, memberships, no_limits())
}

async fn add_user(service: &Service, name: &str) -> UserId {
    let user = UserId::new(name);
    service
        .storage()
        .create_user(&user, "not a real hash", 0)
        .await
        .expect("user stored");
    user
}

/// A socket of `user`: its service-side session and its hub queue.
fn open_socket(service: &Service, user: &UserId) -> (SocketSession, Queue) {
    let registration = service.hub().register(user, &format!("session of {user}"));
    let session = SocketSession {
        conn_id: registration.id,
        user_id: user.clone(),
        current_room: None,
    };
    (session, registration.queue)
}

fn drain(queue: &mut Queue) -> Vec<Outbound> {
    let mut items = Vec::new();
    while let Some(item) = queue.try_recv() {
        items.push(item);
    }
    items
}

fn decode(frame: &str) -> ServerMessage {
    serde_json::from_str(frame).unwrap_or_else(|e| panic!("undecodable frame {frame}: {e}"))
}

fn chat_message(frame: &str) -> ChatMessage {
    match decode(frame) {
        ServerMessage::Message(message) => message,
        other => panic!("a chat frame that is not a message: {other:?}"),
    }
}

// =====================================================================================
// 1. No sequence of actions lets a non-approved user read or send in a room.
// =====================================================================================

/// Which room an action names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Room {
    /// Created by user 0, its admin.
    A,
    /// Created by user 1, its admin.
    B,
    /// A well-formed id that names no room.
    Bogus,
}

impl Room {
    const REAL: [Room; 2] = [Room::A, Room::B];

    fn admin(self) -> Option<usize> {
        match self {
            Room::A => Some(0),
            Room::B => Some(1),
            Room::Bogus => None,
        }
    }
}

#[derive(Clone, Debug)]
enum Act {
    Request(Room),
    /// `target` == number of users names a user that does not exist.
    Approve {
        room: Option<Room>,
        target: usize,
    },
    Reject {
        room: Option<Room>,
        target: usize,
    },
    Send {
        room: Option<Room>,
        with_id: bool,
    },
    History(Room),
    Members(Option<Room>),
    Resume(Vec<(Room, u64)>),
    MyRooms,
}

#[derive(Clone, Debug)]
struct Step {
    /// The acting socket (see [`socket_owners`]).
    actor: usize,
    act: Act,
}

/// Each socket's user: one socket per user, and a second one for user 1.
fn socket_owners(users: usize) -> Vec<usize> {
    (0..users).chain([1]).collect()
}

fn room() -> impl Strategy<Value = Room> {
    prop_oneof![4 => Just(Room::A), 4 => Just(Room::B), 1 => Just(Room::Bogus)]
}

fn room_or_current() -> impl Strategy<Value = Option<Room>> {
    prop_oneof![1 => Just(None), 3 => room().prop_map(Some)]
}

fn step(users: usize) -> impl Strategy<Value = Step> {
    // Sockets 0..=users (user 1 has two). Decisions are mostly, but not only, tried by
    // an admin's socket, so that memberships do change; targets are mostly users who
    // are not admins, sometimes an admin or a user who does not exist (index `users`).
    let anyone = move || 0..=users;
    let mostly_admin = move || prop_oneof![2 => Just(0), 2 => Just(1), 1 => 0..=users];
    let target = move || prop_oneof![6 => 2..users, 1 => 0..2usize, 1 => Just(users)];
    prop_oneof![
        4 => (anyone(), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Request(room),
        }),
        4 => (mostly_admin(), room_or_current(), target()).prop_map(|(actor, room, target)| {
            Step {
                actor,
                act: Act::Approve { room, target },
            }
        }),
        2 => (mostly_admin(), room_or_current(), target()).prop_map(|(actor, room, target)| {
            Step {
                actor,
                act: Act::Reject { room, target },
            }
        }),
        5 => (anyone(), room_or_current(), any::<bool>()).prop_map(|(actor, room, with_id)| {
            Step {
                actor,
                act: Act::Send { room, with_id },
            }
        }),
        2 => (anyone(), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::History(room),
        }),
        2 => (anyone(), room_or_current()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Members(room),
        }),
        1 => (anyone(), prop::collection::vec((room(), 0..4u64), 1..=3)).prop_map(
            |(actor, rooms)| Step {
                actor,
                act: Act::Resume(rooms),
            }
        ),
        1 => anyone().prop_map(|actor| Step {
            actor,
            act: Act::MyRooms,
        }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Step>)> {
    (3..=4usize).prop_flat_map(|users| (Just(users), prop::collection::vec(step(users), 1..=40)))
}

/// What a successful action answers on the acting socket, besides notices.
#[derive(Debug)]
enum Query {
    Nothing,
    History(Room),
    Members(Room),
    Rooms,
    CatchUp(Vec<(Room, u64)>),
}

/// A new chat message the model expects to be stored and delivered.
#[derive(Debug)]
struct ExpectedChat {
    room: Room,
    seq: u64,
    sender: usize,
    text: String,
}

/// What the model expects one step to do.
#[derive(Debug)]
struct Expected {
    /// The answer, or the error codes the contract allows.
    outcome: Result<Query, Vec<ErrorCode>>,
    /// Per socket: the notices (joinRequest, joinResponse, memberChanged, messageAck) it
    /// gets, whether pushed through the hub or returned to the acting socket.
    notes: Vec<Vec<String>>,
    chat: Option<ExpectedChat>,
}

/// The rules of `docs/protocol.md` for rooms A (admin: user 0) and B (admin: user 1),
/// written from the contract, not from `domain.rs`.
struct Model {
    users: Vec<UserId>,
    /// Memberships by (room, user); absent when the user never asked.
    status: BTreeMap<(Room, usize), MemberStatus>,
    /// Each socket's user.
    owner: Vec<usize>,
    /// Each socket's current room.
    current: Vec<Option<Room>>,
    /// Each room's stored messages, `seq` 1 first: (sender, text).
    messages: BTreeMap<Room, Vec<(usize, String)>>,
}

fn note_join_response(room: Room, status: MemberStatus) -> String {
    format!("joinResponse {room:?} {}", status.as_str())
}

fn note_join_request(user: &UserId, room: Room) -> String {
    format!("joinRequest {user} {room:?}")
}

fn note_member_changed(room: Room, user: &UserId, status: MemberStatus, is_admin: bool) -> String {
    format!(
        "memberChanged {room:?} {user} {} admin={is_admin}",
        status.as_str()
    )
}

fn note_ack(client_msg_id: &str, room: Room, seq: u64) -> String {
    format!("messageAck {client_msg_id} {room:?} seq={seq}")
}

impl Model {
    fn new(users: Vec<UserId>) -> Self {
        let owner = socket_owners(users.len());
        let mut status = BTreeMap::new();
        let mut current = vec![None; owner.len()];
        for room in Room::REAL {
            let admin = room.admin().expect("a real room has an admin");
            status.insert((room, admin), MemberStatus::Approved);
            // The creator's socket (the admin's first): the room it last created.
            current[admin] = Some(room);
        }
        Self {
            users,
            status,
            owner,
            current,
            messages: Room::REAL.into_iter().map(|r| (r, Vec::new())).collect(),
        }
    }

    fn status_of(&self, room: Room, user: usize) -> Option<MemberStatus> {
        self.status.get(&(room, user)).copied()
    }

    fn approved(&self, room: Room, user: usize) -> bool {
        self.status_of(room, user) == Some(MemberStatus::Approved)
    }

    fn is_admin(room: Room, user: usize) -> bool {
        room.admin() == Some(user)
    }

    fn last_seq(&self, room: Room) -> u64 {
        self.messages.get(&room).map_or(0, |m| m.len() as u64)
    }

    /// Text and clientMsgId of the message sent at step `index`.
    fn text_of(index: usize) -> String {
        format!("message of step {index}")
    }

    fn client_msg_id_of(index: usize) -> String {
        format!("client-{index}")
    }

    /// Pushes `note` to every socket of `user`.
    fn to_user(&self, notes: &mut [Vec<String>], user: usize, note: &str) {
        for (socket, socket_notes) in notes.iter_mut().enumerate() {
            if self.owner[socket] == user {
                socket_notes.push(note.to_owned());
            }
        }
    }

    /// A named room becomes the socket's current room; an omitted one is the current room.
    fn resolve(&mut self, socket: usize, room: Option<Room>) -> Result<Room, Vec<ErrorCode>> {
        match room {
            Some(room) => {
                self.current[socket] = Some(room);
                Ok(room)
            }
            None => self.current[socket].ok_or_else(|| vec![ErrorCode::NoRoom]),
        }
    }

    fn exists(room: Room) -> Result<(), Vec<ErrorCode>> {
        match room {
            Room::A | Room::B => Ok(()),
            Room::Bogus => Err(vec![ErrorCode::RoomNotFound]),
        }
    }

    fn require_approved(&self, user: usize, room: Room) -> Result<(), Vec<ErrorCode>> {
        Self::exists(room)?;
        if self.approved(room, user) {
            Ok(())
        } else {
            Err(vec![ErrorCode::NotMember])
        }
    }

    /// `memberChanged` to every approved member and to the user concerned.
    fn member_changed(&self, notes: &mut [Vec<String>], room: Room, user: usize) {
        let status = self.status_of(room, user).expect("a changed membership");
        let note = note_member_changed(room, &self.users[user], status, Self::is_admin(room, user));
        for (socket, socket_notes) in notes.iter_mut().enumerate() {
            let owner = self.owner[socket];
            if owner == user || self.approved(room, owner) {
                socket_notes.push(note.clone());
            }
        }
    }

    fn apply(&mut self, index: usize, step: &Step) -> Expected {
        let mut notes = vec![Vec::new(); self.owner.len()];
        let mut chat = None;
        let outcome = self.apply_inner(index, step, &mut notes, &mut chat);
        if outcome.is_err() {
            assert!(
                notes.iter().all(Vec::is_empty) && chat.is_none(),
                "the model notified someone of a refused action"
            );
        }
        Expected {
            outcome,
            notes,
            chat,
        }
    }

    fn apply_inner(
        &mut self,
        index: usize,
        step: &Step,
        notes: &mut [Vec<String>],
        chat: &mut Option<ExpectedChat>,
    ) -> Result<Query, Vec<ErrorCode>> {
        let socket = step.actor;
        let actor = self.owner[socket];
        match &step.act {
            Act::Request(room) => {
                self.current[socket] = Some(*room);
                Self::exists(*room)?;
                match self.status_of(*room, actor) {
                    None | Some(MemberStatus::Rejected) => {
                        self.status.insert((*room, actor), MemberStatus::Pending);
                        let response = note_join_response(*room, MemberStatus::Pending);
                        self.to_user(notes, actor, &response);
                        let request = note_join_request(&self.users[actor], *room);
                        if let Some(admin) = room.admin() {
                            self.to_user(notes, admin, &request);
                        }
                        self.member_changed(notes, *room, actor);
                    }
                    // The answer to this request, on this socket only.
                    Some(status) => notes[socket].push(note_join_response(*room, status)),
                }
                Ok(Query::Nothing)
            }
            Act::Approve { room, target } | Act::Reject { room, target } => {
                let approve = matches!(step.act, Act::Approve { .. });
                let room = self.resolve(socket, *room)?;
                Self::exists(room)?;
                if !(Self::is_admin(room, actor) && self.approved(room, actor)) {
                    return Err(vec![ErrorCode::NotAdmin]);
                }
                let new_status = match (approve, self.status_of(room, *target)) {
                    (
                        _,
                        None
                        | Some(MemberStatus::Left | MemberStatus::Removed | MemberStatus::Banned),
                    )
                    | (false, Some(MemberStatus::Approved)) => {
                        return Err(vec![ErrorCode::RequestNotFound]);
                    }
                    (true, Some(MemberStatus::Approved))
                    | (false, Some(MemberStatus::Rejected)) => return Ok(Query::Nothing),
                    (true, Some(MemberStatus::Pending | MemberStatus::Rejected)) => {
                        MemberStatus::Approved
                    }
                    (false, Some(MemberStatus::Pending)) => MemberStatus::Rejected,
                };
                self.status.insert((room, *target), new_status);
                self.to_user(notes, *target, &note_join_response(room, new_status));
                self.member_changed(notes, room, *target);
                Ok(Query::Nothing)
            }
            Act::Send { room, with_id } => {
                let room = self.resolve(socket, *room)?;
                self.require_approved(actor, room)?;
                let messages = self.messages.get_mut(&room).expect("a real room");
                messages.push((actor, Self::text_of(index)));
                let seq = messages.len() as u64;
                if *with_id {
                    notes[socket].push(note_ack(&Self::client_msg_id_of(index), room, seq));
                }
                *chat = Some(ExpectedChat {
                    room,
                    seq,
                    sender: actor,
                    text: Self::text_of(index),
                });
                Ok(Query::Nothing)
            }
            Act::History(room) => {
                self.current[socket] = Some(*room);
                self.require_approved(actor, *room)?;
                Ok(Query::History(*room))
            }
            Act::Members(room) => {
                let room = self.resolve(socket, *room)?;
                self.require_approved(actor, room)?;
                Ok(Query::Members(room))
            }
            Act::Resume(rooms) => {
                // The contract names no order among several refusals: any one will do.
                let refusals: Vec<ErrorCode> = rooms
                    .iter()
                    .filter_map(|(room, _)| self.require_approved(actor, *room).err())
                    .flatten()
                    .collect();
                if refusals.is_empty() {
                    Ok(Query::CatchUp(rooms.clone()))
                } else {
                    Err(refusals)
                }
            }
            Act::MyRooms => Ok(Query::Rooms),
        }
    }
}

/// The service under test with its sockets (see [`socket_owners`]) and rooms A and B.
struct World {
    service: Service,
    users: Vec<UserId>,
    /// Each socket's user.
    owner: Vec<usize>,
    sessions: Vec<SocketSession>,
    queues: Vec<Queue>,
    /// The ids of A, B and Bogus.
    rooms: BTreeMap<Room, RoomId>,
}

impl World {
    async fn new(user_count: usize) -> Self {
        let service = new_service().await;
        let mut users = Vec::new();
        for i in 0..user_count {
            users.push(add_user(&service, &format!("user{i}")).await);
        }
        let owner = socket_owners(user_count);
        let (mut sessions, mut queues): (Vec<_>, Vec<_>) = owner
            .iter()
            .map(|user| open_socket(&service, &users[*user]))
            .unzip();
        let mut rooms = BTreeMap::from([(Room::Bogus, RoomId::new(BOGUS_ROOM))]);
        for room in Room::REAL {
            let admin = room.admin().expect("a real room has an admin");
            let created = service
                .handle(
                    &mut sessions[admin],
                    ClientMessage::CreateRoom {
                        room_name: format!("{room:?}"),
                    },
                )
                .await
                .expect("room created");
            assert!(created.is_empty());
            let room_id = sessions[admin]
                .current_room
                .clone()
                .expect("the created room is current");
            rooms.insert(room, room_id);
        }
        for queue in &mut queues {
            drain(queue);
        }
        Self {
            service,
            users,
            owner,
            sessions,
            queues,
            rooms,
        }
    }

    fn room_id(&self, room: Room) -> RoomId {
        self.rooms[&room].clone()
    }

    fn label(&self, room_id: &RoomId) -> Room {
        self.rooms
            .iter()
            .find_map(|(room, id)| (id == room_id).then_some(*room))
            .unwrap_or_else(|| panic!("a frame names a room the test never used: {room_id}"))
    }

    fn target(&self, target: usize) -> UserId {
        self.users
            .get(target)
            .cloned()
            .unwrap_or_else(|| UserId::new("ghost"))
    }

    fn request(&self, index: usize, act: &Act) -> ClientMessage {
        let room = |room: &Option<Room>| room.map(|room| self.room_id(room));
        match act {
            Act::Request(r) => ClientMessage::JoinRoom(JoinRoom::Request {
                room_id: self.room_id(*r),
                reason: None,
            }),
            Act::Approve { room: r, target } => ClientMessage::JoinRoom(JoinRoom::Approve {
                room_id: room(r),
                targets: Targets::one(self.target(*target)),
            }),
            Act::Reject { room: r, target } => ClientMessage::JoinRoom(JoinRoom::Reject {
                room_id: room(r),
                targets: Targets::one(self.target(*target)),
                reason: None,
            }),
            Act::Send { room: r, with_id } => ClientMessage::SendMessage {
                message: Model::text_of(index),
                room_id: room(r),
                client_msg_id: with_id.then(|| ClientMsgId::new(Model::client_msg_id_of(index))),
            },
            Act::History(r) => ClientMessage::GetHistory {
                room_id: self.room_id(*r),
                before_seq: None,
                limit: None,
            },
            Act::Members(r) => ClientMessage::GetMembers { room_id: room(r) },
            Act::Resume(rooms) => ClientMessage::Resume {
                rooms: rooms
                    .iter()
                    .map(|(r, after_seq)| ResumeRoom {
                        room_id: self.room_id(*r),
                        after_seq: *after_seq,
                    })
                    .collect(),
            },
            Act::MyRooms => ClientMessage::MyRooms,
        }
    }

    /// A notice as the model writes it; anything else is returned as is.
    fn note(&self, message: ServerMessage) -> Result<String, ServerMessage> {
        Ok(match message {
            ServerMessage::JoinResponse {
                room_id, status, ..
            } => note_join_response(self.label(&room_id), status),
            ServerMessage::JoinRequest {
                user_id, room_id, ..
            } => note_join_request(&user_id, self.label(&room_id)),
            ServerMessage::MemberChanged {
                room_id,
                user_id,
                status,
                is_admin,
                ..
            } => note_member_changed(self.label(&room_id), &user_id, status, is_admin),
            ServerMessage::MessageAck {
                client_msg_id,
                room_id,
                seq,
                ..
            } => note_ack(client_msg_id.as_str(), self.label(&room_id), seq),
            other => return Err(other),
        })
    }
}

/// What one step did, as seen from outside the service.
struct Observed {
    /// The error code, or the answers returned to the acting socket that are not notices.
    outcome: Result<Vec<Outbound>, ErrorCode>,
    /// Per socket, as in [`Expected`].
    notes: Vec<Vec<String>>,
    /// Per socket: the chat frames it was sent.
    chats: Vec<Vec<ChatMessage>>,
}

async fn perform(world: &mut World, index: usize, step: &Step) -> Observed {
    let request = world.request(index, &step.act);
    let result = world
        .service
        .handle(&mut world.sessions[step.actor], request)
        .await;
    let sockets = world.sessions.len();
    let mut notes = vec![Vec::new(); sockets];
    let mut chats = vec![Vec::new(); sockets];
    let mut answers = Vec::new();
    // The hub queues are filled before `handle` returns (the message batcher fans a message
    // out before it acknowledges it), so a non-blocking drain sees everything.
    for socket in 0..sockets {
        for item in drain(&mut world.queues[socket]) {
            match item {
                Outbound::Chat(chat) => {
                    let message = chat_message(&chat.frame);
                    assert_eq!((&message.room_id, message.seq), (&chat.room_id, chat.seq));
                    chats[socket].push(message);
                }
                Outbound::Frame(frame) => match world.note(decode(&frame)) {
                    Ok(note) => notes[socket].push(note),
                    Err(other) => notes[socket].push(format!("unexpected push: {other:?}")),
                },
                other => notes[socket].push(format!("unexpected push: {other:?}")),
            }
        }
    }
    let outcome = match result {
        Err(error) => Err(error.code()),
        Ok(returned) => {
            for item in returned {
                if let Outbound::Frame(frame) = &item
                    && let Ok(note) = world.note(decode(frame))
                {
                    notes[step.actor].push(note);
                } else {
                    answers.push(item);
                }
            }
            Ok(answers)
        }
    };
    Observed {
        outcome,
        notes,
        chats,
    }
}

/// Checks the answer of a successful query against the model (after the step).
fn check_answer(
    world: &World,
    model: &Model,
    actor: usize,
    query: &Query,
    answers: &[Outbound],
) -> Result<(), TestCaseError> {
    let frames: Vec<ServerMessage> = answers
        .iter()
        .filter_map(|item| match item {
            Outbound::Frame(frame) => Some(decode(frame)),
            _ => None,
        })
        .collect();
    match query {
        Query::Nothing => prop_assert!(answers.is_empty(), "unexpected answers {answers:?}"),
        Query::History(room) => {
            let [
                ServerMessage::History {
                    room_id,
                    messages,
                    has_more,
                },
            ] = frames.as_slice()
            else {
                return Err(TestCaseError::fail(format!("not one history: {answers:?}")));
            };
            prop_assert_eq!(world.label(room_id), *room);
            prop_assert!(!has_more);
            let got: Vec<(u64, String, String)> = messages
                .iter()
                .map(|m| (m.seq, m.user_id.to_string(), m.message.clone()))
                .collect();
            let want: Vec<(u64, String, String)> = model.messages[room]
                .iter()
                .zip(1..)
                .map(|((sender, text), seq)| (seq, model.users[*sender].to_string(), text.clone()))
                .collect();
            prop_assert_eq!(got, want);
        }
        Query::Members(room) => check_members(world, model, *room, &frames, answers)?,
        Query::Rooms => check_rooms(world, model, actor, &frames, answers)?,
        Query::CatchUp(rooms) => {
            let got: Vec<(Room, u64)> = answers
                .iter()
                .map(|item| match item {
                    Outbound::CatchUp { room_id, after_seq } => (world.label(room_id), *after_seq),
                    other => panic!("resume answered {other:?}"),
                })
                .collect();
            prop_assert_eq!(&got, rooms);
        }
    }
    Ok(())
}

fn check_members(
    world: &World,
    model: &Model,
    room: Room,
    frames: &[ServerMessage],
    answers: &[Outbound],
) -> Result<(), TestCaseError> {
    let [
        ServerMessage::RoomMembers {
            room_id,
            room_name,
            participants,
        },
    ] = frames
    else {
        return Err(TestCaseError::fail(format!(
            "not one roomMembers: {answers:?}"
        )));
    };
    prop_assert_eq!(world.label(room_id), room);
    prop_assert_eq!(room_name, &format!("{room:?}"));
    let admin = room.admin().expect("a real room");
    prop_assert_eq!(
        participants.first().map(|p| (&p.user_id, p.is_admin)),
        Some((&model.users[admin], true)),
        "the admin comes first"
    );
    let mut got: Vec<(String, MemberStatus, bool)> = participants
        .iter()
        .map(|p| (p.user_id.to_string(), p.status, p.is_admin))
        .collect();
    got.sort_by_key(|(user, _, _)| user.clone());
    let want: Vec<(String, MemberStatus, bool)> = (0..model.users.len())
        .filter_map(|u| {
            model
                .status_of(room, u)
                .filter(|s| *s != MemberStatus::Rejected)
                .map(|s| (model.users[u].to_string(), s, Model::is_admin(room, u)))
        })
        .collect();
    prop_assert_eq!(got, want, "approved and pending users only");
    Ok(())
}

fn check_rooms(
    world: &World,
    model: &Model,
    actor: usize,
    frames: &[ServerMessage],
    answers: &[Outbound],
) -> Result<(), TestCaseError> {
    let [ServerMessage::Rooms { rooms }] = frames else {
        return Err(TestCaseError::fail(format!("not one rooms: {answers:?}")));
    };
    // The order (most recently active first) is not checked: activity times
    // within one millisecond tie.
    let mut got: Vec<(Room, String, MemberStatus, bool, u64)> = rooms
        .iter()
        .map(|r| {
            (
                world.label(&r.room_id),
                r.room_name.clone(),
                r.status,
                r.is_admin,
                r.last_seq,
            )
        })
        .collect();
    got.sort_by_key(|row| row.0);
    let want: Vec<_> = Room::REAL
        .into_iter()
        .filter_map(|room| {
            let status = model.status_of(room, actor)?;
            let last_seq = if status == MemberStatus::Approved {
                model.last_seq(room)
            } else {
                0
            };
            Some((
                room,
                format!("{room:?}"),
                status,
                Model::is_admin(room, actor),
                last_seq,
            ))
        })
        .collect();
    prop_assert_eq!(got, want, "lastSeq is 0 unless approved");
    Ok(())
}

fn check_step(
    world: &World,
    model: &Model,
    step: &Step,
    expected: Expected,
    observed: Observed,
) -> Result<(), TestCaseError> {
    // (b) Live messages go only to users approved in that room at that moment.
    for (socket, chats) in observed.chats.iter().enumerate() {
        let user = world.owner[socket];
        for chat in chats {
            prop_assert!(
                model.approved(world.label(&chat.room_id), user),
                "{} is not an approved member but socket {} was sent {:?}",
                world.users[user],
                socket,
                chat
            );
        }
    }
    // (a) The action succeeds exactly when the rules allow it, with the right code.
    match (&expected.outcome, &observed.outcome) {
        (Ok(query), Ok(answers)) => {
            check_answer(world, model, world.owner[step.actor], query, answers)?;
        }
        (Err(codes), Err(code)) => prop_assert!(
            codes.contains(code),
            "refused with {code:?}, the contract says one of {codes:?}"
        ),
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "the model expects {want:?}, the service answered {got:?}"
            )));
        }
    }
    // Notices: who is told what.
    for (socket, (mut want, mut got)) in expected.notes.into_iter().zip(observed.notes).enumerate()
    {
        want.sort();
        got.sort();
        prop_assert_eq!(got, want, "notices to socket {}", socket);
    }
    // Every socket of every approved member gets each new message exactly once; nobody
    // else gets any.
    for (socket, chats) in observed.chats.iter().enumerate() {
        let user = world.owner[socket];
        let want: Vec<(Room, u64, String, String)> = expected
            .chat
            .iter()
            .filter(|c| model.approved(c.room, user))
            .map(|c| {
                (
                    c.room,
                    c.seq,
                    model.users[c.sender].to_string(),
                    c.text.clone(),
                )
            })
            .collect();
        let got: Vec<(Room, u64, String, String)> = chats
            .iter()
            .map(|m| {
                (
                    world.label(&m.room_id),
                    m.seq,
                    m.user_id.to_string(),
                    m.message.clone(),
                )
            })
            .collect();
        prop_assert_eq!(got, want, "messages to socket {}", socket);
    }
    Ok(())
}

/// (c) Storage holds exactly the model's memberships and message counts.
async fn check_storage(world: &World, model: &Model) -> Result<(), TestCaseError> {
    let storage = world.service.storage();
    for room in Room::REAL {
        let mut stored: Vec<(String, MemberStatus, bool)> = storage
            .members(&world.room_id(room))
            .await
            .expect("members")
            .into_iter()
            .map(|p| (p.user_id.to_string(), p.status, p.is_admin))
            .collect();
        stored.sort_by_key(|(user, _, _)| user.clone());
        let want: Vec<(String, MemberStatus, bool)> = (0..model.users.len())
            .filter_map(|u| {
                model
                    .status_of(room, u)
                    .map(|s| (model.users[u].to_string(), s, Model::is_admin(room, u)))
            })
            .collect();
        prop_assert_eq!(stored, want, "stored memberships of {:?}", room);
        let last_seq = storage
            .room(&world.room_id(room))
            .await
            .expect("room")
            .expect("the room exists")
            .last_seq;
        prop_assert_eq!(last_seq, model.last_seq(room), "last seq of {:?}", room);
    }
    Ok(())
}

async fn run_scenario(user_count: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut world = World::new(user_count).await;
    let mut model = Model::new(world.users.clone());
    assert_eq!(world.owner, model.owner);
    for (index, step) in steps.iter().enumerate() {
        let expected = model.apply(index, step);
        let observed = perform(&mut world, index, step).await;
        check_step(&world, &model, step, expected, observed)
            .map_err(|e| TestCaseError::fail(format!("step {index} {step:?}: {e}")))?;
        check_storage(&world, &model)
            .await
            .map_err(|e| TestCaseError::fail(format!("after step {index} {step:?}: {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn no_action_sequence_lets_outsiders_in((user_count, steps) in scenario()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_scenario(user_count, &steps))?;
    }
}

// =====================================================================================
// 2. `seq` stays gapless and ordered under concurrent senders.
// =====================================================================================

/// One message a sender sends, in order.
#[derive(Clone, Debug)]
enum Kind {
    /// No clientMsgId.
    Plain,
    /// A fresh clientMsgId.
    WithId,
    /// A fresh clientMsgId, sent on both of the sender's sockets at once (a retry while
    /// the first attempt is still in flight).
    Twice,
    /// The exact frame of earlier message `original` (a `WithId` or `Twice`) again, after
    /// it was acknowledged, on the first or second socket.
    Retry { original: usize, second: bool },
}

#[derive(Clone, Debug)]
struct Planned {
    room: usize,
    kind: Kind,
}

impl Planned {
    fn is_new(&self) -> bool {
        !matches!(self.kind, Kind::Retry { .. })
    }

    fn has_id(&self) -> bool {
        matches!(self.kind, Kind::WithId | Kind::Twice)
    }
}

fn sender_plan(rooms: usize) -> impl Strategy<Value = Vec<Planned>> {
    prop::collection::vec((0..rooms, 0..5u8, any::<Index>(), any::<bool>()), 1..=30).prop_map(
        |raw| {
            let mut plan: Vec<Planned> = Vec::with_capacity(raw.len());
            for (room, kind, pick, second) in raw {
                let originals: Vec<usize> = (0..plan.len()).filter(|i| plan[*i].has_id()).collect();
                let planned = match kind {
                    0 | 1 => Planned {
                        room,
                        kind: Kind::Plain,
                    },
                    2 => Planned {
                        room,
                        kind: Kind::WithId,
                    },
                    3 => Planned {
                        room,
                        kind: Kind::Twice,
                    },
                    _ if originals.is_empty() => Planned {
                        room,
                        kind: Kind::WithId,
                    },
                    _ => {
                        let original = *pick.get(&originals);
                        Planned {
                            room: plan[original].room,
                            kind: Kind::Retry { original, second },
                        }
                    }
                };
                plan.push(planned);
            }
            plan
        },
    )
}

fn concurrent_scenario() -> impl Strategy<Value = (usize, Vec<Vec<Planned>>)> {
    (1..=4usize).prop_flat_map(|rooms| {
        (
            Just(rooms),
            prop::collection::vec(sender_plan(rooms), 2..=8),
        )
    })
}

fn text_of(sender: usize, index: usize) -> String {
    format!("sender {sender} message {index}")
}

/// An acknowledgement as returned to the sending socket.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ack {
    room_id: RoomId,
    seq: u64,
    message_id: MessageId,
}

fn acks_of(answers: Vec<Outbound>, client_msg_id: Option<&str>) -> Vec<Ack> {
    answers
        .into_iter()
        .map(|item| {
            let Outbound::Frame(frame) = item else {
                panic!("sendMessage answered {item:?}");
            };
            match decode(&frame) {
                ServerMessage::MessageAck {
                    client_msg_id: acked,
                    room_id,
                    seq,
                    message_id,
                    ..
                } => {
                    assert_eq!(Some(acked.as_str()), client_msg_id, "acked the wrong id");
                    Ack {
                        room_id,
                        seq,
                        message_id,
                    }
                }
                other => panic!("sendMessage answered {other:?}"),
            }
        })
        .collect()
}

/// One sender's two sockets.
struct Sender {
    index: usize,
    first: SocketSession,
    second: SocketSession,
}

/// Sends the plan in order; returns, per planned message, the acks its sends got.
async fn send_all(
    service: Service,
    mut sender: Sender,
    rooms: Vec<RoomId>,
    plan: Vec<Planned>,
) -> Vec<Vec<Ack>> {
    let mut acks = Vec::with_capacity(plan.len());
    for (index, planned) in plan.iter().enumerate() {
        let original = match planned.kind {
            Kind::Retry { original, .. } => original,
            _ => index,
        };
        let client_msg_id = plan[original]
            .has_id()
            .then(|| format!("sender {} id {original}", sender.index));
        let request = ClientMessage::SendMessage {
            message: text_of(sender.index, original),
            room_id: Some(rooms[planned.room].clone()),
            client_msg_id: client_msg_id.clone().map(ClientMsgId::new),
        };
        let id = client_msg_id.as_deref();
        let got = match planned.kind {
            Kind::Plain | Kind::WithId | Kind::Retry { second: false, .. } => {
                acks_of(send(&service, &mut sender.first, request).await, id)
            }
            Kind::Retry { second: true, .. } => {
                acks_of(send(&service, &mut sender.second, request).await, id)
            }
            Kind::Twice => {
                let (a, b) = tokio::join!(
                    send(&service, &mut sender.first, request.clone()),
                    send(&service, &mut sender.second, request),
                );
                let mut both = acks_of(a, id);
                both.extend(acks_of(b, id));
                both
            }
        };
        acks.push(got);
    }
    acks
}

async fn send(
    service: &Service,
    session: &mut SocketSession,
    request: ClientMessage,
) -> Vec<Outbound> {
    service
        .handle(session, request)
        .await
        .unwrap_or_else(|e| panic!("an approved member's sendMessage failed: {e}"))
}

/// Every message of the room, paged through `getHistory`.
async fn full_history(
    service: &Service,
    session: &mut SocketSession,
    room: &RoomId,
) -> Vec<ChatMessage> {
    let mut all = Vec::new();
    let mut before_seq = None;
    loop {
        let answers = service
            .handle(
                session,
                ClientMessage::GetHistory {
                    room_id: room.clone(),
                    before_seq,
                    limit: Some(100),
                },
            )
            .await
            .expect("history");
        let [Outbound::Frame(frame)] = answers.as_slice() else {
            panic!("history answered {answers:?}");
        };
        let ServerMessage::History {
            messages, has_more, ..
        } = decode(frame)
        else {
            panic!("history answered {frame}");
        };
        before_seq = messages.first().map(|m| m.seq);
        let mut page = messages;
        page.append(&mut all);
        all = page;
        if !has_more {
            return all;
        }
    }
}

/// Creates the rooms (sender 0 is their admin) and makes every sender an approved
/// member of each, and `outsider` a pending one.
async fn setup_rooms(
    service: &Service,
    sessions: &mut [SocketSession],
    outsider: &mut SocketSession,
    room_count: usize,
) -> Vec<RoomId> {
    let mut rooms = Vec::new();
    for r in 0..room_count {
        service
            .handle(
                &mut sessions[0],
                ClientMessage::CreateRoom {
                    room_name: format!("room {r}"),
                },
            )
            .await
            .expect("room created");
        let room_id = sessions[0].current_room.clone().expect("current room");
        for s in 1..sessions.len() {
            service
                .handle(
                    &mut sessions[s],
                    ClientMessage::JoinRoom(JoinRoom::Request {
                        room_id: room_id.clone(),
                        reason: None,
                    }),
                )
                .await
                .expect("join request");
            let target_user_id = sessions[s].user_id.clone();
            service
                .handle(
                    &mut sessions[0],
                    ClientMessage::JoinRoom(JoinRoom::Approve {
                        room_id: Some(room_id.clone()),
                        targets: Targets::one(target_user_id),
                    }),
                )
                .await
                .expect("approval");
        }
        service
            .handle(
                outsider,
                ClientMessage::JoinRoom(JoinRoom::Request {
                    room_id: room_id.clone(),
                    reason: None,
                }),
            )
            .await
            .expect("outsider's join request");
        rooms.push(room_id);
    }
    rooms
}

async fn run_concurrent(room_count: usize, plans: Vec<Vec<Planned>>) -> Result<(), TestCaseError> {
    let service = new_service().await;
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    let mut queues = Vec::new();
    for s in 0..plans.len() {
        let user = add_user(&service, &format!("sender{s}")).await;
        let (first, first_queue) = open_socket(&service, &user);
        let (second, second_queue) = open_socket(&service, &user);
        firsts.push(first);
        seconds.push(second);
        queues.push((s, first_queue));
        queues.push((s, second_queue));
    }
    let outsider_user = add_user(&service, "outsider").await;
    let (mut outsider, mut outsider_queue) = open_socket(&service, &outsider_user);
    let rooms = setup_rooms(&service, &mut firsts, &mut outsider, room_count).await;
    for (_, queue) in &mut queues {
        drain(queue);
    }
    drain(&mut outsider_queue);

    let tasks: Vec<_> = firsts
        .into_iter()
        .zip(seconds)
        .zip(plans.iter().cloned())
        .enumerate()
        .map(|(index, ((first, second), plan))| {
            let sender = Sender {
                index,
                first,
                second,
            };
            tokio::spawn(send_all(service.clone(), sender, rooms.clone(), plan))
        })
        .collect();
    let mut acks = Vec::new();
    for task in tasks {
        acks.push(task.await.expect("sender task"));
    }

    // Everything each member socket was pushed while the senders ran.
    let pushed: Vec<(usize, Vec<Outbound>)> = queues
        .iter_mut()
        .map(|(sender, queue)| (*sender, drain(queue)))
        .collect();
    let (mut reader, _reader_queue) = open_socket(&service, &UserId::new("sender0"));
    for (r, room_id) in rooms.iter().enumerate() {
        let history = full_history(&service, &mut reader, room_id).await;
        check_room(r, room_id, &history, &plans, &acks)?;
        // Every socket of every member saw the room in `seq` order, each message once.
        for (sender, items) in &pushed {
            let seen: Vec<ChatMessage> = items
                .iter()
                .filter_map(|item| match item {
                    Outbound::Chat(chat) if chat.room_id == *room_id => {
                        let message = chat_message(&chat.frame);
                        assert_eq!(message.seq, chat.seq);
                        Some(message)
                    }
                    Outbound::Chat(_) => None,
                    other => panic!("a member's socket was pushed {other:?}"),
                })
                .collect();
            prop_assert_eq!(
                &seen,
                &history,
                "room {} as seen by a socket of sender {}",
                r,
                sender
            );
        }
    }
    prop_assert!(
        drain(&mut outsider_queue)
            .iter()
            .all(|item| !matches!(item, Outbound::Chat(_))),
        "a pending user was sent messages"
    );
    Ok(())
}

fn check_room(
    r: usize,
    room_id: &RoomId,
    history: &[ChatMessage],
    plans: &[Vec<Planned>],
    acks: &[Vec<Vec<Ack>>],
) -> Result<(), TestCaseError> {
    let expected = plans
        .iter()
        .flatten()
        .filter(|p| p.room == r && p.is_new())
        .count();
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    prop_assert_eq!(
        seqs,
        (1..=expected as u64).collect::<Vec<_>>(),
        "room {} seqs",
        r
    );
    let by_text: BTreeMap<&str, &ChatMessage> =
        history.iter().map(|m| (m.message.as_str(), m)).collect();
    prop_assert_eq!(by_text.len(), history.len(), "a message stored twice");
    for (sender, plan) in plans.iter().enumerate() {
        let mut last_seq = 0;
        for (index, planned) in plan.iter().enumerate() {
            if planned.room != r {
                continue;
            }
            let original = match planned.kind {
                Kind::Retry { original, .. } => original,
                _ => index,
            };
            let text = text_of(sender, original);
            let Some(stored) = by_text.get(text.as_str()) else {
                return Err(TestCaseError::fail(format!("{text:?} not stored")));
            };
            prop_assert_eq!(stored.user_id.as_str(), format!("sender{sender}"));
            if planned.is_new() {
                prop_assert!(
                    stored.seq > last_seq,
                    "sender {}'s message {} stored at seq {} after seq {}",
                    sender,
                    index,
                    stored.seq,
                    last_seq
                );
                last_seq = stored.seq;
            }
            let want_acks = match planned.kind {
                Kind::Plain => 0,
                Kind::WithId | Kind::Retry { .. } => 1,
                Kind::Twice => 2,
            };
            let got = &acks[sender][index];
            prop_assert_eq!(
                got.len(),
                want_acks,
                "acks of sender {} message {}",
                sender,
                index
            );
            for ack in got {
                prop_assert_eq!(
                    ack,
                    &Ack {
                        room_id: room_id.clone(),
                        seq: stored.seq,
                        message_id: stored.message_id.clone(),
                    },
                    "ack of sender {} message {} (a retry gets the original's)",
                    sender,
                    index
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn seq_is_gapless_under_concurrent_senders((room_count, plans) in concurrent_scenario()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_concurrent(room_count, plans))?;
    }
}
