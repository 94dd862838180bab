//! Invite links (docs/protocol.md, *Invite links*): an admin's list of a room's links,
//! creating and revoking them, the invite-only setting; and, for the person invited, the
//! look-up of a link's room before knocking with it.

use knock_protocol::{ClientMessage, Invite, InviteCode, RoomId};

use super::{ChatState, Command, Slot, reason_to_send};

/// The longest label the server takes.
pub const MAX_LABEL_CHARS: usize = 100;

/// What `/i/<code>` knows of its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteLookup {
    pub code: InviteCode,
    /// The room and its name, once the server said.
    pub room: Option<(RoomId, String)>,
    /// Why the link cannot be used, once the server said.
    pub error: Option<String>,
}

impl ChatState {
    /// The admin opened the room's "Invite links".
    pub fn list_invites(&mut self, room_id: &RoomId) -> Vec<Command> {
        if !self.online {
            return Vec::new();
        }
        vec![Command::Send(ClientMessage::ListInvites {
            room_id: room_id.clone(),
        })]
    }

    /// "Create link": `expires_in_secs` from the form's choice, `max_uses` as typed (empty
    /// for no limit). `Err` with a sentence when the form is not acceptable.
    pub fn create_invite(
        &mut self,
        room_id: &RoomId,
        label: &str,
        expires_in_secs: Option<u64>,
        max_uses: &str,
    ) -> Result<Vec<Command>, String> {
        let label = label.trim();
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(format!("A label has at most {MAX_LABEL_CHARS} characters."));
        }
        let max_uses = match max_uses.trim() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(n) if (1..=1_000_000).contains(&n) => Some(n),
                _ => {
                    return Err(
                        "Uses: a whole number from 1 to 1,000,000, or empty for no limit.".into(),
                    );
                }
            },
        };
        self.errors.remove(&Slot::Invites(room_id.clone()));
        Ok(vec![Command::Send(ClientMessage::CreateInvite {
            room_id: room_id.clone(),
            label: (!label.is_empty()).then(|| label.to_owned()),
            expires_in_secs,
            max_uses,
        })])
    }

    pub fn revoke_invite(&mut self, room_id: &RoomId, code: &InviteCode) -> Vec<Command> {
        vec![Command::Send(ClientMessage::RevokeInvite {
            room_id: room_id.clone(),
            code: code.clone(),
        })]
    }

    pub fn set_invite_only(&mut self, room_id: &RoomId, invite_only: bool) -> Vec<Command> {
        vec![Command::Send(ClientMessage::SetRoomSettings {
            room_id: room_id.clone(),
            invite_only: Some(invite_only),
        })]
    }

    /// `/i/<code>` opened: ask which room it leads to (again after a reconnect).
    pub fn look_up_invite(&mut self, code: &InviteCode) -> Vec<Command> {
        let asked = self
            .invite_lookup
            .as_ref()
            .is_some_and(|l| &l.code == code && (l.room.is_some() || l.error.is_some()));
        if asked {
            return Vec::new();
        }
        self.invite_lookup = Some(InviteLookup {
            code: code.clone(),
            room: None,
            error: None,
        });
        if !self.online {
            return Vec::new();
        }
        vec![Command::Send(ClientMessage::LookupInvite {
            code: code.clone(),
        })]
    }

    /// "Ask to join" on `/i/<code>`: a knock that names the link.
    pub fn knock_with_invite(&mut self, message: &str) -> Vec<Command> {
        let Some(InviteLookup {
            code,
            room: Some((room_id, _)),
            ..
        }) = self.invite_lookup.clone()
        else {
            return Vec::new();
        };
        if let Err(text) = reason_to_send(message) {
            self.errors.insert(Slot::JoinRoom, text);
            return Vec::new();
        }
        self.request_join_with(room_id.as_str(), message, Some(code))
    }

    pub(super) fn on_invite(&mut self, invite: Invite) {
        if let Some(room) = self.rooms.get_mut(&invite.room_id) {
            let list = room.invites.get_or_insert_with(Vec::new);
            list.retain(|i| i.code != invite.code);
            list.insert(0, invite);
        }
    }

    pub(super) fn on_invites(&mut self, room_id: &RoomId, invites: Vec<Invite>) {
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.invites = Some(invites);
        }
        self.errors.remove(&Slot::Invites(room_id.clone()));
    }

    pub(super) fn on_invite_revoked(&mut self, room_id: &RoomId, code: &InviteCode) {
        if let Some(list) = self.rooms.get_mut(room_id).and_then(|r| r.invites.as_mut()) {
            list.retain(|i| &i.code != code);
        }
    }

    pub(super) fn on_invite_info(&mut self, code: InviteCode, room_id: RoomId, room_name: String) {
        if self.invite_lookup.as_ref().is_some_and(|l| l.code == code) {
            self.invite_lookup = Some(InviteLookup {
                code,
                room: Some((room_id, room_name)),
                error: None,
            });
        }
    }

    /// An invite action was refused: at the link's page for a look-up, else in the room's
    /// "Invite links".
    pub(super) fn invite_refused(&mut self, action: &str, readable: String) {
        if action == "lookupInvite" {
            if let Some(lookup) = &mut self.invite_lookup {
                lookup.error = Some(readable);
            }
            return;
        }
        let slot = self.viewing.clone().map_or(Slot::General, Slot::Invites);
        self.errors.insert(slot, readable);
    }
}

/// The form's expiry choices: label and seconds (none: never).
pub const EXPIRY_CHOICES: [(&str, Option<u64>); 4] = [
    ("Never", None),
    ("1 hour", Some(3_600)),
    ("1 day", Some(86_400)),
    ("7 days", Some(7 * 86_400)),
];

/// "3 of 10 uses", "3 uses".
pub fn uses_text(invite: &Invite) -> String {
    match invite.max_uses {
        Some(max) => format!("{} of {max} uses", invite.uses),
        None if invite.uses == 1 => "1 use".to_owned(),
        None => format!("{} uses", invite.uses),
    }
}

/// Whether a link still lets people knock at `now_ms`.
pub fn is_usable(invite: &Invite, now_ms: i64) -> bool {
    invite.expires_at.is_none_or(|at| at > now_ms)
        && invite.max_uses.is_none_or(|max| invite.uses < max)
}
