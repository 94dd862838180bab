//! The rules of Knock: who may do what in which membership state, and what a valid name,
//! message or client id is. Plain functions over plain data; no I/O, no clock, no
//! randomness, and nothing from storage (storage stores a [`Membership`] as defined here).

use knock_protocol::{ClientMsgId, MemberStatus, UserId, limits};

/// A user's standing in one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub status: MemberStatus,
    pub is_admin: bool,
}

/// A refusal by the rules. Mapped to protocol codes in `error.rs`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("only approved members of this room may do that")]
    NotMember,
    #[error("only the room's admin may do that")]
    NotAdmin,
    #[error("{0} has not asked to join this room")]
    RequestNotFound(UserId),
    #[error("a room name needs 1 to {max} characters", max = limits::MAX_ROOM_NAME_CHARS)]
    InvalidRoomName,
    #[error("a message cannot be empty")]
    EmptyMessage,
    /// U+0000 cannot be stored by every database (PostgreSQL text refuses it).
    #[error("text may not contain the NUL character (U+0000)")]
    NulCharacter,
    #[error("a message may have at most {max} characters", max = limits::MAX_MESSAGE_CHARS)]
    MessageTooLong,
    #[error(
        "clientMsgId needs 1 to {max} bytes and no NUL character",
        max = limits::MAX_CLIENT_MSG_ID_BYTES
    )]
    InvalidClientMsgId,
    #[error(
        "a username needs {min} to {max} characters of a-z, 0-9, '_', '.' and '-'",
        min = limits::USERNAME_CHARS.start(),
        max = limits::USERNAME_CHARS.end()
    )]
    InvalidUsername,
    #[error(
        "a password needs {min} to {max} characters",
        min = limits::PASSWORD_CHARS.start(),
        max = limits::PASSWORD_CHARS.end()
    )]
    InvalidPassword,
}

/// What a `joinRoom request` does, given the requester's current membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinOutcome {
    /// The user's membership becomes this (pending) and the admins are told.
    Ask(Membership),
    /// Nothing changes; the user is told their current status again.
    Unchanged(MemberStatus),
}

pub(crate) fn join_request(current: Option<Membership>) -> JoinOutcome {
    match current.map(|m| m.status) {
        None | Some(MemberStatus::Rejected) => JoinOutcome::Ask(Membership {
            status: MemberStatus::Pending,
            is_admin: false,
        }),
        Some(status @ (MemberStatus::Pending | MemberStatus::Approved)) => {
            JoinOutcome::Unchanged(status)
        }
    }
}

/// An admin's answer to a join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
}

/// The target's new membership after an admin's decision, or `None` when it is already
/// in that state (approving twice changes nothing).
pub(crate) fn decide(
    actor: Option<Membership>,
    target_id: &UserId,
    target: Option<Membership>,
    decision: Decision,
) -> Result<Option<Membership>, RuleError> {
    require_admin(actor)?;
    let Some(target) = target else {
        return Err(RuleError::RequestNotFound(target_id.clone()));
    };
    let new_status = match (decision, target.status) {
        (Decision::Approve, MemberStatus::Approved)
        | (Decision::Reject, MemberStatus::Rejected) => return Ok(None),
        (Decision::Approve, MemberStatus::Pending | MemberStatus::Rejected) => {
            MemberStatus::Approved
        }
        (Decision::Reject, MemberStatus::Pending) => MemberStatus::Rejected,
        // Rejecting an approved member would be a kick, which is not a join decision.
        (Decision::Reject, MemberStatus::Approved) => {
            return Err(RuleError::RequestNotFound(target_id.clone()));
        }
    };
    Ok(Some(Membership {
        status: new_status,
        is_admin: target.is_admin,
    }))
}

/// Whether a user with this membership (`None`: never asked) may receive the room now:
/// its messages and member changes, its history, its member list, a resume of it, its
/// `lastSeq`. Approved members only. Whatever sends a room to a user or reads it for them
/// asks this rule: through `access::RoomAccess` (which adds the node's cache and its check
/// against storage), or on a stored membership directly (`myRooms`). A status that takes
/// access back is a change to this function.
pub(crate) fn may_receive(membership: Option<Membership>) -> bool {
    matches!(
        membership,
        Some(Membership {
            status: MemberStatus::Approved,
            ..
        })
    )
}

/// Whether this membership runs the room: an admin who may still receive it.
pub(crate) fn is_acting_admin(membership: Membership) -> bool {
    membership.is_admin && may_receive(Some(membership))
}

/// Approving and rejecting need an acting admin.
pub(crate) fn require_admin(membership: Option<Membership>) -> Result<(), RuleError> {
    if membership.is_some_and(is_acting_admin) {
        Ok(())
    } else {
        Err(RuleError::NotAdmin)
    }
}

/// The room name as stored: trimmed, 1 to 100 characters.
pub fn room_name(raw: &str) -> Result<String, RuleError> {
    let name = raw.trim();
    if name.contains('\0') {
        return Err(RuleError::NulCharacter);
    }
    let chars = name.chars().count();
    if chars == 0 || chars > limits::MAX_ROOM_NAME_CHARS {
        return Err(RuleError::InvalidRoomName);
    }
    Ok(name.to_owned())
}

/// A chat message is kept exactly as typed, but must have 1 to 4,000 characters and not
/// be only white space.
pub fn message_text(text: &str) -> Result<(), RuleError> {
    if text.trim().is_empty() {
        return Err(RuleError::EmptyMessage);
    }
    if text.contains('\0') {
        return Err(RuleError::NulCharacter);
    }
    if text.chars().count() > limits::MAX_MESSAGE_CHARS {
        return Err(RuleError::MessageTooLong);
    }
    Ok(())
}

/// A `clientMsgId` names one message of its sender for good: 1 to 64 bytes, no NUL.
pub(crate) fn client_msg_id(id: &ClientMsgId) -> Result<(), RuleError> {
    let id = id.as_str();
    if id.is_empty() || id.len() > limits::MAX_CLIENT_MSG_ID_BYTES || id.contains('\0') {
        return Err(RuleError::InvalidClientMsgId);
    }
    Ok(())
}

/// Whether a member list (`getMembers`) shows a user with this status: approved and
/// pending users are listed, rejected ones are not.
pub(crate) fn listed_in_members(status: MemberStatus) -> bool {
    status != MemberStatus::Rejected
}

/// How many messages a history page holds: the requested number within 1 to the most
/// allowed, the default page when none is asked for.
pub(crate) fn history_page(limit: Option<u32>) -> u32 {
    limit
        .unwrap_or(limits::DEFAULT_HISTORY_PAGE)
        .clamp(1, limits::MAX_HISTORY_PAGE)
}

/// The user id for a typed username: lower-cased, so names are unique regardless of case.
pub fn username(raw: &str) -> Result<UserId, RuleError> {
    let name = raw.trim().to_lowercase();
    if limits::is_valid_username(&name) {
        Ok(UserId::new(name))
    } else {
        Err(RuleError::InvalidUsername)
    }
}

pub fn password(raw: &str) -> Result<(), RuleError> {
    if limits::is_valid_password(raw) {
        Ok(())
    } else {
        Err(RuleError::InvalidPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: Membership = Membership {
        status: MemberStatus::Approved,
        is_admin: true,
    };
    const MEMBER: Membership = Membership {
        status: MemberStatus::Approved,
        is_admin: false,
    };
    const PENDING: Membership = Membership {
        status: MemberStatus::Pending,
        is_admin: false,
    };
    const REJECTED: Membership = Membership {
        status: MemberStatus::Rejected,
        is_admin: false,
    };

    fn bob() -> UserId {
        UserId::new("bob")
    }

    #[test]
    fn outsiders_and_rejected_users_may_ask_again() {
        assert_eq!(join_request(None), JoinOutcome::Ask(PENDING));
        assert_eq!(join_request(Some(REJECTED)), JoinOutcome::Ask(PENDING));
    }

    #[test]
    fn asking_twice_changes_nothing() {
        assert_eq!(
            join_request(Some(PENDING)),
            JoinOutcome::Unchanged(MemberStatus::Pending)
        );
        assert_eq!(
            join_request(Some(MEMBER)),
            JoinOutcome::Unchanged(MemberStatus::Approved)
        );
        assert_eq!(
            join_request(Some(ADMIN)),
            JoinOutcome::Unchanged(MemberStatus::Approved)
        );
    }

    #[test]
    fn only_an_approved_admin_decides() {
        for actor in [None, Some(MEMBER), Some(PENDING), Some(REJECTED)] {
            for decision in [Decision::Approve, Decision::Reject] {
                assert_eq!(
                    decide(actor, &bob(), Some(PENDING), decision),
                    Err(RuleError::NotAdmin)
                );
            }
        }
        // An admin whose membership is no longer approved has lost the right too.
        let demoted = Membership {
            status: MemberStatus::Rejected,
            is_admin: true,
        };
        assert_eq!(
            decide(Some(demoted), &bob(), Some(PENDING), Decision::Approve),
            Err(RuleError::NotAdmin)
        );
    }

    #[test]
    fn admin_decisions_on_requests() {
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(PENDING), Decision::Approve),
            Ok(Some(MEMBER))
        );
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(PENDING), Decision::Reject),
            Ok(Some(REJECTED))
        );
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(REJECTED), Decision::Approve),
            Ok(Some(MEMBER)),
            "an admin may change their mind"
        );
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(MEMBER), Decision::Approve),
            Ok(None)
        );
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(REJECTED), Decision::Reject),
            Ok(None)
        );
    }

    #[test]
    fn decisions_need_a_request() {
        assert_eq!(
            decide(Some(ADMIN), &bob(), None, Decision::Approve),
            Err(RuleError::RequestNotFound(bob()))
        );
        assert_eq!(
            decide(Some(ADMIN), &bob(), Some(MEMBER), Decision::Reject),
            Err(RuleError::RequestNotFound(bob())),
            "rejecting a member is not a join decision"
        );
        assert_eq!(
            decide(
                Some(ADMIN),
                &UserId::new("alice"),
                Some(ADMIN),
                Decision::Reject
            ),
            Err(RuleError::RequestNotFound(UserId::new("alice"))),
            "the admin cannot reject themselves"
        );
    }

    #[test]
    fn only_approved_members_receive() {
        assert!(may_receive(Some(ADMIN)));
        assert!(may_receive(Some(MEMBER)));
        for refused in [None, Some(PENDING), Some(REJECTED)] {
            assert!(!may_receive(refused));
        }
    }

    #[test]
    fn room_names() {
        assert_eq!(room_name("  General  ").unwrap(), "General");
        assert_eq!(room_name("   "), Err(RuleError::InvalidRoomName));
        assert_eq!(room_name(""), Err(RuleError::InvalidRoomName));
        assert!(room_name(&"é".repeat(100)).is_ok());
        assert_eq!(room_name(&"é".repeat(101)), Err(RuleError::InvalidRoomName));
    }

    #[test]
    fn message_texts() {
        assert_eq!(message_text("hi"), Ok(()));
        assert_eq!(message_text(" \n "), Err(RuleError::EmptyMessage));
        assert_eq!(message_text(""), Err(RuleError::EmptyMessage));
        assert_eq!(message_text(&"😀".repeat(4_000)), Ok(()));
        assert_eq!(message_text("a\0b"), Err(RuleError::NulCharacter));
        assert_eq!(room_name("a\0b"), Err(RuleError::NulCharacter));
        assert_eq!(
            message_text(&"a".repeat(4_001)),
            Err(RuleError::MessageTooLong)
        );
    }

    #[test]
    fn client_msg_ids() {
        assert_eq!(client_msg_id(&ClientMsgId::new("a")), Ok(()));
        assert_eq!(
            client_msg_id(&ClientMsgId::new(
                "x".repeat(limits::MAX_CLIENT_MSG_ID_BYTES)
            )),
            Ok(())
        );
        for refused in [
            String::new(),
            "x".repeat(limits::MAX_CLIENT_MSG_ID_BYTES + 1),
            "a\0b".to_owned(),
        ] {
            assert_eq!(
                client_msg_id(&ClientMsgId::new(refused)),
                Err(RuleError::InvalidClientMsgId)
            );
        }
    }

    #[test]
    fn member_lists_and_history_pages() {
        assert!(listed_in_members(MemberStatus::Approved));
        assert!(listed_in_members(MemberStatus::Pending));
        assert!(!listed_in_members(MemberStatus::Rejected));
        assert_eq!(history_page(None), limits::DEFAULT_HISTORY_PAGE);
        assert_eq!(history_page(Some(0)), 1);
        assert_eq!(history_page(Some(7)), 7);
        assert_eq!(history_page(Some(u32::MAX)), limits::MAX_HISTORY_PAGE);
    }

    #[test]
    fn usernames_are_case_insensitive() {
        assert_eq!(username(" Alice ").unwrap(), UserId::new("alice"));
        assert_eq!(username("al"), Err(RuleError::InvalidUsername));
        assert_eq!(username("al ice"), Err(RuleError::InvalidUsername));
        assert_eq!(password("1234567"), Err(RuleError::InvalidPassword));
        assert_eq!(password("12345678"), Ok(()));
    }
}
