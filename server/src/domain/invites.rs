//! Invite links: what a new link may be, whether a link still works, and which knocks a
//! room takes. Plain functions over values passed in (the clock included).

use knock_protocol::{Invite, InviteCode, RoomId, limits};

use super::RuleError;

/// An invite link as stored: revoked links are kept (marked) so that a pending request
/// still names the link it came by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInvite {
    pub invite: Invite,
    pub revoked: bool,
}

/// What a new link will be, from `createInvite`'s fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteTerms {
    pub label: Option<String>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<u32>,
}

/// A new link's terms: the label trimmed (absent when blank), at most
/// [`limits::MAX_INVITE_LABEL_CHARS`]; a lifetime of 1 s to [`limits::MAX_INVITE_SECS`];
/// 1 to [`limits::MAX_INVITE_USES`] uses.
pub fn terms(
    label: Option<String>,
    expires_in_secs: Option<u64>,
    max_uses: Option<u32>,
    now_ms: i64,
) -> Result<InviteTerms, RuleError> {
    let label = label
        .map(|label| label.trim().to_owned())
        .filter(|label| !label.is_empty());
    if let Some(label) = &label {
        if label.contains('\0') {
            return Err(RuleError::NulCharacter);
        }
        if label.chars().count() > limits::MAX_INVITE_LABEL_CHARS {
            return Err(RuleError::InvalidInvite("labelTooLong"));
        }
    }
    let expires_at = match expires_in_secs {
        None => None,
        Some(secs) if (1..=limits::MAX_INVITE_SECS).contains(&secs) => {
            // At most a year in milliseconds: far from overflowing.
            Some(now_ms.saturating_add(i64::try_from(secs * 1_000).unwrap_or(i64::MAX)))
        }
        Some(_) => return Err(RuleError::InvalidInvite("expiresInSecs")),
    };
    if max_uses.is_some_and(|uses| !(1..=limits::MAX_INVITE_USES).contains(&uses)) {
        return Err(RuleError::InvalidInvite("maxUses"));
    }
    Ok(InviteTerms {
        label,
        expires_at,
        max_uses,
    })
}

/// Whether a room may keep one link more, with `kept` links not revoked.
pub(crate) fn room_takes_an_invite(kept: usize) -> Result<(), RuleError> {
    if kept < limits::MAX_INVITES_PER_ROOM {
        Ok(())
    } else {
        Err(RuleError::TooManyInvites)
    }
}

/// Whether a link makes requests at `now_ms`, and if not, why. The order is the one a
/// user can act on: a revoked link is gone for good, then time, then uses.
pub fn usable(stored: Option<&StoredInvite>, now_ms: i64) -> Result<(), RuleError> {
    let Some(stored) = stored else {
        return Err(RuleError::InviteNotFound);
    };
    if stored.revoked {
        return Err(RuleError::InviteRevoked);
    }
    if stored.invite.expires_at.is_some_and(|at| now_ms >= at) {
        return Err(RuleError::InviteExpired);
    }
    if stored
        .invite
        .max_uses
        .is_some_and(|max| stored.invite.uses >= max)
    {
        return Err(RuleError::InviteUsedUp);
    }
    Ok(())
}

/// A code as the server makes them (URL-safe base64, a few dozen characters): anything
/// else is unknown without asking storage.
pub fn well_formed(code: &InviteCode) -> bool {
    let code = code.as_str();
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The room a knock is for: the one named, the link's, or both when they agree (a link
/// of another room is as unknown as no link).
pub(crate) fn knock_room(
    named: Option<RoomId>,
    link_room: Option<RoomId>,
) -> Result<RoomId, RuleError> {
    match (named, link_room) {
        (Some(named), Some(link)) if named == link => Ok(link),
        (Some(_), Some(_)) => Err(RuleError::InviteNotFound),
        (named, link) => named.or(link).ok_or(RuleError::NoKnockRoom),
    }
}

/// A knock that would make a request: by link always, by bare room id only when the
/// room is not invite-only.
pub(crate) fn takes_knock(invite_only: bool, by_link: bool) -> Result<(), RuleError> {
    if invite_only && !by_link {
        Err(RuleError::InviteOnly)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::{InviteCode, RoomId};

    use super::*;

    fn stored(
        expires_at: Option<i64>,
        max_uses: Option<u32>,
        uses: u32,
        revoked: bool,
    ) -> StoredInvite {
        StoredInvite {
            invite: Invite {
                room_id: RoomId::new("r"),
                code: InviteCode::new("c"),
                label: None,
                created_at: 0,
                expires_at,
                max_uses,
                uses,
            },
            revoked,
        }
    }

    #[test]
    fn a_link_works_until_revoked_expired_or_used_up() {
        assert_eq!(usable(Some(&stored(None, None, 900, false)), 5), Ok(()));
        assert_eq!(
            usable(Some(&stored(Some(10), Some(2), 1, false)), 9),
            Ok(())
        );
        assert_eq!(usable(None, 0), Err(RuleError::InviteNotFound));
        assert_eq!(
            usable(Some(&stored(Some(10), Some(1), 1, true)), 20),
            Err(RuleError::InviteRevoked)
        );
        assert_eq!(
            usable(Some(&stored(Some(10), Some(1), 1, false)), 10),
            Err(RuleError::InviteExpired)
        );
        assert_eq!(
            usable(Some(&stored(None, Some(1), 1, false)), 10),
            Err(RuleError::InviteUsedUp)
        );
    }

    #[test]
    fn terms_are_checked() {
        let t = terms(Some("  Newsletter ".into()), Some(60), Some(3), 1_000).unwrap();
        assert_eq!(t.label.as_deref(), Some("Newsletter"));
        assert_eq!(t.expires_at, Some(61_000));
        assert_eq!(terms(Some("  ".into()), None, None, 0).unwrap().label, None);
        let long = "é".repeat(limits::MAX_INVITE_LABEL_CHARS + 1);
        assert!(matches!(
            terms(Some(long), None, None, 0),
            Err(RuleError::InvalidInvite(_))
        ));
        assert!(matches!(
            terms(None, Some(0), None, 0),
            Err(RuleError::InvalidInvite(_))
        ));
        assert!(matches!(
            terms(None, Some(limits::MAX_INVITE_SECS + 1), None, 0),
            Err(RuleError::InvalidInvite(_))
        ));
        assert!(matches!(
            terms(None, None, Some(0), 0),
            Err(RuleError::InvalidInvite(_))
        ));
        assert!(
            terms(
                None,
                Some(limits::MAX_INVITE_SECS),
                Some(limits::MAX_INVITE_USES),
                0
            )
            .is_ok()
        );
    }

    #[test]
    fn knocks_name_one_room() {
        let r = || Some(RoomId::new("r"));
        assert_eq!(knock_room(r(), None), Ok(RoomId::new("r")));
        assert_eq!(knock_room(None, r()), Ok(RoomId::new("r")));
        assert_eq!(knock_room(r(), r()), Ok(RoomId::new("r")));
        assert_eq!(
            knock_room(Some(RoomId::new("other")), r()),
            Err(RuleError::InviteNotFound)
        );
        assert_eq!(knock_room(None, None), Err(RuleError::NoKnockRoom));
        assert_eq!(takes_knock(true, false), Err(RuleError::InviteOnly));
        assert_eq!(takes_knock(true, true), Ok(()));
        assert_eq!(takes_knock(false, false), Ok(()));
        assert!(well_formed(&InviteCode::new("AbC-_9")));
        assert!(!well_formed(&InviteCode::new("")));
        assert!(!well_formed(&InviteCode::new("a b")));
        assert!(!well_formed(&InviteCode::new("x".repeat(65))));
    }
}
