//! Accounts: register, sign in (with its throttling), change the password, delete the
//! account, export its data. Sessions are in `sessions.rs`.

use std::net::IpAddr;

use knock_protocol::{
    AccountExport, AuthResponse, ClientMessage, Credentials, ExportedMessage, ExportedUser,
    JoinRoom, MemberStatus, PasswordChange, Role, UserId,
};

use super::{Service, SocketSession, now_ms, sessions::Caller};
use crate::{
    auth, domain,
    error::ServiceError,
    login_counters::{Counter, LoginCounters},
    metrics,
    storage::Credential,
};

impl Service {
    pub(crate) async fn register(
        &self,
        credentials: Credentials,
        address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<AuthResponse, ServiceError> {
        let user_id = domain::username(&credentials.username)?;
        domain::password(&credentials.password)?;
        if !self.limits.registrations.try_take(&address, now_ms()) {
            tracing::warn!(?address, "registrations throttled");
            metrics::refused(metrics::Refusal::Register);
            return Err(ServiceError::TooManyRegistrations {
                retry_after_secs: 60,
            });
        }
        let hash = self.hash_password(credentials.password).await?;
        match self.storage.create_user(&user_id, &hash, now_ms()).await {
            Err(crate::storage::StorageError::Conflict) => return Err(ServiceError::UsernameTaken),
            other => other?,
        }
        tracing::info!(user = %user_id, "registered");
        self.start_session(user_id, user_agent).await
    }

    /// Signs in. Each attempt is taken from the allowances of the account at this address
    /// and of the address before the password is checked, so that attempts made at once
    /// cannot all be checked; once either is used up, attempts are refused without
    /// checking until the window ends.
    pub(crate) async fn login(
        &self,
        credentials: Credentials,
        address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<AuthResponse, ServiceError> {
        // A malformed username cannot exist; it is still answered like a wrong password.
        let user_id = domain::username(&credentials.username).ok();
        let stored = self
            .check_password(user_id.as_ref(), credentials.password, address)
            .await?;
        self.start_session(stored.user_id, user_agent).await
    }

    /// Changes the caller's password and signs out their other sessions.
    pub(crate) async fn change_password(
        &self,
        caller: &Caller,
        change: PasswordChange,
        address: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        domain::password(&change.new_password)?;
        self.check_password(Some(&caller.user_id), change.current_password, address)
            .await?;
        let hash = self.hash_password(change.new_password).await?;
        if !self
            .storage
            .set_password_hash(&caller.user_id, &hash)
            .await?
        {
            return Err(ServiceError::Unauthenticated);
        }
        self.revoke_sessions(&caller.user_id, Some(&caller.token_hash))
            .await?;
        tracing::info!(user = %caller.user_id, "password changed");
        Ok(())
    }

    /// Deletes the caller's account (docs/protocol.md, "Deleting an account"): signs out
    /// every session, leaves every room as the user would (handing the admin role on where
    /// they were the only admin), then deletes what is left.
    pub(crate) async fn delete_account(
        &self,
        caller: &Caller,
        password: String,
        address: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        self.check_password(Some(&caller.user_id), password, address)
            .await?;
        self.revoke_sessions(&caller.user_id, None).await?;
        let user_id = &caller.user_id;
        let mut acting = SocketSession {
            conn_id: 0,
            user_id: user_id.clone(),
            current_room: None,
        };
        for room in self.storage.rooms_of_user(user_id).await? {
            let room_id = room.room_id;
            match room.status {
                MemberStatus::Pending => {
                    self.act(
                        &mut acting,
                        ClientMessage::JoinRoom(JoinRoom::Cancel { room_id }),
                    )
                    .await?;
                }
                MemberStatus::Approved => {
                    if let Some(heir) = self.heir(&room_id, user_id).await? {
                        self.act(
                            &mut acting,
                            ClientMessage::SetRole {
                                room_id: room_id.clone(),
                                target_user_id: heir,
                                role: Role::Admin,
                            },
                        )
                        .await?;
                    }
                    self.act(&mut acting, ClientMessage::LeaveRoom { room_id })
                        .await?;
                }
                _ => {}
            }
        }
        self.storage.delete_user(user_id).await?;
        tracing::info!(user = %user_id, "account deleted");
        Ok(())
    }

    /// Who becomes admin when `leaving`, the room's only admin, goes: the approved member
    /// who asked to join first. `None` when someone else is admin already or nobody is
    /// left (then leaving deletes the room).
    async fn heir(
        &self,
        room_id: &knock_protocol::RoomId,
        leaving: &UserId,
    ) -> Result<Option<UserId>, ServiceError> {
        // Admins first, then in the order users first asked to join (`Storage::members`).
        let members = self.storage.members(room_id).await?;
        let mut others = members
            .iter()
            .filter(|member| &member.user_id != leaving && member.status == MemberStatus::Approved);
        Ok(match others.next() {
            Some(first) if !first.is_admin => Some(first.user_id.clone()),
            _ => None,
        })
    }

    /// Everything Knock keeps of the caller's.
    pub(crate) async fn export(&self, caller: &Caller) -> Result<AccountExport, ServiceError> {
        if !self.limits.exports.try_take(&caller.user_id, now_ms()) {
            return Err(ServiceError::RateLimited);
        }
        let user = self
            .storage
            .credential(&caller.user_id)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let messages = self
            .storage
            .messages_by_user(&caller.user_id)
            .await?
            .into_iter()
            .map(|message| ExportedMessage {
                room_id: message.room_id,
                seq: message.seq,
                message_id: message.message_id,
                message: message.message,
                timestamp: message.timestamp,
            })
            .collect();
        Ok(AccountExport {
            exported_at: now_ms(),
            user: ExportedUser {
                user_id: user.user_id,
                created_at: user.created_at,
            },
            sessions: self.sessions(caller).await?,
            rooms: self.storage.memberships_of_user(&caller.user_id).await?,
            messages,
        })
    }

    /// The stored credential when `password` is the user's. The attempt is taken from the
    /// allowances of the account at this address and of the address before the password
    /// is checked, so that attempts made at once cannot all be checked; an unknown user
    /// costs as much time as a wrong password.
    async fn check_password(
        &self,
        user_id: Option<&UserId>,
        password: String,
        address: Option<IpAddr>,
    ) -> Result<Credential, ServiceError> {
        let account = user_id.map(|user| LoginCounters::account_key(user, address));
        let address = address.map(LoginCounters::address_key);
        self.reserve_login(account.as_deref(), address.as_deref())
            .await?;
        let logins = &self.limits.logins;
        let checked = self.verify(user_id, password).await;
        if !matches!(checked, Ok(None)) {
            // Signed in, or not checked (the server was busy or failed): the attempt does
            // not count; a success clears the account's failures.
            if let Some(account) = &account {
                if checked.is_ok() {
                    logins.clear(Counter::Account, account).await;
                } else {
                    logins.give_back(Counter::Account, account).await;
                }
            }
            if let Some(address) = &address {
                logins.give_back(Counter::Address, address).await;
            }
        }
        checked?.ok_or(ServiceError::InvalidCredentials)
    }

    async fn verify(
        &self,
        user_id: Option<&UserId>,
        password: String,
    ) -> Result<Option<Credential>, ServiceError> {
        let stored = match user_id {
            Some(user_id) => self.storage.credential(user_id).await?,
            None => None,
        };
        let hash = stored.as_ref().map(|c| c.password_hash.clone());
        let matches = self
            .accounts
            .hashing
            .verify(password, hash)
            .await
            .map_err(|auth::Busy| ServiceError::HashingBusy)?;
        Ok(stored.filter(|_| matches))
    }

    async fn hash_password(&self, password: String) -> Result<String, ServiceError> {
        self.accounts
            .hashing
            .hash(password)
            .await
            .map_err(|auth::Busy| ServiceError::HashingBusy)?
            .map_err(|e| ServiceError::Internal(format!("hashing: {e}")))
    }

    /// Takes one login attempt from the account's (at this address) and the address's
    /// allowances, or refuses with how long the lock lasts.
    async fn reserve_login(
        &self,
        account: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), ServiceError> {
        let now = now_ms();
        let logins = &self.limits.logins;
        let locked = |account: bool, left_ms: i64| {
            tracing::warn!(address, account, "login throttled");
            metrics::refused(metrics::Refusal::login(account));
            ServiceError::LoginLocked {
                account,
                retry_after_secs: u64::try_from(left_ms).unwrap_or(0).div_ceil(1_000),
            }
        };
        if let Some(account) = account {
            logins
                .try_reserve(Counter::Account, account, now)
                .await
                .map_err(|left_ms| locked(true, left_ms))?;
        }
        if let Some(address) = address
            && let Err(left_ms) = logins.try_reserve(Counter::Address, address, now).await
        {
            if let Some(account) = account {
                logins.give_back(Counter::Account, account).await;
            }
            return Err(locked(false, left_ms));
        }
        Ok(())
    }
}
