//! Accounts: register, sign in (with its throttling), sign out, and the token a socket
//! authenticates with.

use std::net::IpAddr;

use knock_protocol::{AuthResponse, Credentials, UserId};

use super::{Service, blocking, now_ms};
use crate::{auth, domain, error::ServiceError};

impl Service {
    pub(crate) async fn register(
        &self,
        credentials: Credentials,
    ) -> Result<AuthResponse, ServiceError> {
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
    pub(crate) async fn login(
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
