//! Invite links an admin controls: make, list and revoke them, look one up from its
//! page (`/i/<code>`), and the invite-only setting. Knocking with a link is in
//! `membership.rs` (`request_join`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use knock_protocol::{ClientMessage, Invite, InviteCode, JoinRoom, RoomId, ServerMessage, UserId};
use rand::{TryRngCore, rngs::OsRng};

use super::{Service, SocketSession, now_ms};
use crate::{
    domain::{self, RuleError, invites},
    error::ServiceError,
    gateway::Outbound,
};

/// Random bytes in a code: 128 bits, 22 characters of URL-safe base64.
const CODE_BYTES: usize = 16;

/// A new code from the operating system's random source: unguessable, so that a link can
/// only be followed by whoever was given it.
fn new_code() -> Result<InviteCode, ServiceError> {
    let mut bytes = [0u8; CODE_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| ServiceError::Internal(format!("no random bytes: {error}")))?;
    Ok(InviteCode::new(URL_SAFE_NO_PAD.encode(bytes)))
}

impl Service {
    /// The actions of this file, from `Service::dispatch`.
    pub(super) async fn invite_action(
        &self,
        session: &mut SocketSession,
        message: ClientMessage,
    ) -> Result<Vec<Outbound>, ServiceError> {
        match message {
            ClientMessage::CreateInvite {
                room_id,
                label,
                expires_in_secs,
                max_uses,
            } => {
                self.create_invite(session, room_id, label, expires_in_secs, max_uses)
                    .await
            }
            ClientMessage::ListInvites { room_id } => self.list_invites(session, room_id).await,
            ClientMessage::RevokeInvite { room_id, code } => {
                self.revoke_invite(session, room_id, code).await
            }
            ClientMessage::LookupInvite { code } => self.lookup_invite(code).await,
            ClientMessage::SetRoomSettings {
                room_id,
                invite_only,
            } => self.set_room_settings(session, room_id, invite_only).await,
            other => Err(ServiceError::Internal(format!(
                "{} is not an invite action",
                other.action()
            ))),
        }
    }

    /// The room's acting admins as this node's access knows them, after checking that
    /// the user is one (storage decides, as for every admin's action).
    async fn admins_if_admin(
        &self,
        session: &mut SocketSession,
        room_id: &RoomId,
    ) -> Result<Vec<UserId>, ServiceError> {
        session.current_room = Some(room_id.clone());
        let room = self.access.existing_room(room_id).await?;
        let actor = self.storage.membership(room_id, &session.user_id).await?;
        domain::require_admin(actor)?;
        let mut admins: Vec<UserId> = room.admins().cloned().collect();
        if !admins.contains(&session.user_id) {
            admins.push(session.user_id.clone());
        }
        Ok(admins)
    }

    pub(super) async fn create_invite(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        label: Option<String>,
        expires_in_secs: Option<u64>,
        max_uses: Option<u32>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let now = now_ms();
        let terms = invites::terms(label, expires_in_secs, max_uses, now)?;
        let admins = self.admins_if_admin(session, &room_id).await?;
        invites::room_takes_an_invite(self.storage.invites(&room_id).await?.len())?;
        let invite = Invite {
            room_id: room_id.clone(),
            code: new_code()?,
            label: terms.label,
            created_at: now,
            expires_at: terms.expires_at,
            max_uses: terms.max_uses,
            uses: 0,
        };
        self.storage.create_invite(&invite).await?;
        tracing::info!(room = %room_id, "invite link created");
        // Every admin's open panel lists it, the creator's other tabs included.
        self.fanout
            .to_users(&admins, &ServerMessage::Invite(invite));
        Ok(Vec::new())
    }

    pub(super) async fn list_invites(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
    ) -> Result<Vec<Outbound>, ServiceError> {
        self.admins_if_admin(session, &room_id).await?;
        let invites = self.storage.invites(&room_id).await?;
        Ok(vec![Outbound::message(&ServerMessage::Invites {
            room_id,
            invites,
        })])
    }

    pub(super) async fn revoke_invite(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        code: InviteCode,
    ) -> Result<Vec<Outbound>, ServiceError> {
        let admins = self.admins_if_admin(session, &room_id).await?;
        // Storage is shared by every node and checks each knock by link in the knock's
        // transaction: once this is stored, no node accepts the code.
        if !invites::well_formed(&code)
            || !self
                .storage
                .revoke_invite(&room_id, &code, now_ms())
                .await?
        {
            return Err(RuleError::InviteNotFound.into());
        }
        tracing::info!(room = %room_id, "invite link revoked");
        self.fanout
            .to_users(&admins, &ServerMessage::InviteRevoked { room_id, code });
        Ok(Vec::new())
    }

    /// The room a link leads to, if the link works: its name and id, nothing more.
    pub(super) async fn lookup_invite(
        &self,
        code: InviteCode,
    ) -> Result<Vec<Outbound>, ServiceError> {
        if !invites::well_formed(&code) {
            return Err(RuleError::InviteNotFound.into());
        }
        let stored = self.storage.invite(&code).await?;
        invites::usable(stored.as_ref(), now_ms())?;
        let room_id = stored
            .map(|stored| stored.invite.room_id)
            .ok_or(RuleError::InviteNotFound)?;
        let room = self
            .storage
            .room(&room_id)
            .await?
            .ok_or(RuleError::InviteNotFound)?;
        Ok(vec![Outbound::message(&ServerMessage::InviteInfo {
            code,
            room_id,
            room_name: room.room_name,
        })])
    }

    pub(super) async fn set_room_settings(
        &self,
        session: &mut SocketSession,
        room_id: RoomId,
        invite_only: Option<bool>,
    ) -> Result<Vec<Outbound>, ServiceError> {
        self.admins_if_admin(session, &room_id).await?;
        if let Some(invite_only) = invite_only {
            if !self.storage.set_invite_only(&room_id, invite_only).await? {
                return Err(ServiceError::RoomNotFound);
            }
            tracing::info!(room = %room_id, invite_only, "room settings changed");
        }
        let invite_only = self
            .storage
            .invite_only(&room_id)
            .await?
            .ok_or(ServiceError::RoomNotFound)?;
        let room = self.access.existing_room(&room_id).await?;
        let mut told: Vec<UserId> = room.receivers().to_vec();
        if !told.contains(&session.user_id) {
            told.push(session.user_id.clone());
        }
        self.fanout.to_users(
            &told,
            &ServerMessage::RoomSettings {
                room_id,
                invite_only,
            },
        );
        Ok(Vec::new())
    }

    /// A knock by link that names no room takes the link's room, so that it takes that
    /// room's turn like every knock (`Service::act`). An unknown code is refused here.
    pub(super) async fn knock_room_of_link(
        &self,
        message: ClientMessage,
    ) -> Result<ClientMessage, ServiceError> {
        let ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: None,
            reason,
            invite_code: Some(code),
        }) = message
        else {
            return Ok(message);
        };
        let stored = if invites::well_formed(&code) {
            self.storage.invite(&code).await?
        } else {
            None
        };
        let room_id = stored
            .map(|stored| stored.invite.room_id)
            .ok_or(RuleError::InviteNotFound)?;
        Ok(ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room_id),
            reason,
            invite_code: Some(code),
        }))
    }
}
