//! One function per action: check the rules, change storage, tell the people concerned.
//! Handlers in `ws.rs` and `http.rs` only decode, call and encode.

use std::{
    net::IpAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use knock_protocol::{
    AuthResponse, ClientMessage, ClientMsgId, Credentials, JoinRoom, MemberStatus, MessageId,
    ResumeRoom, RoomId, RoomPreview, ServerMessage, UserId, limits,
};

use crate::{
    auth,
    batcher::{MembershipBatcher, MessageBatcher},
    directory::{RoomDirectory, RoomEntry},
    domain::{self, Decision, JoinOutcome},
    error::ServiceError,
    fanout::Fanout,
    gateway::{ConnId, Hub, Outbound},
    storage::{Inserted, Membership, MembershipChange, NewMessage, NewRoom, Storage},
    throttle::{FailureLimiter, KeyedLimiter, Rate},
};

/// Failed logins are counted in windows of this length.
const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1_000;

/// Room previews (an invite link's page) per client address: plenty for people
/// following links, too few to scan for room ids (which are random UUIDs anyway).
const PREVIEW_RATE: Rate = Rate {
    per_second: 1.0,
    burst: 20.0,
};

/// The abuse limits the service enforces (see `throttle.rs`).
pub struct Limits {
    messages: KeyedLimiter<UserId>,
    logins_by_user: FailureLimiter<UserId>,
    logins_by_address: FailureLimiter<IpAddr>,
    /// Unknown addresses (behind a proxy that did not say) share one allowance.
    previews: KeyedLimiter<Option<IpAddr>>,
}

impl Limits {
    pub fn new(message_rate: Rate, login_failures: u32) -> Self {
        Self {
            messages: KeyedLimiter::new(message_rate),
            logins_by_user: FailureLimiter::new(login_failures, LOGIN_WINDOW_MS),
            logins_by_address: FailureLimiter::new(
                login_failures.saturating_mul(10),
                LOGIN_WINDOW_MS,
            ),
            previews: KeyedLimiter::new(PREVIEW_RATE),
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
    directory: Arc<RoomDirectory>,
    fanout: Fanout,
    messages: MessageBatcher,
    memberships: MembershipBatcher,
    limits: Arc<Limits>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

impl Service {
    pub fn new(
        storage: Arc<dyn Storage>,
        directory: Arc<RoomDirectory>,
        fanout: Fanout,
        messages: MessageBatcher,
        memberships: MembershipBatcher,
        limits: Limits,
    ) -> Self {
        Self {
            storage,
            directory,
            fanout,
            messages,
            memberships,
            limits: Arc::new(limits),
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        self.fanout.hub()
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    // ---- accounts -------------------------------------------------------------------

    pub async fn register(&self, credentials: Credentials) -> Result<AuthResponse, ServiceError> {
        let user_id = domain::username(&credentials.username)?;
        domain::password(&credentials.password)?;
        let hash = blocking(move || auth::hash_password(&credentials.password))
            .await?
            .map_err(|e| ServiceError::Internal(format!("hashing: {e}")))?;
        match self.storage.create_user(&user_id, &hash, now_ms()).await {
            Err(crate::storage::StorageError::Conflict) => return Err(ServiceError::UsernameTaken),
            other => other?,
        }
        tracing::info!(user = %user_id, "registered");
        self.start_session(user_id).await
    }

    /// Signs in; after too many failures for the username or from the address, further
    /// attempts are refused for the rest of the window without checking the password.
    pub async fn login(
        &self,
        credentials: Credentials,
        address: Option<IpAddr>,
    ) -> Result<AuthResponse, ServiceError> {
        // A malformed username cannot exist; it is still answered like a wrong password.
        let user_id = domain::username(&credentials.username).ok();
        let now = now_ms();
        let account_lock = user_id
            .as_ref()
            .and_then(|user| self.limits.logins_by_user.locked_for_ms(user, now));
        let address_lock =
            address.and_then(|address| self.limits.logins_by_address.locked_for_ms(&address, now));
        if let Some(left_ms) = account_lock.or(address_lock) {
            tracing::warn!(user = ?user_id, ?address, "login throttled");
            return Err(ServiceError::LoginLocked {
                account: account_lock.is_some(),
                retry_after_secs: u64::try_from(left_ms).unwrap_or(0).div_ceil(1_000),
            });
        }
        let stored = match &user_id {
            Some(user_id) => self.storage.credential(user_id).await?,
            None => None,
        };
        let hash = stored.as_ref().map_or_else(
            || auth::decoy_hash().to_owned(),
            |c| c.password_hash.clone(),
        );
        let password = credentials.password;
        let matches = blocking(move || auth::verify_password(&password, &hash)).await?;
        if let (Some(credential), true) = (stored, matches) {
            self.limits.logins_by_user.clear(&credential.user_id);
            return self.start_session(credential.user_id).await;
        }
        if let Some(user) = &user_id {
            self.limits.logins_by_user.record_failure(user, now);
        }
        if let Some(address) = address {
            self.limits.logins_by_address.record_failure(&address, now);
        }
        Err(ServiceError::InvalidCredentials)
    }

    /// What an invite link's page shows before knocking: the room's name and who runs
    /// it, and nothing else (no members, no messages). Anyone with the id may ask.
    pub async fn room_preview(
        &self,
        room_id: &RoomId,
        address: Option<IpAddr>,
    ) -> Result<RoomPreview, ServiceError> {
        if !self.limits.previews.try_take(&address, now_ms()) {
            return Err(ServiceError::RateLimited);
        }
        let room = self
            .storage
            .room(room_id)
            .await?
            .ok_or(ServiceError::RoomNotFound)?;
        let admins = self
            .storage
            .members(room_id)
            .await?
            .into_iter()
            .filter(|m| m.is_admin && m.status == MemberStatus::Approved)
            .map(|m| m.user_id)
            .collect();
        Ok(RoomPreview {
            room_id: room.room_id,
            room_name: room.room_name,
            admins,
        })
    }

    async fn start_session(&self, user_id: UserId) -> Result<AuthResponse, ServiceError> {
        let token = auth::new_token();
        self.storage
            .create_session(&auth::token_hash(&token), &user_id, now_ms())
            .await?;
        Ok(AuthResponse { user_id, token })
    }

    /// Revokes the token and closes every socket opened with it.
    pub async fn logout(&self, token: &str) -> Result<(), ServiceError> {
        let hash = auth::token_hash(token);
        let user = self
            .storage
            .delete_session(&hash)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        self.fanout
            .close_session(&hash, crate::gateway::CloseReason::SIGNED_OUT);
        tracing::info!(%user, "signed out");
        Ok(())
    }

    /// The user a token belongs to, with the hash its sockets are filed under.
    pub async fn authenticate(&self, token: &str) -> Result<(UserId, String), ServiceError> {
        let hash = auth::token_hash(token);
        let user = self
            .storage
            .session_user(&hash)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        Ok((user, hash))
    }

    // ---- socket actions -------------------------------------------------------------

    /// Carries out one action; what comes back goes to the acting socket only.
    pub async fn handle(
        &self,
        session: &mut SocketSession,
        message: ClientMessage,
    ) -> Result<Vec<Outbound>, ServiceError> {
        match message {
            ClientMessage::Authenticate { .. } => Err(ServiceError::BadRequest(
                "this socket is already authenticated".into(),
            )),
            ClientMessage::CreateRoom { room_name } => self.create_room(session, &room_name).await,
            ClientMessage::JoinRoom(JoinRoom::Request { room_id }) => {
                self.request_join(session, room_id).await
            }
            ClientMessage::JoinRoom(JoinRoom::Approve {
                room_id,
                target_user_id,
            }) => {
                self.decide(session, room_id, &target_user_id, Decision::Approve)
                    .await
            }
            ClientMessage::JoinRoom(JoinRoom::Reject {
                room_id,
                target_user_id,
            }) => {
                self.decide(session, room_id, &target_user_id, Decision::Reject)
                    .await
            }
            ClientMessage::SendMessage {
                message,
                room_id,
                client_msg_id,
            } => {
                self.send_message(session, room_id, message, client_msg_id)
                    .await
            }
            ClientMessage::GetMembers { room_id } => self.members(session, room_id).await,
            ClientMessage::GetHistory {
                room_id,
                before_seq,
                limit,
            } => self.history(session, room_id, before_seq, limit).await,
            ClientMessage::Resume { rooms } => self.resume(session, rooms).await,
            ClientMessage::MyRooms => self.my_rooms(session).await,
            ClientMessage::Ping => Ok(vec![Outbound::message(&ServerMessage::Pong)]),
        }
    }

    async fn create_room(
        &self,
        session: &mut SocketSession,
        raw_name: &str,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_name = domain::room_name(raw_name)?;
        let room_id = RoomId::new(uuid::Uuid::new_v4().to_string());
        self.storage
            .create_room(&NewRoom {
                room_id: room_id.clone(),
                room_name: room_name.clone(),
                admin: session.user_id.clone(),
                created_at: now_ms(),
            })
            .await?;
        tracing::info!(room = %room_id, "room created");
        session.current_room = Some(room_id.clone());
        let created = ServerMessage::RoomCreated { room_id, room_name };
        // The creator's other tabs learn of the room too.
        self.fanout.to_user(&session.user_id, &created);
        Ok(Vec::new())
    }

    async fn request_join(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        let room = self.existing_room(&room_id).await?;
        let current = self.storage.membership(&room_id, &session.user_id).await?;
        match domain::join_request(current) {
            JoinOutcome::Unchanged(status) => {
                Ok(vec![Outbound::message(&ServerMessage::JoinResponse {
                    room_id,
                    status,
                })])
            }
            JoinOutcome::Ask => {
                let pending = Membership {
                    status: MemberStatus::Pending,
                    is_admin: false,
                };
                self.store_membership(&room_id, &session.user_id, pending)
                    .await?;
                tracing::info!(room = %room_id, "join requested");
                // Admins never change, so the directory's list is the stored one.
                let admins: Vec<UserId> = room.admins().cloned().collect();
                self.fanout.to_users(
                    &admins,
                    &ServerMessage::JoinRequest {
                        user_id: session.user_id.clone(),
                        room_id: room_id.clone(),
                    },
                );
                self.fanout.to_user(
                    &session.user_id,
                    &ServerMessage::JoinResponse {
                        room_id: room_id.clone(),
                        status: MemberStatus::Pending,
                    },
                );
                self.announce_change(&room_id, &session.user_id, pending)
                    .await?;
                Ok(Vec::new())
            }
        }
    }

    async fn decide(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        target: &UserId,
        decision: Decision,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        self.existing_room(&room_id).await?;
        let actor = self.storage.membership(&room_id, &session.user_id).await?;
        let target = domain::username(target.as_str()).unwrap_or_else(|_| target.clone());
        let current = self.storage.membership(&room_id, &target).await?;
        let Some(changed) = domain::decide(actor, &target, current, decision)? else {
            // Already decided that way: nothing changes, nobody is notified again.
            return Ok(Vec::new());
        };
        self.store_membership(&room_id, &target, changed).await?;
        tracing::info!(room = %room_id, %target, status = changed.status.as_str(), "join decided");
        self.fanout.to_user(
            &target,
            &ServerMessage::JoinResponse {
                room_id: room_id.clone(),
                status: changed.status,
            },
        );
        self.announce_change(&room_id, &target, changed).await?;
        Ok(Vec::new())
    }

    /// Membership decisions read storage, not the directory (they must see the latest
    /// state); the change is stored (batched with others queued at the same time) and
    /// then applied to the directory of every node.
    async fn store_membership(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: Membership,
    ) -> Result<(), ServiceError> {
        self.memberships
            .store(MembershipChange {
                room_id: room_id.clone(),
                user_id: user.clone(),
                membership,
                updated_at: now_ms(),
            })
            .await?;
        self.directory.apply(room_id, user, membership);
        self.fanout.room_changed(room_id, user, membership);
        Ok(())
    }

    /// `memberChanged` to every approved member of the room (as the directory, which has
    /// just applied the change, knows them) and to the user concerned.
    async fn announce_change(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: Membership,
    ) -> Result<(), ServiceError> {
        let change = ServerMessage::MemberChanged {
            room_id: room_id.clone(),
            user_id: user_id.clone(),
            status: membership.status,
            is_admin: membership.is_admin,
        };
        let room = self.directory.get(room_id).await?;
        let approved = room
            .as_ref()
            .map_or(&[][..], |room| room.approved.as_slice());
        self.fanout.to_users(approved, &change);
        if !approved.contains(user_id) {
            self.fanout.to_user(user_id, &change);
        }
        Ok(())
    }

    async fn send_message(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
        text: String,
        client_msg_id: Option<ClientMsgId>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        domain::message_text(&text)?;
        if client_msg_id.as_ref().is_some_and(|id| {
            id.as_str().is_empty()
                || id.as_str().len() > limits::MAX_CLIENT_MSG_ID_BYTES
                || id.as_str().contains('\0')
        }) {
            return Err(ServiceError::BadRequest(format!(
                "clientMsgId needs 1 to {} bytes and no NUL character",
                limits::MAX_CLIENT_MSG_ID_BYTES
            )));
        }
        self.require_approved(&room_id, &session.user_id).await?;
        if !self.limits.messages.try_take(&session.user_id, now_ms()) {
            return Err(ServiceError::RateLimited);
        }
        let inserted = self
            .messages
            .store(NewMessage {
                room_id,
                user_id: session.user_id.clone(),
                message: text,
                timestamp: now_ms(),
                // Time-ordered (v7): each new id lands at the end of the unique index
                // instead of on a random page of it, one page fewer written per message.
                message_id: MessageId::new(uuid::Uuid::now_v7().to_string()),
                client_msg_id: client_msg_id.clone(),
            })
            .await?;
        let stored = match &inserted {
            Inserted::New(stored) => stored,
            Inserted::Duplicate(stored) => {
                tracing::debug!(seq = stored.seq, "retry of a stored message");
                stored
            }
        };
        Ok(client_msg_id
            .map(|client_msg_id| {
                Outbound::message(&ServerMessage::MessageAck {
                    client_msg_id,
                    room_id: stored.room_id.clone(),
                    seq: stored.seq,
                    message_id: stored.message_id.clone(),
                    timestamp: stored.timestamp,
                })
            })
            .into_iter()
            .collect())
    }

    async fn members(
        &self,
        session: &mut SocketSession,
        room_id: Option<RoomId>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let room_id = Self::room_or_current(session, room_id)?;
        let room = self.require_approved(&room_id, &session.user_id).await?;
        let participants = self
            .storage
            .members(&room_id)
            .await?
            .into_iter()
            .filter(|participant| participant.status != MemberStatus::Rejected)
            .collect();
        Ok(vec![Outbound::message(&ServerMessage::RoomMembers {
            room_id,
            room_name: room.room_name.clone(),
            participants,
        })])
    }

    async fn history(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        session.current_room = Some(room_id.clone());
        self.require_approved(&room_id, &session.user_id).await?;
        let limit = limit
            .unwrap_or(limits::DEFAULT_HISTORY_PAGE)
            .clamp(1, limits::MAX_HISTORY_PAGE);
        // One more than asked tells whether an older page exists.
        let mut messages = self
            .storage
            .messages_before(&room_id, before_seq, limit + 1)
            .await?;
        let has_more = messages.len() > limit as usize;
        if has_more {
            messages.remove(0);
        }
        Ok(vec![Outbound::message(&ServerMessage::History {
            room_id,
            messages,
            has_more,
        })])
    }

    async fn resume(
        &self,
        session: &SocketSession,
        rooms: Vec<ResumeRoom>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        // Every room is checked before anything is replayed, so a refusal replays nothing.
        for room in &rooms {
            self.require_approved(&room.room_id, &session.user_id)
                .await?;
        }
        Ok(rooms
            .into_iter()
            .map(|room| Outbound::CatchUp {
                room_id: room.room_id,
                after_seq: room.after_seq,
            })
            .collect())
    }

    async fn my_rooms(&self, session: &SocketSession) -> Result<Vec<Outbound>, ServiceError> {
        let mut rooms = self.storage.rooms_of_user(&session.user_id).await?;
        for room in &mut rooms {
            if room.status != MemberStatus::Approved {
                room.last_seq = 0;
            }
        }
        Ok(vec![Outbound::message(&ServerMessage::Rooms { rooms })])
    }

    // ---- helpers --------------------------------------------------------------------

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

    async fn existing_room(&self, room_id: &RoomId) -> Result<Arc<RoomEntry>, ServiceError> {
        // Ids Knock never made cannot name a room; no need to ask storage.
        if uuid::Uuid::parse_str(room_id.as_str()).is_err() {
            return Err(ServiceError::RoomNotFound);
        }
        self.directory
            .get(room_id)
            .await?
            .ok_or(ServiceError::RoomNotFound)
    }

    /// The hot path's check (every message, history page, member list, resume): answered
    /// from the directory.
    async fn require_approved(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Arc<RoomEntry>, ServiceError> {
        let room = self.existing_room(room_id).await?;
        if domain::require_approved(room.membership(user_id)).is_ok() {
            return Ok(room);
        }
        // The directory may lag behind an approval made on another node: ask storage
        // for this one membership before refusing.
        let stored = self.storage.membership(room_id, user_id).await?;
        domain::require_approved(stored)?;
        if let Some(membership) = stored {
            self.directory.apply(room_id, user_id, membership);
        }
        Ok(room)
    }
}

/// Runs CPU-heavy work (password hashing) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Internal(format!("blocking task: {e}")))
}
