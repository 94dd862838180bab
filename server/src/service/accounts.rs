//! Accounts: register, sign in (with its throttling), sign out, and the token a socket
//! authenticates with.

use std::net::IpAddr;

use knock_protocol::{AuthResponse, Credentials, UserId};

use super::{Service, blocking, now_ms};
use crate::{auth, domain, error::ServiceError, metrics};

impl Service {
    pub(crate) async fn register(
        &self,
        credentials: Credentials,
    ) -> Result<AuthResponse, ServiceError> {
        let user_id = domain::username(&credentials.username)?;
        domain::password(&credentials.password)?;
        let hash = metrics::hashing(blocking(move || auth::hash_password(&credentials.password)))
            .await?
            .map_err(|e| ServiceError::Internal(format!("hashing: {e}")))?;
        match self.storage.create_user(&user_id, &hash, now_ms()).await {
            Err(crate::storage::StorageError::Conflict) => return Err(ServiceError::UsernameTaken),
            other => other?,
        }
        tracing::info!(user = %user_id, "registered");
        self.start_session(user_id).await
    }

    /// Signs in. Each attempt is taken from the allowances of the account at this address
    /// and of the address before the password is checked, so that attempts made at once
    /// cannot all be checked; once either is used up, attempts are refused without
    /// checking until the window ends.
    pub(crate) async fn login(
        &self,
        credentials: Credentials,
        address: Option<IpAddr>,
    ) -> Result<AuthResponse, ServiceError> {
        // A malformed username cannot exist; it is still answered like a wrong password.
        let user_id = domain::username(&credentials.username).ok();
        let account = user_id.clone().map(|user| (user, address));
        self.reserve_login(account.as_ref(), address)?;
        let stored = match &user_id {
            Some(user_id) => self.storage.credential(user_id).await?,
            None => None,
        };
        let hash = stored.as_ref().map_or_else(
            || auth::decoy_hash().to_owned(),
            |c| c.password_hash.clone(),
        );
        let password = credentials.password;
        let matches =
            metrics::hashing(blocking(move || auth::verify_password(&password, &hash))).await?;
        if let (Some(credential), true) = (stored, matches) {
            if let Some(account) = &account {
                self.limits.logins_by_account.clear(account);
            }
            if let Some(address) = address {
                self.limits.logins_by_address.give_back(&address);
            }
            return self.start_session(credential.user_id).await;
        }
        Err(ServiceError::InvalidCredentials)
    }

    /// Takes one login attempt from the account's (at this address) and the address's
    /// allowances, or refuses with how long the lock lasts.
    fn reserve_login(
        &self,
        account: Option<&(UserId, Option<IpAddr>)>,
        address: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        let now = now_ms();
        let locked = |account: bool, left_ms: i64| {
            tracing::warn!(?address, account, "login throttled");
            metrics::refused(metrics::Refusal::login(account));
            ServiceError::LoginLocked {
                account,
                retry_after_secs: u64::try_from(left_ms).unwrap_or(0).div_ceil(1_000),
            }
        };
        if let Some(account) = account {
            self.limits
                .logins_by_account
                .try_reserve(account, now)
                .map_err(|left_ms| locked(true, left_ms))?;
        }
        if let Some(address) = address
            && let Err(left_ms) = self.limits.logins_by_address.try_reserve(&address, now)
        {
            if let Some(account) = account {
                self.limits.logins_by_account.give_back(account);
            }
            return Err(locked(false, left_ms));
        }
        Ok(())
    }

    pub(super) async fn start_session(
        &self,
        user_id: UserId,
    ) -> Result<AuthResponse, ServiceError> {
        let token = auth::new_token();
        self.storage
            .create_session(&auth::token_hash(&token), &user_id, now_ms())
            .await?;
        Ok(AuthResponse { user_id, token })
    }

    /// Revokes the token and closes every socket opened with it.
    pub(crate) async fn logout(&self, token: &str) -> Result<(), ServiceError> {
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
    pub(crate) async fn authenticate(&self, token: &str) -> Result<(UserId, String), ServiceError> {
        let hash = auth::token_hash(token);
        let user = self
            .storage
            .session_user(&hash)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        Ok((user, hash))
    }
}
