//! Property tests of the rules in `docs/protocol.md`, run against the service in-process
//! (no sockets): `Service::handle` for the actions, hub queues for what each socket is
//! sent, a fresh in-memory SQLite database per case.
//!
//! 1. `no_action_sequence_lets_outsiders_in`: random sequences of up to 40 actions by
//!    3-4 users (one of them with two sockets) in two rooms with different admins, plus
//!    a room id that names no room, each case starting with users pending, approved,
//!    rejected or banned in each room, checked step by step against a model of the rules
//!    written from the contract: knocks (with a message to the admins), withdrawals,
//!    approvals and rejections (of one user or several, with a reason), leaving, removals,
//!    bans and unbans, roles, deleting a room, messages, history, member lists, resume,
//!    `markRead` (the marker moves forward only, `readMarker` to the user's sockets) and
//!    `myRooms` (with each row's read marker, unread and pending counts). Each step checks the action's success or error code, every notice and
//!    live message each socket is sent (reasons included, and to whom), each query's
//!    answer, and the stored memberships with their reasons; and, explicitly, that
//!    nobody who is not an approved member of a room after the step was sent anything of
//!    it in that step (no message, no member change other than their own, no history, no
//!    member list, no catch-up). Half the cases run with a re-knock cooldown of an hour
//!    (a rejected user's knock is refused for the whole case), half with none (they may
//!    knock again at once): the model has no clock, so those are the two it can predict.
//! 2. `seq_is_gapless_under_concurrent_senders`: many senders at once, with retries;
//!    `seq` is gapless, each sender's order is kept, retries are acknowledged with the
//!    same `seq`, and every member's socket sees each room in `seq` order exactly once.
//! 3. `edits_and_deletions_keep_the_room_log_gapless_and_delivered_once`: random sends,
//!    edits and deletions by an admin and two members, each answered as the rules say;
//!    the room's log numbers them 1..N, each member's socket is sent each entry once, in
//!    order, and history reads as the model does.
//! 4. `invite_uses_count_requests_made_and_never_pass_max_uses`: random knocks by an
//!    invite link and by room id, withdrawals, decisions, bans, a revoke and the
//!    invite-only setting; each answer, the link's stored `uses` (one per request made,
//!    never past `maxUses`) and every membership agree with a model of the contract.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use knock_protocol::{
    ChatMessage, ClientMessage, ClientMsgId, ErrorCode, InviteCode, JoinRoom, MemberStatus,
    MessageId, ResumeRoom, Role, RoomId, ServerMessage, Targets, UserId, limits,
};
use knock_server::{
    access::RoomAccess,
    batcher::{MembershipBatcher, MessageBatcher},
    domain::RuleError,
    error::ServiceError,
    fanout::Fanout,
    gateway::{Hub, Outbound, SocketQueue as Queue},
    service::{
        AccountPolicy, ActionRates, DEFAULT_SESSION_LIFETIME, Limits, Service, SocketSession,
    },
    storage,
    throttle::Rate,
};
use proptest::{prelude::*, sample::Index, test_runner::TestCaseError};

/// A well-formed room id that names no room.
const BOGUS_ROOM: &str = "00000000-0000-4000-8000-000000000000";

/// The re-knock cooldown of the cases that have one: longer than any case runs.
const LONG_COOLDOWN_SECS: u64 = 3_600;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Rates so high that rate limiting never interferes; the given re-knock cooldown.
fn no_limits(knock_cooldown_secs: u64) -> Limits {
    let unlimited = Rate {
        per_second: 1e9,
        burst: 1e9,
    };
    Limits::new(unlimited, 1000, knock_cooldown_secs)
        .with_action_rates(ActionRates {
            create_room: unlimited,
            knock: unlimited,
            read: unlimited,
            search: unlimited,
        })
        // One `typing` per user and room per case, however long the case takes.
        .with_typing_throttle(Rate {
            per_second: 1e-9,
            burst: 1.0,
        })
}

async fn new_service(knock_cooldown_secs: u64) -> Service {
    let storage = storage::open("sqlite::memory:")
        .await
        .expect("in-memory storage");
    let fanout = Fanout::local(Arc::new(Hub::new()));
    let access = RoomAccess::new(storage.clone());
    let (messages, _task) = MessageBatcher::spawn(storage.clone(), access.clone(), fanout.clone());
    let (memberships, _task) = MembershipBatcher::spawn(storage.clone());
    Service::new(
        storage,
        access,
        fanout,
        messages,
        memberships,
        no_limits(knock_cooldown_secs),
        AccountPolicy::new(1, 64, DEFAULT_SESSION_LIFETIME).expect("a hashing thread"),
    )
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
// 1. No sequence of actions lets a user who is not approved read or receive a room.
// =====================================================================================

/// Which room an action names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Room {
    /// Created by user 0, its first admin.
    A,
    /// Created by user 1, its first admin.
    B,
    /// A well-formed id that names no room.
    Bogus,
}

impl Room {
    const REAL: [Room; 2] = [Room::A, Room::B];

    /// The room's creator.
    fn creator(self) -> Option<usize> {
        match self {
            Room::A => Some(0),
            Room::B => Some(1),
            Room::Bogus => None,
        }
    }
}

/// Whom a decision names: one user (`targetUserId`) or several (`targetUserIds`). A
/// target equal to the number of users names a user that does not exist.
#[derive(Clone, Debug)]
enum Whom {
    One(usize),
    Many(Vec<usize>),
}

impl Whom {
    fn targets(&self) -> Vec<usize> {
        match self {
            Whom::One(target) => vec![*target],
            Whom::Many(targets) => targets.clone(),
        }
    }
}

/// One action. `reason: true` sends a reason (a request's message to the admins, or an
/// admin's reason) made from the step's index. A `target` equal to the number of users
/// names a user that does not exist.
#[derive(Clone, Debug)]
enum Act {
    Request {
        room: Room,
        reason: bool,
    },
    Cancel(Room),
    Approve {
        room: Option<Room>,
        whom: Whom,
    },
    Reject {
        room: Option<Room>,
        whom: Whom,
        reason: bool,
    },
    Leave(Room),
    Remove {
        room: Room,
        target: usize,
        reason: bool,
    },
    Ban {
        room: Room,
        target: usize,
        reason: bool,
    },
    Unban {
        room: Room,
        target: usize,
        reason: bool,
    },
    SetRole {
        room: Room,
        target: usize,
        admin: bool,
    },
    Delete(Room),
    Send {
        room: Option<Room>,
        with_id: bool,
    },
    History(Room),
    Members(Option<Room>),
    Resume(Vec<(Room, u64)>),
    MyRooms,
    /// A search of every room for a word each message of the case holds.
    Search,
    /// `markRead` of the room up to this seq.
    MarkRead {
        room: Room,
        seq: u64,
    },
    Typing(Room),
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

/// Any socket (sockets 0..=users; user 1 has two).
fn anyone(users: usize) -> impl Strategy<Value = usize> {
    0..=users
}

/// An admin's action is mostly, but not only, tried by a socket of the room's creator
/// (or, for the current room, of either creator), so that memberships do change.
fn mostly_admin(users: usize, room: Option<Room>) -> BoxedStrategy<usize> {
    match room.and_then(Room::creator) {
        Some(creator) => prop_oneof![3 => Just(creator), 1 => 0..=users].boxed(),
        None => prop_oneof![2 => Just(0), 2 => Just(1), 1 => 0..=users].boxed(),
    }
}

/// A named room and a socket to act in it as its admin.
fn admin_in(users: usize) -> impl Strategy<Value = (usize, Room)> {
    room().prop_flat_map(move |room| (mostly_admin(users, Some(room)), Just(room)))
}

/// A named or the current room, and a socket to act in it as its admin.
fn admin_in_current(users: usize) -> impl Strategy<Value = (usize, Option<Room>)> {
    room_or_current().prop_flat_map(move |room| (mostly_admin(users, room), Just(room)))
}

/// Any user, sometimes one who does not exist (index `users`).
fn target(users: usize) -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..users, 1 => Just(users)]
}

fn whom(users: usize) -> impl Strategy<Value = Whom> {
    prop_oneof![
        3 => target(users).prop_map(Whom::One),
        1 => prop::sample::subsequence((0..=users).collect::<Vec<_>>(), 1..=3).prop_map(Whom::Many),
    ]
}

fn step(users: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => knocks_and_decisions(users),
        5 => admin_actions(users),
        8 => reads_and_sends(users),
    ]
}

fn knocks_and_decisions(users: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (anyone(users), room(), any::<bool>()).prop_map(|(actor, room, reason)| Step {
            actor,
            act: Act::Request { room, reason },
        }),
        2 => (anyone(users), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Cancel(room),
        }),
        4 => (admin_in_current(users), whom(users)).prop_map(|((actor, room), whom)| Step {
            actor,
            act: Act::Approve { room, whom },
        }),
        2 => (admin_in_current(users), whom(users), any::<bool>()).prop_map(
            |((actor, room), whom, reason)| Step {
                actor,
                act: Act::Reject { room, whom, reason },
            }
        ),
        1 => (anyone(users), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Leave(room),
        }),
    ]
}

/// Deleting a room is rare (about one case in five), so that most cases keep both rooms
/// for all their steps.
fn admin_actions(users: usize) -> impl Strategy<Value = Step> {
    let on_user = move || (admin_in(users), target(users), any::<bool>());
    prop_oneof![
        4 => on_user().prop_map(|((actor, room), target, reason)| Step {
            actor,
            act: Act::Remove { room, target, reason },
        }),
        2 => on_user().prop_map(|((actor, room), target, reason)| Step {
            actor,
            act: Act::Ban { room, target, reason },
        }),
        3 => on_user().prop_map(|((actor, room), target, reason)| Step {
            actor,
            act: Act::Unban { room, target, reason },
        }),
        4 => on_user().prop_map(|((actor, room), target, admin)| Step {
            actor,
            act: Act::SetRole { room, target, admin },
        }),
        1 => admin_in(users).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Delete(room),
        }),
    ]
}

fn reads_and_sends(users: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (anyone(users), room_or_current(), any::<bool>()).prop_map(|(actor, room, with_id)| {
            Step {
                actor,
                act: Act::Send { room, with_id },
            }
        }),
        2 => (anyone(users), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::History(room),
        }),
        2 => (anyone(users), room_or_current()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Members(room),
        }),
        1 => (anyone(users), prop::collection::vec((room(), 0..4u64), 1..=3)).prop_map(
            |(actor, rooms)| Step {
                actor,
                act: Act::Resume(rooms),
            }
        ),
        1 => anyone(users).prop_map(|actor| Step {
            actor,
            act: Act::MyRooms,
        }),
        1 => anyone(users).prop_map(|actor| Step {
            actor,
            act: Act::Search,
        }),
        2 => (anyone(users), room(), 0..8u64).prop_map(|(actor, room, seq)| Step {
            actor,
            act: Act::MarkRead { room, seq },
        }),
        1 => (anyone(users), room()).prop_map(|(actor, room)| Step {
            actor,
            act: Act::Typing(room),
        }),
    ]
}

/// The reason every start is made with: a request's message, a rejection's or a ban's
/// reason.
const START_REASON: &str = "reason of the start";

/// Where a user stands in a room when a case starts (its creator is its admin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Stranger,
    Pending,
    Approved,
    Rejected,
    Banned,
}

impl Start {
    fn status(self) -> Option<MemberStatus> {
        match self {
            Start::Stranger => None,
            Start::Pending => Some(MemberStatus::Pending),
            Start::Approved => Some(MemberStatus::Approved),
            Start::Rejected => Some(MemberStatus::Rejected),
            Start::Banned => Some(MemberStatus::Banned),
        }
    }
}

/// One case: its users, its cooldown, where each user starts in each room, its steps.
#[derive(Clone, Debug)]
struct Case {
    users: usize,
    /// A re-knock cooldown longer than the case (else none).
    long_cooldown: bool,
    /// Per room (A, B) and user: where they start; the creator's entry is not used.
    starts: Vec<[Start; 2]>,
    steps: Vec<Step>,
}

impl Case {
    /// Who starts where, creators aside: (room, user, start).
    fn starts(&self) -> impl Iterator<Item = (Room, usize, Start)> + '_ {
        Room::REAL
            .into_iter()
            .enumerate()
            .flat_map(move |(r, room)| {
                (0..self.users)
                    .filter(move |user| room.creator() != Some(*user))
                    .map(move |user| (room, user, self.starts[user][r]))
            })
    }
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        3 => Just(Start::Stranger),
        2 => Just(Start::Pending),
        3 => Just(Start::Approved),
        1 => Just(Start::Rejected),
        2 => Just(Start::Banned),
    ]
}

/// Cases start with memberships of every kind (made through the service before the
/// first step), so that short sequences reach removals, roles, unbans and cooldowns.
fn scenario() -> impl Strategy<Value = Case> {
    (3..=4usize, any::<bool>()).prop_flat_map(|(users, long_cooldown)| {
        (
            prop::collection::vec([start(), start()], users),
            prop::collection::vec(step(users), 1..=40),
        )
            .prop_map(move |(starts, steps)| Case {
                users,
                long_cooldown,
                starts,
                steps,
            })
    })
}

/// What a successful action answers on the acting socket, besides notices.
#[derive(Debug)]
enum Query {
    Nothing,
    History(Room),
    Members(Room),
    Rooms,
    /// Per room named (once each), caught up from that `afterSeq` or refused with that code.
    CatchUp(Vec<(Room, Result<u64, ErrorCode>)>),
    /// The messages of every room the user is an approved member of, newest first.
    Search,
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
    /// Per socket: the notices (joinRequest, joinResponse, memberChanged, roomDeleted,
    /// messageAck, a decision's error about one of its targets) it gets, whether pushed
    /// through the hub or returned to the acting socket.
    notes: Vec<Vec<String>>,
    chat: Option<ExpectedChat>,
}

fn note_join_response(room: Room, status: MemberStatus, reason: Option<&str>) -> String {
    format!(
        "joinResponse {room:?} {} reason={reason:?}",
        status.as_str()
    )
}

fn note_join_request(user: &UserId, room: Room, reason: Option<&str>) -> String {
    format!("joinRequest {user} {room:?} reason={reason:?}")
}

fn note_member_changed(
    room: Room,
    user: &UserId,
    status: MemberStatus,
    is_admin: bool,
    reason: Option<&str>,
) -> String {
    format!(
        "memberChanged {room:?} {user} {} admin={is_admin} reason={reason:?}",
        status.as_str()
    )
}

fn note_typing(room: Room, user: &UserId) -> String {
    format!("typing {room:?} {user}")
}

fn note_room_deleted(room: Room) -> String {
    format!("roomDeleted {room:?}")
}

fn note_read_marker(room: Room, seq: u64) -> String {
    format!("readMarker {room:?} seq={seq}")
}

fn note_ack(client_msg_id: &str, room: Room, seq: u64) -> String {
    format!("messageAck {client_msg_id} {room:?} seq={seq}")
}

/// An error of a decision on several users, about one of them.
fn note_target_error(code: ErrorCode, target: &UserId) -> String {
    format!("error {} joinRoom target={target}", code.as_str())
}

/// An admin's decision on a request, as the model applies it.
#[derive(Clone, Copy, Debug)]
enum Verdict<'a> {
    Approve,
    /// With the admin's reason, if any.
    Reject(Option<&'a str>),
}

/// The rules of `docs/protocol.md` for rooms A and B, written from the contract, not from
/// `domain.rs`.
struct Model {
    users: Vec<UserId>,
    /// Memberships by (room, user); absent when the user never asked (or the room is gone).
    status: BTreeMap<(Room, usize), MemberStatus>,
    /// The admins of each room (always approved members).
    admins: BTreeSet<(Room, usize)>,
    /// The reason kept with each membership: a request's message, or an admin's reason.
    reasons: BTreeMap<(Room, usize), String>,
    /// Rooms that were deleted (by `deleteRoom`, or by their last member leaving).
    deleted: BTreeSet<Room>,
    /// Whether a rejected user's knock is refused (the case's cooldown outlasts it) or
    /// allowed at once (no cooldown).
    long_cooldown: bool,
    /// Each socket's user.
    owner: Vec<usize>,
    /// Each socket's current room.
    current: Vec<Option<Room>>,
    /// Each room's stored messages, `seq` 1 first: (sender, text).
    messages: BTreeMap<Room, Vec<(usize, String)>>,
    /// The status the user of the last change [`Model::set`] stored had before it.
    before_last_set: Option<MemberStatus>,
    /// Read markers by (room, user): 0 until set; the room's newest seq on approval, then
    /// moved forward by `markRead` (never back, never past the newest seq).
    read: BTreeMap<(Room, usize), u64>,
    /// (room, user) pairs whose `typing` was forwarded: the next ones are dropped.
    typed: BTreeSet<(Room, usize)>,
}

impl Model {
    fn new(users: Vec<UserId>, case: &Case) -> Self {
        let owner = socket_owners(users.len());
        let mut status = BTreeMap::new();
        let mut admins = BTreeSet::new();
        let mut current = vec![None; owner.len()];
        for room in Room::REAL {
            let creator = room.creator().expect("a real room has a creator");
            status.insert((room, creator), MemberStatus::Approved);
            admins.insert((room, creator));
            // The creator's socket (the creator's first): the room it last created.
            current[creator] = Some(room);
        }
        let mut reasons = BTreeMap::new();
        for (room, user, start) in case.starts() {
            if let Some(start) = start.status() {
                status.insert((room, user), start);
                // Every start is made with a reason; an approval clears it.
                if start != MemberStatus::Approved {
                    reasons.insert((room, user), START_REASON.to_owned());
                }
            }
        }
        Self {
            users,
            status,
            admins,
            reasons,
            deleted: BTreeSet::new(),
            long_cooldown: case.long_cooldown,
            owner,
            current,
            messages: Room::REAL.into_iter().map(|r| (r, Vec::new())).collect(),
            before_last_set: None,
            read: BTreeMap::new(),
            typed: BTreeSet::new(),
        }
    }

    fn status_of(&self, room: Room, user: usize) -> Option<MemberStatus> {
        self.status.get(&(room, user)).copied()
    }

    fn approved(&self, room: Room, user: usize) -> bool {
        self.status_of(room, user) == Some(MemberStatus::Approved)
    }

    fn is_admin(&self, room: Room, user: usize) -> bool {
        self.admins.contains(&(room, user))
    }

    fn reason_kept(&self, room: Room, user: usize) -> Option<String> {
        self.reasons.get(&(room, user)).cloned()
    }

    fn approved_count(&self, room: Room) -> usize {
        (0..self.users.len())
            .filter(|u| self.approved(room, *u))
            .count()
    }

    fn admin_count(&self, room: Room) -> usize {
        self.admins.iter().filter(|(r, _)| *r == room).count()
    }

    fn last_seq(&self, room: Room) -> u64 {
        self.messages.get(&room).map_or(0, |m| m.len() as u64)
    }

    /// Text and clientMsgId of the message sent at step `index`, and its reason.
    fn text_of(index: usize) -> String {
        format!("message of step {index}")
    }

    fn client_msg_id_of(index: usize) -> String {
        format!("client-{index}")
    }

    fn reason_of(index: usize) -> String {
        format!("reason of step {index}")
    }

    /// Stores a membership change: status, role and the reason kept with it.
    fn set(
        &mut self,
        room: Room,
        user: usize,
        status: MemberStatus,
        admin: bool,
        reason: Option<&str>,
    ) {
        assert!(
            !admin || status == MemberStatus::Approved,
            "only approved members are admins"
        );
        self.before_last_set = self.status.insert((room, user), status);
        if status == MemberStatus::Approved && self.before_last_set != Some(status) {
            let newest = self.last_seq(room);
            let marker = self.read.entry((room, user)).or_insert(0);
            *marker = (*marker).max(newest);
        }
        if admin {
            self.admins.insert((room, user));
        } else {
            self.admins.remove(&(room, user));
        }
        match reason {
            Some(reason) => self.reasons.insert((room, user), reason.to_owned()),
            None => self.reasons.remove(&(room, user)),
        };
    }

    /// Pushes `note` to every socket whose user `to` names.
    fn tell(&self, notes: &mut [Vec<String>], to: impl Fn(usize) -> bool, note: &str) {
        for (socket, socket_notes) in notes.iter_mut().enumerate() {
            if to(self.owner[socket]) {
                socket_notes.push(note.to_owned());
            }
        }
    }

    /// A named room becomes the socket's current room; an omitted one is the current room.
    /// A deleted current room is refused as deleted, or as no room at all (the contract
    /// does not say whether deleting a room is naming none).
    fn resolve(&mut self, socket: usize, room: Option<Room>) -> Result<Room, Vec<ErrorCode>> {
        match room {
            Some(room) => {
                self.current[socket] = Some(room);
                Ok(room)
            }
            None => match self.current[socket] {
                None => Err(vec![ErrorCode::NoRoom]),
                Some(room) if self.deleted.contains(&room) => {
                    Err(vec![ErrorCode::RoomNotFound, ErrorCode::NoRoom])
                }
                Some(room) => Ok(room),
            },
        }
    }

    fn exists(&self, room: Room) -> Result<(), Vec<ErrorCode>> {
        if room == Room::Bogus || self.deleted.contains(&room) {
            Err(vec![ErrorCode::RoomNotFound])
        } else {
            Ok(())
        }
    }

    fn require_approved(&self, user: usize, room: Room) -> Result<(), Vec<ErrorCode>> {
        self.exists(room)?;
        if self.approved(room, user) {
            Ok(())
        } else {
            Err(vec![ErrorCode::NotMember])
        }
    }

    fn require_admin(&self, user: usize, room: Room) -> Result<(), Vec<ErrorCode>> {
        self.exists(room)?;
        if self.is_admin(room, user) {
            Ok(())
        } else {
            Err(vec![ErrorCode::NotAdmin])
        }
    }

    /// `memberChanged` about `user` (as the last [`Model::set`] stored it) to the admins
    /// and the user, with the reason; and, when the change is to a row members see
    /// (approved or pending, before or after), to the other approved members without it.
    fn member_changed(
        &self,
        notes: &mut [Vec<String>],
        room: Room,
        user: usize,
        reason: Option<&str>,
    ) {
        let status = self.status_of(room, user).expect("a changed membership");
        let admin = self.is_admin(room, user);
        let name = &self.users[user];
        let with_reason = note_member_changed(room, name, status, admin, reason);
        let without = note_member_changed(room, name, status, admin, None);
        self.tell(notes, |u| u == user || self.is_admin(room, u), &with_reason);
        let listed = |status: Option<MemberStatus>| {
            matches!(status, Some(MemberStatus::Approved | MemberStatus::Pending))
        };
        // A ban ahead of a knock, a ban lifted: only the admins see banned users.
        if listed(self.before_last_set) || listed(Some(status)) {
            self.tell(
                notes,
                |u| u != user && !self.is_admin(room, u) && self.approved(room, u),
                &without,
            );
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
        let reason = |given: bool| given.then(|| Self::reason_of(index));
        match &step.act {
            Act::Request { room, reason: r } => {
                self.request(socket, *room, reason(*r).as_deref(), notes)
            }
            Act::Cancel(room) => self.cancel(socket, *room, notes),
            Act::Approve { room, whom } => {
                self.decide(socket, *room, whom, Verdict::Approve, notes)
            }
            Act::Reject {
                room,
                whom,
                reason: r,
            } => {
                let reason = reason(*r);
                self.decide(
                    socket,
                    *room,
                    whom,
                    Verdict::Reject(reason.as_deref()),
                    notes,
                )
            }
            Act::Leave(room) => self.leave(socket, *room, notes),
            Act::Remove {
                room,
                target,
                reason: r,
            } => self.remove(socket, *room, *target, reason(*r).as_deref(), notes),
            Act::Ban {
                room,
                target,
                reason: r,
            } => self.ban(socket, *room, *target, reason(*r).as_deref(), notes),
            Act::Unban {
                room,
                target,
                reason: r,
            } => self.unban(socket, *room, *target, reason(*r).as_deref(), notes),
            Act::SetRole {
                room,
                target,
                admin,
            } => self.set_role(socket, *room, *target, *admin, notes),
            Act::Delete(room) => {
                self.require_admin(actor, *room)?;
                self.delete(*room, notes);
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
            Act::Resume(rooms) => Ok(self.catch_up(actor, rooms)),
            Act::MyRooms => Ok(Query::Rooms),
            Act::Search => Ok(Query::Search),
            Act::MarkRead { room, seq } => self.mark_read(actor, *room, *seq, notes),
            Act::Typing(room) => self.typing(socket, *room, notes),
        }
    }

    fn mark_read(
        &mut self,
        actor: usize,
        room: Room,
        seq: u64,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        self.require_approved(actor, room)?;
        let moved_to = seq.min(self.last_seq(room));
        let marker = self.read.entry((room, actor)).or_insert(0);
        if moved_to > *marker {
            *marker = moved_to;
            self.tell(notes, |u| u == actor, &note_read_marker(room, moved_to));
        }
        Ok(Query::Nothing)
    }

    fn typing(
        &mut self,
        socket: usize,
        room: Room,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        let actor = self.owner[socket];
        self.current[socket] = Some(room);
        self.require_approved(actor, room)?;
        // To the room's other approved members, once per user and room (the throttle),
        // never to the typist's own sockets.
        if self.typed.insert((room, actor)) {
            let note = note_typing(room, &self.users[actor]);
            self.tell(
                notes,
                |user| user != actor && self.approved(room, user),
                &note,
            );
        }
        Ok(Query::Nothing)
    }

    /// The user's marker of the room, with the messages by others after it.
    fn read_state(&self, room: Room, user: usize) -> (u64, u64) {
        let marker = self.read.get(&(room, user)).copied().unwrap_or(0);
        let unread = self.messages[&room]
            .iter()
            .skip(usize::try_from(marker).expect("small"))
            .filter(|(sender, _)| *sender != user)
            .count();
        (marker, unread as u64)
    }

    fn pending_count(&self, room: Room) -> u64 {
        (0..self.users.len())
            .filter(|u| self.status_of(room, *u) == Some(MemberStatus::Pending))
            .count() as u64
    }

    /// `resume`: each room named caught up, or refused on its own.
    fn catch_up(&self, actor: usize, rooms: &[(Room, u64)]) -> Query {
        // A room named twice is caught up once, from the smaller `afterSeq`; a room
        // the user may not receive is refused on its own, the others caught up.
        let mut once: Vec<(Room, u64)> = Vec::new();
        for (room, after_seq) in rooms {
            match once.iter_mut().find(|(named, _)| named == room) {
                Some((_, kept)) => *kept = (*kept).min(*after_seq),
                None => once.push((*room, *after_seq)),
            }
        }
        let answers = once
            .into_iter()
            .map(|(room, after_seq)| {
                let answer = self
                    .require_approved(actor, room)
                    .map(|()| after_seq)
                    .map_err(|codes| codes[0]);
                (room, answer)
            })
            .collect();
        Query::CatchUp(answers)
    }

    /// `joinRoom request`: strangers and those who left or were removed ask; a rejected
    /// user asks when there is no cooldown; a banned user is refused; a pending or
    /// approved one is told their status again.
    fn request(
        &mut self,
        socket: usize,
        room: Room,
        reason: Option<&str>,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        let actor = self.owner[socket];
        self.current[socket] = Some(room);
        self.exists(room)?;
        match self.status_of(room, actor) {
            None | Some(MemberStatus::Left | MemberStatus::Removed) => {}
            Some(MemberStatus::Rejected) if !self.long_cooldown => {}
            Some(MemberStatus::Rejected) => return Err(vec![ErrorCode::KnockCooldown]),
            Some(MemberStatus::Banned) => return Err(vec![ErrorCode::Banned]),
            // The answer to this request, on this socket only.
            Some(status @ (MemberStatus::Pending | MemberStatus::Approved)) => {
                notes[socket].push(note_join_response(room, status, None));
                return Ok(Query::Nothing);
            }
        }
        self.set(room, actor, MemberStatus::Pending, false, reason);
        let response = note_join_response(room, MemberStatus::Pending, None);
        self.tell(notes, |u| u == actor, &response);
        let request = note_join_request(&self.users[actor], room, reason);
        self.tell(notes, |u| self.is_admin(room, u), &request);
        self.member_changed(notes, room, actor, reason);
        Ok(Query::Nothing)
    }

    /// `joinRoom cancel`: a pending user withdraws.
    fn cancel(
        &mut self,
        socket: usize,
        room: Room,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        let actor = self.owner[socket];
        self.current[socket] = Some(room);
        self.exists(room)?;
        if self.status_of(room, actor) != Some(MemberStatus::Pending) {
            return Err(vec![ErrorCode::RequestNotFound]);
        }
        self.set(room, actor, MemberStatus::Left, false, None);
        self.member_changed(notes, room, actor, None);
        Ok(Query::Nothing)
    }

    /// `joinRoom approve` or `reject`.
    fn decide(
        &mut self,
        socket: usize,
        room: Option<Room>,
        whom: &Whom,
        verdict: Verdict<'_>,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        let actor = self.owner[socket];
        let room = self.resolve(socket, room)?;
        self.require_admin(actor, room)?;
        for target in whom.targets() {
            let decided = self.decide_one(room, target, verdict, notes);
            match (decided, whom) {
                (Ok(()), _) => {}
                (Err(code), Whom::One(_)) => return Err(vec![code]),
                (Err(code), Whom::Many(_)) => {
                    let name = self.users.get(target).cloned().unwrap_or_else(ghost);
                    notes[socket].push(note_target_error(code, &name));
                }
            }
        }
        Ok(Query::Nothing)
    }

    fn decide_one(
        &mut self,
        room: Room,
        target: usize,
        verdict: Verdict<'_>,
        notes: &mut [Vec<String>],
    ) -> Result<(), ErrorCode> {
        let (reject, reason) = match verdict {
            Verdict::Approve => (false, None),
            Verdict::Reject(reason) => (true, reason),
        };
        let new_status = match (reject, self.status_of(room, target)) {
            (_, None | Some(MemberStatus::Left | MemberStatus::Removed | MemberStatus::Banned))
            | (true, Some(MemberStatus::Approved)) => return Err(ErrorCode::RequestNotFound),
            (false, Some(MemberStatus::Approved)) | (true, Some(MemberStatus::Rejected)) => {
                return Ok(());
            }
            (false, Some(MemberStatus::Pending | MemberStatus::Rejected)) => MemberStatus::Approved,
            (true, Some(MemberStatus::Pending)) => MemberStatus::Rejected,
        };
        self.set(room, target, new_status, false, reason);
        let response = note_join_response(room, new_status, reason);
        self.tell(notes, |u| u == target, &response);
        self.member_changed(notes, room, target, reason);
        Ok(())
    }

    /// `leaveRoom`: a pending user withdraws, a member leaves (not the last admin while
    /// others remain), the only member takes the room with them.
    fn leave(
        &mut self,
        socket: usize,
        room: Room,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        let actor = self.owner[socket];
        self.current[socket] = Some(room);
        self.exists(room)?;
        match self.status_of(room, actor) {
            Some(MemberStatus::Pending) => {}
            Some(MemberStatus::Approved) if self.approved_count(room) == 1 => {
                self.delete(room, notes);
                return Ok(Query::Nothing);
            }
            Some(MemberStatus::Approved) => {
                if self.is_admin(room, actor) && self.admin_count(room) == 1 {
                    return Err(vec![ErrorCode::LastAdmin]);
                }
            }
            _ => return Err(vec![ErrorCode::NotMember]),
        }
        self.set(room, actor, MemberStatus::Left, false, None);
        self.member_changed(notes, room, actor, None);
        Ok(Query::Nothing)
    }

    fn remove(
        &mut self,
        socket: usize,
        room: Room,
        target: usize,
        reason: Option<&str>,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        self.current[socket] = Some(room);
        self.require_admin(self.owner[socket], room)?;
        if self.is_admin(room, target) {
            return Err(vec![ErrorCode::TargetIsAdmin]);
        }
        if !self.approved(room, target) {
            return Err(vec![ErrorCode::TargetNotMember]);
        }
        self.set(room, target, MemberStatus::Removed, false, reason);
        self.member_changed(notes, room, target, reason);
        Ok(Query::Nothing)
    }

    fn ban(
        &mut self,
        socket: usize,
        room: Room,
        target: usize,
        reason: Option<&str>,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        self.current[socket] = Some(room);
        self.require_admin(self.owner[socket], room)?;
        if self.is_admin(room, target) {
            return Err(vec![ErrorCode::TargetIsAdmin]);
        }
        if self.status_of(room, target) == Some(MemberStatus::Banned) {
            return Ok(Query::Nothing);
        }
        if target == self.users.len() {
            return Err(vec![ErrorCode::UserNotFound]);
        }
        self.set(room, target, MemberStatus::Banned, false, reason);
        self.member_changed(notes, room, target, reason);
        Ok(Query::Nothing)
    }

    /// `unbanMember`: only the admins (who see the banned list) and the user are told.
    fn unban(
        &mut self,
        socket: usize,
        room: Room,
        target: usize,
        reason: Option<&str>,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        self.current[socket] = Some(room);
        self.require_admin(self.owner[socket], room)?;
        if self.status_of(room, target) != Some(MemberStatus::Banned) {
            return Err(vec![ErrorCode::TargetNotMember]);
        }
        self.set(room, target, MemberStatus::Left, false, reason);
        self.member_changed(notes, room, target, reason);
        Ok(Query::Nothing)
    }

    fn set_role(
        &mut self,
        socket: usize,
        room: Room,
        target: usize,
        admin: bool,
        notes: &mut [Vec<String>],
    ) -> Result<Query, Vec<ErrorCode>> {
        self.current[socket] = Some(room);
        self.require_admin(self.owner[socket], room)?;
        if !self.approved(room, target) {
            return Err(vec![ErrorCode::TargetNotMember]);
        }
        if self.is_admin(room, target) == admin {
            return Ok(Query::Nothing);
        }
        if !admin && self.admin_count(room) == 1 {
            return Err(vec![ErrorCode::LastAdmin]);
        }
        self.set(room, target, MemberStatus::Approved, admin, None);
        self.member_changed(notes, room, target, None);
        Ok(Query::Nothing)
    }

    /// The room goes, with its memberships and messages: `roomDeleted` to every approved
    /// and pending user.
    fn delete(&mut self, room: Room, notes: &mut [Vec<String>]) {
        let told = |u| {
            matches!(
                self.status_of(room, u),
                Some(MemberStatus::Approved | MemberStatus::Pending)
            )
        };
        self.tell(notes, told, &note_room_deleted(room));
        self.deleted.insert(room);
        self.status.retain(|(r, _), _| *r != room);
        self.admins.retain(|(r, _)| *r != room);
        self.reasons.retain(|(r, _), _| *r != room);
        self.read.retain(|(r, _), _| *r != room);
        self.messages.insert(room, Vec::new());
    }
}

fn ghost() -> UserId {
    UserId::new("ghost")
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
    async fn new(case: &Case) -> Self {
        let user_count = case.users;
        let cooldown = if case.long_cooldown {
            LONG_COOLDOWN_SECS
        } else {
            0
        };
        let service = new_service(cooldown).await;
        let mut users = Vec::new();
        for i in 0..user_count {
            users.push(add_user(&service, &format!("user{i}")).await);
        }
        let owner = socket_owners(user_count);
        let (mut sessions, queues): (Vec<_>, Vec<_>) = owner
            .iter()
            .map(|user| open_socket(&service, &users[*user]))
            .unzip();
        let mut rooms = BTreeMap::from([(Room::Bogus, RoomId::new(BOGUS_ROOM))]);
        for room in Room::REAL {
            let creator = room.creator().expect("a real room has a creator");
            let created = service
                .handle(
                    &mut sessions[creator],
                    ClientMessage::CreateRoom {
                        room_name: format!("{room:?}"),
                    },
                )
                .await
                .expect("room created");
            assert!(created.is_empty());
            let room_id = sessions[creator]
                .current_room
                .clone()
                .expect("the created room is current");
            rooms.insert(room, room_id);
        }
        let mut world = Self {
            service,
            users,
            owner,
            sessions,
            queues,
            rooms,
        };
        for (room, user, start) in case.starts() {
            world.start(room, user, start).await;
        }
        // What the memberships were made with is not the case's business: every socket
        // starts with nothing to read and its current room as the model has it.
        for queue in &mut world.queues {
            drain(queue);
        }
        for (socket, session) in world.sessions.iter_mut().enumerate() {
            session.current_room = Room::REAL
                .into_iter()
                .find(|room| room.creator() == Some(socket))
                .map(|room| world.rooms[&room].clone());
        }
        world
    }

    async fn act(&mut self, socket: usize, message: ClientMessage) {
        self.service
            .handle(&mut self.sessions[socket], message)
            .await
            .unwrap_or_else(|e| panic!("a case's start: {e}"));
    }

    /// Makes `user` start in `room` as `start` says, through the service.
    async fn start(&mut self, room: Room, user: usize, start: Start) {
        let creator = room.creator().expect("a real room has a creator");
        let room_id = self.room_id(room);
        let target = self.users[user].clone();
        let request = ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room_id.clone()),
            reason: Some(START_REASON.to_owned()),
            invite_code: None,
        });
        match start {
            Start::Stranger => {}
            Start::Pending => self.act(user, request).await,
            Start::Approved => {
                self.act(user, request).await;
                let approve = JoinRoom::Approve {
                    room_id: Some(room_id),
                    targets: Targets::one(target),
                };
                self.act(creator, ClientMessage::JoinRoom(approve)).await;
            }
            Start::Rejected => {
                self.act(user, request).await;
                let reject = JoinRoom::Reject {
                    room_id: Some(room_id),
                    targets: Targets::one(target),
                    reason: Some(START_REASON.to_owned()),
                };
                self.act(creator, ClientMessage::JoinRoom(reject)).await;
            }
            Start::Banned => {
                let ban = ClientMessage::BanMember {
                    room_id,
                    target_user_id: target,
                    reason: Some(START_REASON.to_owned()),
                };
                self.act(creator, ban).await;
            }
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
        self.users.get(target).cloned().unwrap_or_else(ghost)
    }

    fn targets(&self, whom: &Whom) -> Targets {
        match whom {
            Whom::One(target) => Targets::one(self.target(*target)),
            Whom::Many(targets) => Targets::many(targets.iter().map(|t| self.target(*t)).collect()),
        }
    }

    fn request(&self, index: usize, act: &Act) -> ClientMessage {
        let room = |room: &Option<Room>| room.map(|room| self.room_id(room));
        let reason = |given: &bool| given.then(|| Model::reason_of(index));
        match act {
            Act::Request { room: r, reason: g } => ClientMessage::JoinRoom(JoinRoom::Request {
                room_id: Some(self.room_id(*r)),
                reason: reason(g),
                invite_code: None,
            }),
            Act::Cancel(r) => ClientMessage::JoinRoom(JoinRoom::Cancel {
                room_id: self.room_id(*r),
            }),
            Act::Approve { room: r, whom } => ClientMessage::JoinRoom(JoinRoom::Approve {
                room_id: room(r),
                targets: self.targets(whom),
            }),
            Act::Reject {
                room: r,
                whom,
                reason: g,
            } => ClientMessage::JoinRoom(JoinRoom::Reject {
                room_id: room(r),
                targets: self.targets(whom),
                reason: reason(g),
            }),
            Act::Leave(r) => ClientMessage::LeaveRoom {
                room_id: self.room_id(*r),
            },
            Act::Remove {
                room: r,
                target,
                reason: g,
            } => ClientMessage::RemoveMember {
                room_id: self.room_id(*r),
                target_user_id: self.target(*target),
                reason: reason(g),
            },
            Act::Ban {
                room: r,
                target,
                reason: g,
            } => ClientMessage::BanMember {
                room_id: self.room_id(*r),
                target_user_id: self.target(*target),
                reason: reason(g),
            },
            Act::Unban {
                room: r,
                target,
                reason: g,
            } => ClientMessage::UnbanMember {
                room_id: self.room_id(*r),
                target_user_id: self.target(*target),
                reason: reason(g),
            },
            Act::SetRole {
                room: r,
                target,
                admin,
            } => ClientMessage::SetRole {
                room_id: self.room_id(*r),
                target_user_id: self.target(*target),
                role: if *admin { Role::Admin } else { Role::Member },
            },
            Act::Delete(r) => ClientMessage::DeleteRoom {
                room_id: self.room_id(*r),
            },
            other => self.query_request(index, other),
        }
    }

    fn query_request(&self, index: usize, act: &Act) -> ClientMessage {
        let room = |room: &Option<Room>| room.map(|room| self.room_id(room));
        match act {
            Act::Send { room: r, with_id } => ClientMessage::SendMessage {
                message: Model::text_of(index),
                room_id: room(r),
                client_msg_id: with_id.then(|| ClientMsgId::new(Model::client_msg_id_of(index))),
                reply_to: None,
            },
            Act::History(r) => ClientMessage::GetHistory {
                room_id: self.room_id(*r),
                before_seq: None,
                limit: None,
                around_seq: None,
                after_seq: None,
            },
            Act::Search => ClientMessage::Search {
                query: "MESSAGE of".into(),
                room_id: None,
                before_seq: None,
                cursor: None,
                limit: Some(limits::MAX_SEARCH_PAGE),
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
            Act::MarkRead { room: r, seq } => ClientMessage::MarkRead {
                room_id: self.room_id(*r),
                seq: *seq,
            },
            Act::Typing(r) => ClientMessage::Typing {
                room_id: self.room_id(*r),
            },
            other => unreachable!("not a query: {other:?}"),
        }
    }

    /// A notice as the model writes it; anything else is returned as is.
    fn note(&self, message: &ServerMessage) -> Option<String> {
        Some(match message {
            ServerMessage::JoinResponse {
                room_id,
                status,
                reason,
            } => note_join_response(self.label(room_id), *status, reason.as_deref()),
            ServerMessage::JoinRequest {
                user_id,
                room_id,
                reason,
                invite: _,
            } => note_join_request(user_id, self.label(room_id), reason.as_deref()),
            ServerMessage::MemberChanged {
                room_id,
                user_id,
                status,
                is_admin,
                reason,
            } => note_member_changed(
                self.label(room_id),
                user_id,
                *status,
                *is_admin,
                reason.as_deref(),
            ),
            ServerMessage::RoomDeleted { room_id } => note_room_deleted(self.label(room_id)),
            ServerMessage::ReadMarker { room_id, seq } => {
                note_read_marker(self.label(room_id), *seq)
            }
            ServerMessage::Typing { room_id, user_id } => note_typing(self.label(room_id), user_id),
            ServerMessage::MessageAck {
                client_msg_id,
                room_id,
                seq,
                ..
            } => note_ack(client_msg_id.as_str(), self.label(room_id), *seq),
            ServerMessage::Error {
                code,
                message,
                request_action,
                target_user_id: Some(target),
                room_id: None,
                retry_after_secs: None,
            } if !message.is_empty() => format!(
                "error {} {} target={target}",
                code.as_str(),
                request_action.as_deref().unwrap_or("(no requestAction)")
            ),
            _ => return None,
        })
    }
}

/// What one step did, as seen from outside the service.
struct Observed {
    /// The error code (and `retryAfterSecs`), or the answers returned to the acting socket
    /// that are not notices.
    outcome: Result<Vec<Outbound>, (ErrorCode, Option<u64>)>,
    /// Per socket, as in [`Expected`].
    notes: Vec<Vec<String>>,
    /// Per socket: the chat frames it was sent.
    chats: Vec<Vec<ChatMessage>>,
    /// Per socket: every frame it was sent, pushed or answered (chat messages included).
    frames: Vec<Vec<ServerMessage>>,
}

/// `retryAfterSecs` of a refusal, when it has one.
fn retry_after(error: &ServiceError) -> Option<u64> {
    match error {
        ServiceError::Rule(RuleError::KnockCooldown { retry_after_secs }) => {
            Some(*retry_after_secs)
        }
        _ => None,
    }
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
    let mut frames = vec![Vec::new(); sockets];
    let mut answers = Vec::new();
    // The hub queues are filled before `handle` returns (the message batcher fans a message
    // out before it acknowledges it), so a non-blocking drain sees everything.
    for socket in 0..sockets {
        for item in drain(&mut world.queues[socket]) {
            match item {
                Outbound::Chat(chat) => {
                    let message = chat_message(&chat.frame);
                    assert_eq!((&message.room_id, message.seq), (&chat.room_id, chat.seq));
                    chats[socket].push(message.clone());
                    frames[socket].push(ServerMessage::Message(message));
                }
                Outbound::Frame(frame) => {
                    let message = decode(&frame);
                    notes[socket].push(
                        world
                            .note(&message)
                            .unwrap_or_else(|| format!("unexpected push: {message:?}")),
                    );
                    frames[socket].push(message);
                }
                other => notes[socket].push(format!("unexpected push: {other:?}")),
            }
        }
    }
    let outcome = match result {
        Err(error) => Err((error.code(), retry_after(&error))),
        Ok(returned) => {
            for item in returned {
                if let Outbound::Frame(frame) = &item {
                    let message = decode(frame);
                    frames[step.actor].push(message.clone());
                    if let Some(note) = world.note(&message) {
                        notes[step.actor].push(note);
                        continue;
                    }
                }
                answers.push(item);
            }
            Ok(answers)
        }
    };
    Observed {
        outcome,
        notes,
        chats,
        frames,
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
                    has_more_after: None,
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
        Query::Search => {
            let [ServerMessage::SearchResults { results, .. }] = frames.as_slice() else {
                return Err(TestCaseError::fail(format!(
                    "not one searchResults: {answers:?}"
                )));
            };
            let got: Vec<(Room, u64, String)> = results
                .iter()
                .map(|r| (world.label(&r.room_id), r.seq, r.message.clone()))
                .collect();
            // Messages are stored in the order of the steps that sent them: newest first is
            // the steps' order backwards, across rooms.
            let mut want: Vec<(usize, (Room, u64, String))> = Room::REAL
                .into_iter()
                .filter(|room| model.require_approved(actor, *room).is_ok())
                .flat_map(|room| {
                    model.messages[&room]
                        .iter()
                        .zip(1..)
                        .map(move |((_, text), seq)| (room, seq, text.clone()))
                })
                .map(|found| (step_of(&found.2), found))
                .collect();
            want.sort_by_key(|found| std::cmp::Reverse(found.0));
            let want: Vec<(Room, u64, String)> = want.into_iter().map(|(_, found)| found).collect();
            prop_assert_eq!(got, want);
        }
        Query::Members(room) => check_members(world, model, actor, *room, &frames, answers)?,
        Query::Rooms => check_rooms(world, model, actor, &frames, answers)?,
        Query::CatchUp(rooms) => {
            let got: Vec<(Room, Result<u64, ErrorCode>)> = answers
                .iter()
                .map(|item| match item {
                    Outbound::CatchUp { room_id, after_seq } => {
                        (world.label(room_id), Ok(*after_seq))
                    }
                    Outbound::Frame(frame) => match decode(frame) {
                        ServerMessage::Error {
                            code,
                            room_id: Some(room_id),
                            request_action: Some(action),
                            ..
                        } if action == "resume" => (world.label(&room_id), Err(code)),
                        other => panic!("resume answered {other:?}"),
                    },
                    other => panic!("resume answered {other:?}"),
                })
                .collect();
            prop_assert_eq!(&got, rooms);
        }
    }
    Ok(())
}

/// `roomMembers`: approved and pending users, admins first; to an admin also the banned
/// users, and every row's reason; to other members no reason.
fn check_members(
    world: &World,
    model: &Model,
    actor: usize,
    room: Room,
    frames: &[ServerMessage],
    answers: &[Outbound],
) -> Result<(), TestCaseError> {
    let [
        ServerMessage::RoomMembers {
            room_id,
            room_name,
            participants,
            invite_only: false,
        },
    ] = frames
    else {
        return Err(TestCaseError::fail(format!(
            "not one roomMembers: {answers:?}"
        )));
    };
    prop_assert_eq!(world.label(room_id), room);
    prop_assert_eq!(room_name, &format!("{room:?}"));
    let admin_flags: Vec<bool> = participants.iter().map(|p| p.is_admin).collect();
    prop_assert!(
        admin_flags.first() == Some(&true) && admin_flags.is_sorted_by(|a, b| a >= b),
        "admins first: {:?}",
        participants
    );
    let to_admin = model.is_admin(room, actor);
    let mut got: Vec<(String, MemberStatus, bool, Option<String>)> = participants
        .iter()
        .map(|p| {
            (
                p.user_id.to_string(),
                p.status,
                p.is_admin,
                p.reason.clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, MemberStatus, bool, Option<String>)> = (0..model.users.len())
        .filter_map(|u| {
            let status = model.status_of(room, u)?;
            let listed = match status {
                MemberStatus::Approved | MemberStatus::Pending => true,
                MemberStatus::Banned => to_admin,
                MemberStatus::Rejected | MemberStatus::Left | MemberStatus::Removed => false,
            };
            listed.then(|| {
                (
                    model.users[u].to_string(),
                    status,
                    model.is_admin(room, u),
                    model.reason_kept(room, u).filter(|_| to_admin),
                )
            })
        })
        .collect();
    prop_assert_eq!(got, want, "members as listed to an admin: {}", to_admin);
    Ok(())
}

/// A row of `rooms` as compared: room, name, status, admin, lastSeq, and (readSeq,
/// unreadCount, mentionCount, pendingCount).
type RoomsRow = (
    Room,
    String,
    MemberStatus,
    bool,
    u64,
    (u64, u64, u64, Option<u64>),
);

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
    let mut got: Vec<RoomsRow> = rooms
        .iter()
        .map(|r| {
            (
                world.label(&r.room_id),
                r.room_name.clone(),
                r.status,
                r.is_admin,
                r.last_seq,
                (r.read_seq, r.unread_count, r.mention_count, r.pending_count),
            )
        })
        .collect();
    got.sort_by_key(|row| row.0);
    let want: Vec<_> = Room::REAL
        .into_iter()
        .filter_map(|room| {
            let status = model.status_of(room, actor)?;
            let listed = matches!(
                status,
                MemberStatus::Approved | MemberStatus::Pending | MemberStatus::Rejected
            );
            let approved = status == MemberStatus::Approved;
            let last_seq = if approved { model.last_seq(room) } else { 0 };
            // No message of the cases mentions anyone.
            let (read_seq, unread) = if approved {
                model.read_state(room, actor)
            } else {
                (0, 0)
            };
            let pending = model
                .is_admin(room, actor)
                .then(|| model.pending_count(room));
            listed.then(|| {
                (
                    room,
                    format!("{room:?}"),
                    status,
                    model.is_admin(room, actor),
                    last_seq,
                    (read_seq, unread, 0, pending),
                )
            })
        })
        .collect();
    prop_assert_eq!(
        got,
        want,
        "not the rooms left, removed from, banned from or deleted; lastSeq 0 unless approved; \
         read state and pending requests as the model counts them"
    );
    Ok(())
}

/// Issue 16's invariant, stated on its own: whoever is not an approved member of a room
/// after a step was sent nothing of that room in the step: no message, no member change
/// other than their own, no history, no member list, no catch-up.
fn check_nothing_reaches_outsiders(
    world: &World,
    model: &Model,
    step: &Step,
    observed: &Observed,
) -> Result<(), TestCaseError> {
    for (socket, frames) in observed.frames.iter().enumerate() {
        let user = world.owner[socket];
        for frame in frames {
            if let ServerMessage::SearchResults { results, .. } = frame {
                for result in results {
                    prop_assert!(
                        model.approved(world.label(&result.room_id), user),
                        "{} found {:?} in a room they may not read",
                        world.users[user],
                        result
                    );
                }
                continue;
            }
            let room_id = match frame {
                ServerMessage::Message(ChatMessage { room_id, .. })
                | ServerMessage::History { room_id, .. }
                | ServerMessage::RoomMembers { room_id, .. } => room_id,
                ServerMessage::MemberChanged {
                    room_id, user_id, ..
                } if *user_id != world.users[user] => room_id,
                _ => continue,
            };
            prop_assert!(
                model.approved(world.label(room_id), user),
                "{} is not an approved member of {:?} but socket {} was sent {:?}",
                world.users[user],
                world.label(room_id),
                socket,
                frame
            );
        }
    }
    if let Ok(answers) = &observed.outcome {
        let user = world.owner[step.actor];
        for answer in answers {
            if let Outbound::CatchUp { room_id, .. } = answer {
                prop_assert!(
                    model.approved(world.label(room_id), user),
                    "{} is not an approved member of {:?} but is caught up on it",
                    world.users[user],
                    world.label(room_id)
                );
            }
        }
    }
    Ok(())
}

fn check_step(
    world: &World,
    model: &Model,
    step: &Step,
    expected: Expected,
    observed: Observed,
) -> Result<(), TestCaseError> {
    check_nothing_reaches_outsiders(world, model, step, &observed)?;
    // The action succeeds exactly when the rules allow it, with the right code.
    match (&expected.outcome, &observed.outcome) {
        (Ok(query), Ok(answers)) => {
            check_answer(world, model, world.owner[step.actor], query, answers)?;
        }
        (Err(codes), Err((code, retry_after))) => {
            prop_assert!(
                codes.contains(code),
                "refused with {code:?}, the contract says one of {codes:?}"
            );
            if *code == ErrorCode::KnockCooldown {
                prop_assert!(
                    retry_after.is_some_and(|secs| (1..=LONG_COOLDOWN_SECS).contains(&secs)),
                    "knock_cooldown says when to try again, got {retry_after:?}"
                );
            } else {
                prop_assert_eq!(*retry_after, None);
            }
        }
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

/// Storage holds exactly the model's memberships (with their reasons) and message
/// counts; a deleted room, its memberships and its messages are gone.
async fn check_storage(world: &World, model: &Model) -> Result<(), TestCaseError> {
    let storage = world.service.storage();
    for room in Room::REAL {
        let room_id = world.room_id(room);
        let mut stored: Vec<(String, MemberStatus, bool, Option<String>)> = storage
            .members(&room_id)
            .await
            .expect("members")
            .into_iter()
            .map(|p| (p.user_id.to_string(), p.status, p.is_admin, p.reason))
            .collect();
        stored.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<(String, MemberStatus, bool, Option<String>)> = (0..model.users.len())
            .filter_map(|u| {
                model.status_of(room, u).map(|s| {
                    (
                        model.users[u].to_string(),
                        s,
                        model.is_admin(room, u),
                        model.reason_kept(room, u),
                    )
                })
            })
            .collect();
        prop_assert_eq!(stored, want, "stored memberships of {:?}", room);
        let stored_room = storage.room(&room_id).await.expect("room");
        if model.deleted.contains(&room) {
            prop_assert!(stored_room.is_none(), "{:?} was deleted", room);
            let messages = storage
                .messages_before(&room_id, None, 100)
                .await
                .expect("messages");
            prop_assert!(messages.is_empty(), "the messages of {:?} are gone", room);
        } else {
            let last_seq = stored_room.expect("the room exists").last_seq;
            prop_assert_eq!(last_seq, model.last_seq(room), "last seq of {:?}", room);
        }
    }
    Ok(())
}

async fn run_scenario(case: &Case) -> Result<(), TestCaseError> {
    let mut world = World::new(case).await;
    let mut model = Model::new(world.users.clone(), case);
    assert_eq!(world.owner, model.owner);
    check_storage(&world, &model)
        .await
        .map_err(|e| TestCaseError::fail(format!("at the start: {e}")))?;
    for (index, step) in case.steps.iter().enumerate() {
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
    fn no_action_sequence_lets_outsiders_in(case in scenario()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_scenario(&case))?;
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

/// The step that sent a message of [`Model::text_of`].
fn step_of(text: &str) -> usize {
    text.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a step's text")
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
            reply_to: None,
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
                    around_seq: None,
                    after_seq: None,
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
                        room_id: Some(room_id.clone()),
                        reason: None,
                        invite_code: None,
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
                    room_id: Some(room_id.clone()),
                    reason: None,
                    invite_code: None,
                }),
            )
            .await
            .expect("outsider's join request");
        rooms.push(room_id);
    }
    rooms
}

async fn run_concurrent(room_count: usize, plans: Vec<Vec<Planned>>) -> Result<(), TestCaseError> {
    let service = new_service(0).await;
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

// =====================================================================================
// 3. Edits and deletions are entries of the room's log (issue 18).
// =====================================================================================

/// One step of a log case: user `by` (0 is the room's admin) sends a message, or edits or
/// deletes the message at `target` (an index into those sent so far, wrapping).
#[derive(Clone, Debug)]
enum LogAct {
    Send {
        by: usize,
    },
    Edit {
        by: usize,
        target: Index,
        same_text: bool,
    },
    Delete {
        by: usize,
        target: Index,
    },
}

fn log_acts() -> impl Strategy<Value = Vec<LogAct>> {
    let act = prop_oneof![
        3 => (0..3usize).prop_map(|by| LogAct::Send { by }),
        2 => (0..3usize, any::<Index>(), proptest::bool::weighted(0.2))
            .prop_map(|(by, target, same_text)| LogAct::Edit { by, target, same_text }),
        2 => (0..3usize, any::<Index>()).prop_map(|(by, target)| LogAct::Delete { by, target }),
    ];
    proptest::collection::vec(act, 1..30)
}

/// A message as the model holds it.
#[derive(Clone, Debug)]
struct Modelled {
    author: usize,
    text: String,
    deleted: bool,
    id: MessageId,
}

/// Random sends, edits and deletions by an admin and two members of one room, each checked
/// against the rules (only the author edits, the author or an admin deletes, nothing twice,
/// the same text is no edit); then the log numbers every entry stored 1..N, every member's
/// socket was sent each entry once in `seq` order, and history reads as the model does.
/// An admin (socket 0) and two approved members (1, 2) of one room, every socket drained.
async fn log_room() -> (Service, Vec<SocketSession>, Vec<Queue>, RoomId) {
    let service = new_service(0).await;
    let mut users = Vec::new();
    for name in ["admin", "bob", "carol"] {
        users.push(add_user(&service, name).await);
    }
    let (mut sessions, mut queues): (Vec<_>, Vec<_>) =
        users.iter().map(|user| open_socket(&service, user)).unzip();
    service
        .handle(
            &mut sessions[0],
            ClientMessage::CreateRoom {
                room_name: "Log".into(),
            },
        )
        .await
        .expect("room created");
    let room_id = sessions[0].current_room.clone().expect("current room");
    for (member, user) in users.iter().enumerate().skip(1) {
        for (actor, message) in [
            (
                member,
                ClientMessage::JoinRoom(JoinRoom::Request {
                    room_id: Some(room_id.clone()),
                    reason: None,
                    invite_code: None,
                }),
            ),
            (
                0,
                ClientMessage::JoinRoom(JoinRoom::Approve {
                    room_id: Some(room_id.clone()),
                    targets: Targets::one(user.clone()),
                }),
            ),
        ] {
            service
                .handle(&mut sessions[actor], message)
                .await
                .expect("admitted");
        }
    }
    for queue in &mut queues {
        drain(queue);
    }
    (service, sessions, queues, room_id)
}

/// The request a step makes, who makes it, and what the rules answer: `Ok(true)` stores an
/// entry, `Ok(false)` changes nothing (the same text). `None`: nothing to edit or delete yet.
fn log_request(
    index: usize,
    act: &LogAct,
    messages: &[Modelled],
    room_id: &RoomId,
) -> Option<(usize, ClientMessage, Result<bool, ErrorCode>)> {
    Some(match act {
        LogAct::Send { by } => (
            *by,
            ClientMessage::SendMessage {
                message: format!("message {index}"),
                room_id: Some(room_id.clone()),
                client_msg_id: None,
                reply_to: None,
            },
            Ok(true),
        ),
        LogAct::Edit { .. } | LogAct::Delete { .. } if messages.is_empty() => return None,
        LogAct::Edit {
            by,
            target,
            same_text,
        } => {
            let target = &messages[target.index(messages.len())];
            // A tombstone's text is empty, which no edit may be (`empty_message`).
            let text = if *same_text && !target.deleted {
                target.text.clone()
            } else {
                format!("edit {index}")
            };
            let expected = if target.author != *by {
                Err(ErrorCode::NotAdmin)
            } else if target.deleted {
                Err(ErrorCode::MessageDeleted)
            } else {
                Ok(text != target.text)
            };
            let request = ClientMessage::EditMessage {
                room_id: room_id.clone(),
                message_id: target.id.clone(),
                message: text,
            };
            (*by, request, expected)
        }
        LogAct::Delete { by, target } => {
            let target = &messages[target.index(messages.len())];
            let expected = if target.author != *by && *by != 0 {
                Err(ErrorCode::NotAdmin)
            } else if target.deleted {
                Err(ErrorCode::MessageDeleted)
            } else {
                Ok(true)
            };
            let request = ClientMessage::DeleteMessage {
                room_id: room_id.clone(),
                message_id: target.id.clone(),
            };
            (*by, request, expected)
        }
    })
}

/// The model after a stored entry: a new message (`stored_id`), an edit or a deletion.
fn apply_log_entry(
    messages: &mut Vec<Modelled>,
    by: usize,
    request: ClientMessage,
    stored_id: MessageId,
) {
    match request {
        ClientMessage::SendMessage { message, .. } => messages.push(Modelled {
            author: by,
            text: message,
            deleted: false,
            id: stored_id,
        }),
        ClientMessage::EditMessage { message, .. } => {
            let edited = messages.iter_mut().find(|m| m.id == stored_id).unwrap();
            edited.text = message;
        }
        ClientMessage::DeleteMessage { .. } => {
            let deleted = messages.iter_mut().find(|m| m.id == stored_id).unwrap();
            deleted.deleted = true;
            deleted.text = String::new();
        }
        _ => unreachable!(),
    }
}

/// Random sends, edits and deletions by an admin and two members of one room, each checked
/// against the rules (only the author edits, the author or an admin deletes, nothing twice,
/// the same text is no edit); then the log numbers every entry stored 1..N, every member's
/// socket was sent each entry once in `seq` order, and history reads as the model does.
async fn run_log_case(acts: Vec<LogAct>) -> Result<(), TestCaseError> {
    let (service, mut sessions, mut queues, room_id) = log_room().await;
    let mut messages: Vec<Modelled> = Vec::new();
    let mut entries = 0u64;
    for (index, act) in acts.iter().enumerate() {
        let Some((by, request, expected)) = log_request(index, act, &messages, &room_id) else {
            continue;
        };
        let answer = service.handle(&mut sessions[by], request.clone()).await;
        prop_assert_eq!(
            answer.as_ref().map(|_| ()).map_err(ServiceError::code),
            expected.map(|_| ()),
            "step {} {:?}",
            index,
            act
        );
        if expected != Ok(true) {
            continue;
        }
        entries += 1;
        // The entry just stored names its message (a new one's id is the server's).
        let stored = service
            .storage()
            .log_after(&room_id, entries - 1, 1)
            .await
            .expect("log read");
        let stored_id = match stored.into_iter().next() {
            Some(storage::LogEntry::Message(message)) => message.message_id,
            Some(
                storage::LogEntry::Edited { message_id, .. }
                | storage::LogEntry::Deleted { message_id, .. },
            ) => message_id,
            None => return Err(TestCaseError::fail(format!("nothing at seq {entries}"))),
        };
        apply_log_entry(&mut messages, by, request, stored_id);
    }

    // The log: 1..N, one entry per change stored.
    let log = service
        .storage()
        .log_after(&room_id, 0, u32::MAX)
        .await
        .expect("log read");
    let seqs: Vec<u64> = log.iter().map(storage::LogEntry::seq).collect();
    prop_assert_eq!(seqs, (1..=entries).collect::<Vec<u64>>());
    // Every member's socket: each entry once, in seq order.
    for queue in &mut queues {
        let sent: Vec<u64> = drain(queue)
            .into_iter()
            .filter_map(|item| match item {
                Outbound::Chat(chat) => Some(chat.seq),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&sent, &(1..=entries).collect::<Vec<u64>>());
    }
    // History reads as the model does.
    let history = full_history(&service, &mut sessions[1], &room_id).await;
    let read: Vec<(String, bool)> = history
        .into_iter()
        .map(|message| (message.message, message.deleted))
        .collect();
    let modelled: Vec<(String, bool)> = messages
        .into_iter()
        .map(|message| (message.text, message.deleted))
        .collect();
    prop_assert_eq!(read, modelled);
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn edits_and_deletions_keep_the_room_log_gapless_and_delivered_once(acts in log_acts()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_log_case(acts))?;
    }
}

// =====================================================================================
// 4. Invite links: uses count requests made, never more than `maxUses`.
// =====================================================================================

/// One step of an invite case: three users (1, 2, 3) and the room's admin (0), who made
/// one link with `maxUses`.
#[derive(Clone, Debug)]
enum InviteAct {
    KnockByLink(usize),
    KnockByRoomId(usize),
    Leave(usize),
    Approve(usize),
    Reject(usize),
    Ban(usize),
    Revoke,
    InviteOnly(bool),
}

fn invite_act() -> impl Strategy<Value = InviteAct> {
    let user = 1..4usize;
    prop_oneof![
        4 => user.clone().prop_map(InviteAct::KnockByLink),
        2 => user.clone().prop_map(InviteAct::KnockByRoomId),
        2 => user.clone().prop_map(InviteAct::Leave),
        1 => user.clone().prop_map(InviteAct::Approve),
        1 => user.clone().prop_map(InviteAct::Reject),
        1 => user.prop_map(InviteAct::Ban),
        1 => Just(InviteAct::Revoke),
        1 => any::<bool>().prop_map(InviteAct::InviteOnly),
    ]
}

/// What the contract says of the link and the users, written from `docs/protocol.md`.
#[derive(Default)]
struct InviteModel {
    status: [Option<MemberStatus>; 4],
    uses: u32,
    revoked: bool,
    invite_only: bool,
}

impl InviteModel {
    /// The expected error of `act`, applying its effect when it succeeds.
    fn apply(&mut self, act: &InviteAct, max_uses: u32) -> Option<ErrorCode> {
        use MemberStatus::{Approved, Banned, Left, Pending, Rejected};
        match *act {
            InviteAct::KnockByLink(u) | InviteAct::KnockByRoomId(u) => {
                let by_link = matches!(act, InviteAct::KnockByLink(_));
                match self.status[u] {
                    Some(Banned) => return Some(ErrorCode::Banned),
                    Some(Pending | Approved) => return None,
                    None | Some(Left | Rejected | MemberStatus::Removed) => {}
                }
                if by_link && self.revoked {
                    return Some(ErrorCode::InviteRevoked);
                }
                if by_link && self.uses >= max_uses {
                    return Some(ErrorCode::InviteUsedUp);
                }
                if !by_link && self.invite_only {
                    return Some(ErrorCode::InviteOnly);
                }
                self.uses += u32::from(by_link);
                self.status[u] = Some(Pending);
                None
            }
            InviteAct::Leave(u) => match self.status[u] {
                Some(Pending | Approved) => {
                    self.status[u] = Some(Left);
                    None
                }
                _ => Some(ErrorCode::NotMember),
            },
            InviteAct::Approve(u) => match self.status[u] {
                Some(Pending | Rejected) => {
                    self.status[u] = Some(Approved);
                    None
                }
                Some(Approved) => None,
                _ => Some(ErrorCode::RequestNotFound),
            },
            InviteAct::Reject(u) => match self.status[u] {
                Some(Pending) => {
                    self.status[u] = Some(Rejected);
                    None
                }
                Some(Rejected) => None,
                _ => Some(ErrorCode::RequestNotFound),
            },
            InviteAct::Ban(u) => {
                self.status[u] = Some(Banned);
                None
            }
            InviteAct::Revoke => {
                if self.revoked {
                    return Some(ErrorCode::InviteNotFound);
                }
                self.revoked = true;
                None
            }
            InviteAct::InviteOnly(on) => {
                self.invite_only = on;
                None
            }
        }
    }
}

/// The frame an invite action of the case sends, and who sends it.
fn invite_frame(
    act: &InviteAct,
    room_id: &RoomId,
    code: &InviteCode,
    users: &[UserId],
) -> (usize, ClientMessage) {
    match act {
        InviteAct::KnockByLink(u) => (
            *u,
            ClientMessage::JoinRoom(JoinRoom::Request {
                room_id: None,
                reason: None,
                invite_code: Some(code.clone()),
            }),
        ),
        InviteAct::KnockByRoomId(u) => (
            *u,
            ClientMessage::JoinRoom(JoinRoom::Request {
                room_id: Some(room_id.clone()),
                reason: None,
                invite_code: None,
            }),
        ),
        InviteAct::Leave(u) => (
            *u,
            ClientMessage::LeaveRoom {
                room_id: room_id.clone(),
            },
        ),
        InviteAct::Approve(u) | InviteAct::Reject(u) => {
            let targets = Targets::one(users[*u].clone());
            let room_id = Some(room_id.clone());
            let decision = if matches!(act, InviteAct::Approve(_)) {
                JoinRoom::Approve { room_id, targets }
            } else {
                JoinRoom::Reject {
                    room_id,
                    targets,
                    reason: None,
                }
            };
            (0, ClientMessage::JoinRoom(decision))
        }
        InviteAct::Ban(u) => (
            0,
            ClientMessage::BanMember {
                room_id: room_id.clone(),
                target_user_id: users[*u].clone(),
                reason: None,
            },
        ),
        InviteAct::Revoke => (
            0,
            ClientMessage::RevokeInvite {
                room_id: room_id.clone(),
                code: code.clone(),
            },
        ),
        InviteAct::InviteOnly(on) => (
            0,
            ClientMessage::SetRoomSettings {
                room_id: room_id.clone(),
                invite_only: Some(*on),
            },
        ),
    }
}

async fn run_invite_case(max_uses: u32, acts: Vec<InviteAct>) -> Result<(), TestCaseError> {
    // No cooldown: a rejected user may knock again at once.
    let service = new_service(0).await;
    let mut sockets = Vec::new();
    for name in ["admin", "ann", "ben", "cat"] {
        let user = add_user(&service, name).await;
        sockets.push(open_socket(&service, &user));
    }
    let users: Vec<UserId> = sockets.iter().map(|(s, _)| s.user_id.clone()).collect();
    let (admin, queue) = &mut sockets[0];
    service
        .handle(
            admin,
            ClientMessage::CreateRoom {
                room_name: "Invites".into(),
            },
        )
        .await
        .expect("room created");
    let room_id = admin.current_room.clone().expect("current room");
    service
        .handle(
            admin,
            ClientMessage::CreateInvite {
                room_id: room_id.clone(),
                label: None,
                expires_in_secs: None,
                max_uses: Some(max_uses),
            },
        )
        .await
        .expect("invite created");
    let code = drain(queue)
        .iter()
        .find_map(|item| match item {
            Outbound::Frame(frame) => match decode(frame) {
                ServerMessage::Invite(invite) => Some(invite.code),
                _ => None,
            },
            _ => None,
        })
        .expect("the admin is sent the invite");
    let mut model = InviteModel::default();
    for (index, act) in acts.iter().enumerate() {
        let (actor, message) = invite_frame(act, &room_id, &code, &users);
        let expected = model.apply(act, max_uses);
        let got = service
            .handle(&mut sockets[actor].0, message)
            .await
            .err()
            .map(|error| error.code());
        prop_assert_eq!(got, expected, "step {} {:?}", index, act);
        let stored = service
            .storage()
            .invite(&code)
            .await
            .expect("storage")
            .expect("the invite is kept");
        prop_assert_eq!(stored.invite.uses, model.uses, "uses after step {}", index);
        prop_assert!(stored.invite.uses <= max_uses);
        prop_assert_eq!(stored.revoked, model.revoked);
        for (user, expected) in users.iter().zip(model.status).skip(1) {
            let membership = service
                .storage()
                .membership(&room_id, user)
                .await
                .expect("storage");
            prop_assert_eq!(
                membership.map(|m| m.status),
                expected,
                "{} after step {}",
                user,
                index
            );
        }
        for (_, queue) in &mut sockets {
            drain(queue);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn invite_uses_count_requests_made_and_never_pass_max_uses(
        max_uses in 1..4u32,
        acts in prop::collection::vec(invite_act(), 1..30),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_invite_case(max_uses, acts))?;
    }
}
