//! The rules of Knock: who may do what in which membership state. Plain functions over
//! plain data; no I/O, no clock, no randomness.

use knock_protocol::{MemberStatus, UserId, limits};

use crate::storage::Membership;

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
pub enum JoinOutcome {
    /// The user becomes pending and the admins are told.
    Ask,
    /// Nothing changes; the user is told their current status again.
    Unchanged(MemberStatus),
}

pub fn join_request(current: Option<Membership>) -> JoinOutcome {
    match current.map(|m| m.status) {
        None | Some(MemberStatus::Rejected) => JoinOutcome::Ask,
        Some(status @ (MemberStatus::Pending | MemberStatus::Approved)) => {
            JoinOutcome::Unchanged(status)
        }
    }
}

/// An admin's answer to a join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// The target's new membership after an admin's decision, or `None` when it is already
/// in that state (approving twice changes nothing).
pub fn decide(
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

/// Sending, reading history and listing members need an approved membership.
pub fn require_approved(membership: Option<Membership>) -> Result<(), RuleError> {
    match membership {
        Some(Membership {
            status: MemberStatus::Approved,
            ..
        }) => Ok(()),
        _ => Err(RuleError::NotMember),
    }
}

/// Approving and rejecting need an approved admin.
pub fn require_admin(membership: Option<Membership>) -> Result<(), RuleError> {
    match membership {
        Some(Membership {
            status: MemberStatus::Approved,
            is_admin: true,
        }) => Ok(()),
        _ => Err(RuleError::NotAdmin),
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
        assert_eq!(join_request(None), JoinOutcome::Ask);
        assert_eq!(join_request(Some(REJECTED)), JoinOutcome::Ask);
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
    fn only_approved_members_read_and_send() {
        assert_eq!(require_approved(Some(ADMIN)), Ok(()));
        assert_eq!(require_approved(Some(MEMBER)), Ok(()));
        for refused in [None, Some(PENDING), Some(REJECTED)] {
            assert_eq!(require_approved(refused), Err(RuleError::NotMember));
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
    fn usernames_are_case_insensitive() {
        assert_eq!(username(" Alice ").unwrap(), UserId::new("alice"));
        assert_eq!(username("al"), Err(RuleError::InvalidUsername));
        assert_eq!(username("al ice"), Err(RuleError::InvalidUsername));
        assert_eq!(password("1234567"), Err(RuleError::InvalidPassword));
        assert_eq!(password("12345678"), Ok(()));
    }
}
