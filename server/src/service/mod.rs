//! One function per action: check the rules, change storage, tell the people concerned.
//! Handlers in `gateway/ws.rs` and `http.rs` only decode, call and encode.
//!
//! One file per family of actions, each adding its functions to [`Service`]:
//! `accounts.rs` (register, login, logout, authenticate), `rooms.rs` (create a room,
//! preview one, list one's rooms), `membership.rs` (knock, withdraw, decide, leave, remove, ban, roles, delete a room,
//! members),
//! `messages.rs` (send, history, resume), `edits.rs` (edit and delete a message),
//! `search.rs` (search), `presence.rs` (typing, who is online in member lists) and
//! `invites.rs` (invite links, room settings). This file holds the service itself, the
//! dispatcher [`Service::handle`] and the checks the families share.

mod accounts;
mod edits;
mod invites;
mod membership;
mod sessions;

pub(crate) use sessions::Caller;

use membership::MemberRule;
mod messages;
mod presence;
mod rooms;
mod search;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use knock_protocol::{ClientMessage, JoinRoom, MemberStatus, RoomId, ServerMessage, UserId};

use crate::{
    access::RoomAccess,
    auth::HashingPool,
    batcher::{MembershipBatcher, MessageBatcher},
    domain::SessionLifetime,
    domain::{self, Decision},
    error::ServiceError,
    fanout::Fanout,
    gateway::{ConnId, Hub, Outbound},
    login_counters::LoginCounters,
    metrics::{self, Refusal},
    storage::Storage,
    throttle::{KeyedLimiter, Rate},
};

/// Tries of a membership action whose write keeps losing to another node's.
const CONFLICT_TRIES: usize = 3;

/// Failed logins are counted in windows of this length.
const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1_000;

/// Room previews (an invite link's page) per client address: plenty for people
/// following links, too few to scan for room ids (which are random UUIDs anyway).
const PREVIEW_RATE: Rate = Rate {
    per_second: 1.0,
    burst: 20.0,
};

/// Registrations per client address: 10 at once, then one a minute.
const REGISTER_RATE: Rate = Rate {
    per_second: 1.0 / 60.0,
    burst: 10.0,
};

/// One data export a minute per user.
const EXPORT_RATE: Rate = Rate {
    per_second: 1.0 / 60.0,
    burst: 1.0,
};

/// The abuse limits the service enforces (see `throttle.rs`).
pub struct Limits {
    messages: KeyedLimiter<UserId>,
    /// Failed logins per account and client address: a stranger's guesses lock the
    /// account from the stranger's address, not from its owner's.
    logins: LoginCounters,
    /// Unknown addresses (behind a proxy that did not say) share one allowance.
    previews: KeyedLimiter<Option<IpAddr>>,
    /// How long a rejected user waits before knocking again.
    knock_cooldown_ms: i64,
    /// Per user: rooms created, knocks, and reads (history pages, member lists, room
    /// lists). Defaults a person never meets; a script creating 300 rooms in 8 s does.
    create_rooms: KeyedLimiter<UserId>,
    knocks: KeyedLimiter<UserId>,
    reads: KeyedLimiter<UserId>,
    /// Searches per user: each reads the index of every room the user is in.
    searches: KeyedLimiter<UserId>,
    /// Requests that may wait in one room, and rooms one user may be in or waiting for.
    max_waiting_per_room: usize,
    max_rooms_per_user: usize,
    /// Accounts registered per client address.
    registrations: KeyedLimiter<Option<IpAddr>>,
    /// Data exports per user: each reads everything the user ever wrote.
    exports: KeyedLimiter<UserId>,
    /// `typing` forwarded per user and room: one per `limits::TYPING_THROTTLE_SECS`,
    /// the others dropped silently (they are hints a client repeats).
    typing_per_room: KeyedLimiter<(UserId, RoomId)>,
    /// `typing` forwarded per user, all rooms together: a client that types in a few
    /// rooms at once never meets it, one that names every room of its user does.
    typing: KeyedLimiter<UserId>,
}

/// One `typing` per user and room per throttle period, less a quarter of a second: a
/// client that sends one every period is never dropped for its timer's jitter (at exactly
/// the period, a quarter of them were in the presence benchmark).
#[allow(clippy::cast_precision_loss)] // A few seconds.
const TYPING_PER_ROOM_RATE: Rate = Rate {
    per_second: 1.0 / (knock_protocol::limits::TYPING_THROTTLE_SECS as f64 - 0.25),
    burst: 1.0,
};

/// `typing` forwarded per user across their rooms.
const TYPING_RATE: Rate = Rate {
    per_second: 2.0,
    burst: 10.0,
};

/// The per-user rates of actions other than sending messages.
#[derive(Clone, Copy, Debug)]
pub struct ActionRates {
    pub create_room: Rate,
    pub knock: Rate,
    pub read: Rate,
    pub search: Rate,
}

impl Default for ActionRates {
    fn default() -> Self {
        Self {
            create_room: Rate {
                per_second: 0.2,
                burst: 10.0,
            },
            knock: Rate {
                per_second: 1.0,
                burst: 20.0,
            },
            read: Rate {
                per_second: 10.0,
                burst: 100.0,
            },
            search: Rate {
                per_second: 2.0,
                burst: 20.0,
            },
        }
    }
}

impl Limits {
    pub fn new(message_rate: Rate, login_failures: u32, knock_cooldown_secs: u64) -> Self {
        Self {
            knock_cooldown_ms: i64::try_from(knock_cooldown_secs.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
            messages: KeyedLimiter::new(message_rate),
            logins: LoginCounters::new(
                login_failures,
                login_failures.saturating_mul(10),
                LOGIN_WINDOW_MS,
            ),
            previews: KeyedLimiter::new(PREVIEW_RATE),
            create_rooms: KeyedLimiter::new(ActionRates::default().create_room),
            knocks: KeyedLimiter::new(ActionRates::default().knock),
            reads: KeyedLimiter::new(ActionRates::default().read),
            searches: KeyedLimiter::new(ActionRates::default().search),
            max_waiting_per_room: 1_000,
            max_rooms_per_user: 1_000,
            registrations: KeyedLimiter::new(REGISTER_RATE),
            exports: KeyedLimiter::new(EXPORT_RATE),
            typing_per_room: KeyedLimiter::new(TYPING_PER_ROOM_RATE),
            typing: KeyedLimiter::new(TYPING_RATE),
        }
    }

    /// Failed logins counted in Redis, shared with every node that uses it.
    #[must_use]
    pub fn with_shared_login_counters(mut self, redis: redis::aio::ConnectionManager) -> Self {
        self.logins = self.logins.shared(redis);
        self
    }

    /// This many registrations per client address instead of the default.
    #[must_use]
    pub fn with_register_rate(mut self, rate: Rate) -> Self {
        self.registrations = KeyedLimiter::new(rate);
        self
    }

    /// These caps instead of the defaults (1,000 each).
    #[must_use]
    pub fn with_caps(mut self, max_waiting_per_room: usize, max_rooms_per_user: usize) -> Self {
        self.max_waiting_per_room = max_waiting_per_room;
        self.max_rooms_per_user = max_rooms_per_user;
        self
    }

    /// This many `typing` forwarded per user and room instead of one per
    /// `limits::TYPING_THROTTLE_SECS` (tests make it one per case, whatever the time).
    #[must_use]
    pub fn with_typing_throttle(mut self, per_room: Rate) -> Self {
        self.typing_per_room = KeyedLimiter::new(per_room);
        self
    }

    /// These rates instead of the defaults.
    #[must_use]
    pub fn with_action_rates(mut self, rates: ActionRates) -> Self {
        self.create_rooms = KeyedLimiter::new(rates.create_room);
        self.knocks = KeyedLimiter::new(rates.knock);
        self.reads = KeyedLimiter::new(rates.read);
        self.searches = KeyedLimiter::new(rates.search);
        self
    }

    /// Takes one action of `message`'s kind from the user's allowance, for the kinds that
    /// have one (messages are counted where they are stored, after their checks).
    fn try_take(&self, user: &UserId, message: &ClientMessage) -> Result<(), ServiceError> {
        let (limiter, kind) = match message {
            ClientMessage::CreateRoom { .. } => (&self.create_rooms, Refusal::CreateRoom),
            ClientMessage::JoinRoom(JoinRoom::Request { .. }) => (&self.knocks, Refusal::Knock),
            ClientMessage::GetHistory { .. }
            | ClientMessage::GetMembers { .. }
            | ClientMessage::MyRooms
            | ClientMessage::MarkRead { .. }
            | ClientMessage::ListInvites { .. }
            | ClientMessage::LookupInvite { .. } => (&self.reads, Refusal::Read),
            ClientMessage::Search { .. } => (&self.searches, Refusal::Search),
            // Each is an entry of the room's log, delivered to every member as a message
            // is: they share the sender's message allowance.
            ClientMessage::EditMessage { .. } | ClientMessage::DeleteMessage { .. } => {
                (&self.messages, Refusal::Message)
            }
            _ => return Ok(()),
        };
        if limiter.try_take(user, now_ms()) {
            Ok(())
        } else {
            metrics::refused(kind);
            Err(ServiceError::RateLimited)
        }
    }
}

/// An authenticated socket, as the service sees it.
#[derive(Debug)]
pub struct SocketSession {
    pub conn_id: ConnId,
    pub user_id: UserId,
    /// The room this socket last created, asked to join or named.
    pub current_room: Option<RoomId>,
}

#[derive(Clone)]
pub struct Service {
    storage: Arc<dyn Storage>,
    access: RoomAccess,
    fanout: Fanout,
    messages: MessageBatcher,
    memberships: MembershipBatcher,
    limits: Arc<Limits>,
    turns: Arc<RoomTurns>,
    accounts: Arc<AccountPolicy>,
    /// Who is online; `None` until [`Service::with_presence`] (then nobody is).
    presence: Option<crate::presence::Presence>,
}

/// How passwords are hashed and how long sessions live.
pub struct AccountPolicy {
    pub(crate) hashing: HashingPool,
    pub(crate) sessions: SessionLifetime,
}

impl AccountPolicy {
    /// `threads` hashing threads, `waiting` more hashes queued for them.
    pub fn new(threads: usize, waiting: usize, sessions: SessionLifetime) -> std::io::Result<Self> {
        Ok(Self {
            hashing: HashingPool::new(threads, waiting)?,
            sessions,
        })
    }
}

/// The defaults of `--session-idle`, `--session-lifetime` and `--session-sweep-interval`.
pub const DEFAULT_SESSION_LIFETIME: SessionLifetime = SessionLifetime {
    idle_ms: 30 * DAY_MS,
    absolute_ms: 180 * DAY_MS,
    refresh_ms: DAY_MS / 24,
};
const DAY_MS: i64 = 86_400_000;

/// Membership actions on one room take turns on this node: each reads the room's
/// memberships, applies a rule and writes, and two at once could each act on what the
/// other is changing (a ban and an approval of the same user, two admins stepping down).
#[derive(Default)]
struct RoomTurns {
    rooms: std::sync::Mutex<HashMap<RoomId, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoomTurns {
    async fn take(&self, room_id: &RoomId) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut rooms = self
                .rooms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Rooms nobody is acting on hold nothing.
            if rooms.len() > 1_000 {
                rooms.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            rooms.entry(room_id.clone()).or_default().clone()
        };
        turn.lock_owned().await
    }
}

/// The room a membership action changes, when the frame is one.
fn membership_room<'a>(
    message: &'a ClientMessage,
    session: &'a SocketSession,
) -> Option<&'a RoomId> {
    match message {
        ClientMessage::JoinRoom(JoinRoom::Cancel { room_id })
        | ClientMessage::LeaveRoom { room_id }
        | ClientMessage::RemoveMember { room_id, .. }
        | ClientMessage::BanMember { room_id, .. }
        | ClientMessage::UnbanMember { room_id, .. }
        | ClientMessage::SetRole { room_id, .. }
        | ClientMessage::DeleteRoom { room_id } => Some(room_id),
        ClientMessage::JoinRoom(
            JoinRoom::Approve { room_id, .. } | JoinRoom::Reject { room_id, .. },
        ) => room_id.as_ref().or(session.current_room.as_ref()),
        // A knock by link names its room by now (`Service::knock_room_of_link`).
        ClientMessage::JoinRoom(JoinRoom::Request { room_id, .. }) => room_id.as_ref(),
        _ => None,
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

impl Service {
    pub fn new(
        storage: Arc<dyn Storage>,
        access: RoomAccess,
        fanout: Fanout,
        messages: MessageBatcher,
        memberships: MembershipBatcher,
        limits: Limits,
        accounts: AccountPolicy,
    ) -> Self {
        Self {
            storage,
            access,
            fanout,
            messages,
            memberships,
            limits: Arc::new(limits),
            turns: Arc::default(),
            accounts: Arc::new(accounts),
            presence: None,
        }
    }

    /// Answers `online` in member lists from `presence`.
    #[must_use]
    pub fn with_presence(mut self, presence: crate::presence::Presence) -> Self {
        self.presence = Some(presence);
        self
    }

    pub fn hub(&self) -> &Arc<Hub> {
        self.fanout.hub()
    }

    /// Who may receive which room, on this node.
    pub(crate) fn access(&self) -> &RoomAccess {
        &self.access
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    // ---- socket actions -------------------------------------------------------------

    /// Carries out one action; what comes back goes to the acting socket only.
    pub async fn handle(
        &self,
        session: &mut SocketSession,
        message: ClientMessage,
    ) -> Result<Vec<Outbound>, ServiceError> {
        self.limits.try_take(&session.user_id, &message)?;
        self.act(session, message).await
    }

    /// [`Service::handle`] past the rate limits: membership actions take their room's turn
    /// and run again when another node's write won.
    async fn act(
        &self,
        session: &mut SocketSession,
        message: ClientMessage,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let message = self.knock_room_of_link(message).await?;
        let Some(room_id) = membership_room(&message, session).cloned() else {
            return self.dispatch(session, message).await;
        };
        let _turn = self.turns.take(&room_id).await;
        // A membership write that lost to another node's (its precondition failed) has
        // changed nothing and told nobody: the action runs again on what is stored now.
        for _ in 1..CONFLICT_TRIES {
            match self.dispatch(session, message.clone()).await {
                Err(ServiceError::Conflict) => {}
                answered => return answered,
            }
        }
        self.dispatch(session, message).await
    }

    #[allow(clippy::too_many_lines, reason = "one short arm per action")]
    async fn dispatch(
        &self,
        session: &mut SocketSession,
        message: ClientMessage,
    ) -> Result<Vec<Outbound>, ServiceError> {
        match message {
            ClientMessage::Authenticate { .. } => Err(ServiceError::BadRequest(
                "this socket is already authenticated".into(),
            )),
            ClientMessage::CreateRoom { room_name } => self.create_room(session, &room_name).await,
            ClientMessage::JoinRoom(JoinRoom::Request {
                room_id,
                reason,
                invite_code,
            }) => {
                self.request_join(session, room_id, reason, invite_code)
                    .await
            }
            ClientMessage::JoinRoom(JoinRoom::Cancel { room_id }) => {
                self.cancel_request(session, room_id).await
            }
            ClientMessage::JoinRoom(JoinRoom::Approve { room_id, targets }) => {
                self.decide(session, room_id, targets, Decision::Approve, None)
                    .await
            }
            ClientMessage::JoinRoom(JoinRoom::Reject {
                room_id,
                targets,
                reason,
            }) => {
                self.decide(session, room_id, targets, Decision::Reject, reason)
                    .await
            }
            ClientMessage::LeaveRoom { room_id } => self.leave(session, room_id).await,
            ClientMessage::RemoveMember {
                room_id,
                target_user_id,
                reason,
            } => {
                let rule: MemberRule =
                    |actor, target, current| domain::remove(actor, target, current).map(Some);
                self.act_on_member(session, room_id, target_user_id, reason, rule)
                    .await
            }
            ClientMessage::BanMember {
                room_id,
                target_user_id,
                reason,
            } => {
                self.act_on_member(session, room_id, target_user_id, reason, domain::ban)
                    .await
            }
            ClientMessage::UnbanMember {
                room_id,
                target_user_id,
                reason,
            } => {
                let rule: MemberRule =
                    |actor, target, current| domain::unban(actor, target, current).map(Some);
                self.act_on_member(session, room_id, target_user_id, reason, rule)
                    .await
            }
            ClientMessage::SetRole {
                room_id,
                target_user_id,
                role,
            } => self.set_role(session, room_id, target_user_id, role).await,
            ClientMessage::DeleteRoom { room_id } => self.delete_room(session, room_id).await,
            ClientMessage::SendMessage {
                message,
                room_id,
                client_msg_id,
                reply_to,
            } => {
                self.send_message(session, room_id, message, client_msg_id, reply_to)
                    .await
            }
            ClientMessage::GetMembers { room_id } => self.members(session, room_id).await,
            ClientMessage::GetHistory {
                room_id,
                before_seq,
                limit,
                around_seq,
                after_seq,
            } => {
                let page = domain::search::history_page_kind(before_seq, after_seq, around_seq)?;
                self.history(session, room_id, page, limit).await
            }
            ClientMessage::Search {
                query,
                room_id,
                before_seq,
                cursor,
                limit,
            } => {
                self.search(session, query, room_id, before_seq, cursor, limit)
                    .await
            }
            ClientMessage::Resume { rooms } => self.resume(session, rooms).await,
            ClientMessage::MyRooms => self.my_rooms(session).await,
            ClientMessage::Ping => Ok(vec![Outbound::message(&ServerMessage::Pong)]),
            ClientMessage::EditMessage {
                room_id,
                message_id,
                message,
            } => {
                self.edit_message(session, room_id, message_id, message)
                    .await
            }
            ClientMessage::DeleteMessage {
                room_id,
                message_id,
            } => self.delete_message(session, room_id, message_id).await,
            ClientMessage::MarkRead { room_id, seq } => self.mark_read(session, room_id, seq).await,
            ClientMessage::Typing { room_id } => self.typing(session, room_id).await,
            message @ (ClientMessage::CreateInvite { .. }
            | ClientMessage::ListInvites { .. }
            | ClientMessage::RevokeInvite { .. }
            | ClientMessage::LookupInvite { .. }
            | ClientMessage::SetRoomSettings { .. }) => self.invite_action(session, message).await,
        }
    }

    // ---- helpers --------------------------------------------------------------------

    /// Whether the user may be in or wait for one room more ([`domain::user_takes_a_room`]).
    async fn check_room_count(&self, user_id: &UserId) -> Result<(), ServiceError> {
        let rooms = self
            .storage
            .rooms_of_user(user_id)
            .await?
            .iter()
            .filter(|room| matches!(room.status, MemberStatus::Approved | MemberStatus::Pending))
            .count();
        domain::user_takes_a_room(rooms, self.limits.max_rooms_per_user)?;
        Ok(())
    }

    fn room_or_current(
        session: &mut SocketSession,
        room_id: Option<RoomId>,
    ) -> Result<RoomId, ServiceError> {
        match room_id {
            Some(room_id) => {
                session.current_room = Some(room_id.clone());
                Ok(room_id)
            }
            None => session.current_room.clone().ok_or(ServiceError::NoRoom),
        }
    }
}
