//! Sessions: start one, authenticate with one (sockets and the HTTP API), list and revoke
//! them, and the sweep that expires them (docs/protocol.md, "Sessions").

use knock_protocol::{AuthResponse, SessionInfo, UserId};

use super::{Service, now_ms};
use crate::{auth, error::ServiceError, gateway::CloseReason, storage::Session};

/// Who is asking: the user and the session (by its token's hash) they asked with.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) user_id: UserId,
    pub(crate) token_hash: String,
}

/// Longest `User-Agent` kept: enough to tell browsers apart.
const MAX_USER_AGENT_CHARS: usize = 256;

impl Service {
    pub(super) async fn start_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
    ) -> Result<AuthResponse, ServiceError> {
        let token = auth::new_token();
        let now = now_ms();
        self.storage
            .create_session(&Session {
                token_hash: auth::token_hash(&token),
                session_id: uuid::Uuid::new_v4().simple().to_string(),
                user_id: user_id.clone(),
                created_at: now,
                last_used_at: now,
                user_agent: user_agent
                    .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
            })
            .await?;
        Ok(AuthResponse { user_id, token })
    }

    /// The caller a token belongs to, if its session is live; marks the session used.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Caller, ServiceError> {
        let token_hash = auth::token_hash(token);
        let session = self
            .storage
            .session(&token_hash)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        let now = now_ms();
        let lifetime = self.accounts.sessions;
        if !lifetime.is_live(session.created_at, session.last_used_at, now) {
            self.revoke(&token_hash).await?;
            return Err(ServiceError::Unauthenticated);
        }
        if lifetime.needs_refresh(session.last_used_at, now) {
            self.storage
                .touch_sessions(std::slice::from_ref(&token_hash), now)
                .await?;
        }
        Ok(Caller {
            user_id: session.user_id,
            token_hash,
        })
    }

    /// Revokes the caller's session and closes every socket opened with it; with
    /// `everywhere`, every session of the user.
    pub(crate) async fn logout(
        &self,
        caller: &Caller,
        everywhere: bool,
    ) -> Result<(), ServiceError> {
        if everywhere {
            self.revoke_sessions(&caller.user_id, None).await?;
        } else {
            self.revoke(&caller.token_hash).await?;
        }
        tracing::info!(user = %caller.user_id, everywhere, "signed out");
        Ok(())
    }

    /// The caller's sessions, most recently used first.
    pub(crate) async fn sessions(&self, caller: &Caller) -> Result<Vec<SessionInfo>, ServiceError> {
        Ok(self
            .storage
            .sessions_of_user(&caller.user_id)
            .await?
            .into_iter()
            .map(|session| SessionInfo {
                current: session.token_hash == caller.token_hash,
                session_id: session.session_id,
                created_at: session.created_at,
                last_used_at: session.last_used_at,
                user_agent: session.user_agent,
            })
            .collect())
    }

    /// Revokes one of the caller's sessions by its id.
    pub(crate) async fn revoke_session(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let session = self
            .storage
            .sessions_of_user(&caller.user_id)
            .await?
            .into_iter()
            .find(|session| session.session_id == session_id)
            .ok_or(ServiceError::SessionNotFound)?;
        self.revoke(&session.token_hash).await?;
        tracing::info!(user = %caller.user_id, "a session was signed out");
        Ok(())
    }

    /// Deletes the user's sessions but `keep` and closes their sockets on every node.
    pub(super) async fn revoke_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> Result<(), ServiceError> {
        for token_hash in self.storage.delete_sessions_of_user(user_id, keep).await? {
            self.fanout
                .close_session(&token_hash, CloseReason::SIGNED_OUT);
        }
        Ok(())
    }

    async fn revoke(&self, token_hash: &str) -> Result<(), ServiceError> {
        self.storage
            .delete_session(token_hash)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        self.fanout
            .close_session(token_hash, CloseReason::SIGNED_OUT);
        Ok(())
    }

    /// Marks the sessions with a socket on this node used, then deletes expired sessions
    /// and closes their sockets on every node. Run every `--session-sweep-interval`.
    pub(crate) async fn sweep_sessions(&self) -> Result<usize, ServiceError> {
        let now = now_ms();
        self.storage
            .touch_sessions(&self.hub().open_sessions(), now)
            .await?;
        let (unused_since, created_before) = self.accounts.sessions.expiry_bounds(now);
        let expired = self
            .storage
            .delete_expired_sessions(unused_since, created_before)
            .await?;
        for token_hash in &expired {
            self.fanout
                .close_session(token_hash, CloseReason::SIGNED_OUT);
        }
        Ok(expired.len())
    }

    /// How often [`Service::sweep_sessions`] runs.
    pub(crate) fn sweep_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            u64::try_from(self.accounts.sessions.refresh_ms)
                .unwrap_or(1)
                .max(1),
        )
    }
}
