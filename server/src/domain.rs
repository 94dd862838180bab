//! The rules of Knock: who may do what in which membership state, and what a valid name,
//! message or client id is. Plain functions over plain data; no I/O, no clock, no
//! randomness, and nothing from storage (storage stores a [`Membership`] as defined here).

pub mod invites;
pub mod mentions;
pub mod search;

use knock_protocol::{
    ChatMessage, ClientMsgId, MemberStatus, Participant, ResumeRoom, Role, Targets, UserId, limits,
};

/// A user's standing in one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub status: MemberStatus,
    pub is_admin: bool,
}

impl From<&Participant> for Membership {
    fn from(row: &Participant) -> Self {
        Self {
            status: row.status,
            is_admin: row.is_admin,
        }
    }
}

/// A refusal by the rules. Mapped to protocol codes in `error.rs`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("only approved members of this room may do that")]
    NotMember,
    #[error("only an admin of this room may do that")]
    NotAdmin,
    #[error("{0} has not asked to join this room")]
    RequestNotFound(UserId),
    #[error(
        "a room name needs 1 to {max} characters, some of them visible",
        max = limits::MAX_ROOM_NAME_CHARS
    )]
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
    #[error("you are banned from this room")]
    Banned,
    #[error("{}", cooldown_text(*.retry_after_secs))]
    KnockCooldown { retry_after_secs: u64 },
    #[error(
        "the room would have no admin left: make another member admin first, or delete the room"
    )]
    LastAdmin,
    #[error("{0} is an admin: remove their admin role first")]
    TargetIsAdmin(UserId),
    #[error("{0} is not in this room in a way that allows that")]
    TargetNotMember(UserId),
    #[error("a reason may have at most {max} characters", max = limits::MAX_REASON_CHARS)]
    ReasonTooLong,
    #[error(
        "name the users with targetUserId or targetUserIds (1 to {max}), not both",
        max = limits::MAX_DECISION_TARGETS
    )]
    BadTargets,
    #[error("a resume may name at most {max} rooms", max = limits::MAX_RESUME_ROOMS)]
    TooManyResumeRooms,
    #[error(
        "{0} requests are already waiting in this room; try again once the admins have answered some"
    )]
    TooManyWaiting(usize),
    #[error("you are in or waiting for {0} rooms, the most allowed; leave one first")]
    TooManyRooms(usize),
    #[error("type a word to search for: a query needs at least one letter or digit")]
    EmptyQuery,
    #[error(
        "a search may have at most {max} characters",
        max = limits::MAX_SEARCH_QUERY_CHARS
    )]
    QueryTooLong,
    /// Paging fields that do not go together.
    #[error("{0}")]
    BadPaging(&'static str),
    #[error("this room has no message with that id")]
    MessageNotFound,
    #[error("that message was deleted")]
    MessageDeleted,
    #[error("only its author may edit a message")]
    NotAuthor,
    #[error("this invite link does not exist; ask the room's admins for a new one")]
    InviteNotFound,
    #[error("this invite link was revoked by the room's admins")]
    InviteRevoked,
    #[error("this invite link has expired; ask the room's admins for a new one")]
    InviteExpired,
    #[error(
        "this invite link has been used as many times as it may; ask the room's admins for a new one"
    )]
    InviteUsedUp,
    /// The field of `createInvite` out of its limits.
    #[error("{}", invalid_invite_text(.0))]
    InvalidInvite(&'static str),
    #[error(
        "this room already has {max} invite links; revoke some first",
        max = limits::MAX_INVITES_PER_ROOM
    )]
    TooManyInvites,
    #[error("this room takes requests by invite link only; ask its admins for a link")]
    InviteOnly,
    #[error("name the room with roomId or inviteCode")]
    NoKnockRoom,
}

/// Which limit of `createInvite` a field broke.
fn invalid_invite_text(field: &str) -> String {
    match field {
        "labelTooLong" => format!(
            "a label may have at most {} characters",
            limits::MAX_INVITE_LABEL_CHARS
        ),
        "expiresInSecs" => format!(
            "expiresInSecs must be 1 to {} (a year)",
            limits::MAX_INVITE_SECS
        ),
        _ => format!("maxUses must be 1 to {}", limits::MAX_INVITE_USES),
    }
}

/// "You were turned down recently. You may ask again in 9 minutes.", rounded up.
fn cooldown_text(retry_after_secs: u64) -> String {
    let minutes = retry_after_secs.div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("your request was turned down recently: you may ask again in {minutes} {unit}")
}

/// A stored membership and when it last changed (for the re-knock cooldown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Since {
    pub membership: Membership,
    pub updated_at_ms: i64,
}

/// What a `joinRoom request` does, given the requester's current membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinOutcome {
    /// The user's membership becomes this (pending) and the admins are told.
    Ask(Membership),
    /// Nothing changes; the user is told their current status again.
    Unchanged(MemberStatus),
}

const PENDING: Membership = Membership {
    status: MemberStatus::Pending,
    is_admin: false,
};

/// A knock: strangers and those who left or were removed ask at once, a rejected user
/// once `cooldown_ms` has passed since the rejection, a banned user never (and in neither
/// refusal is any admin told).
pub(crate) fn join_request(
    current: Option<Since>,
    now_ms: i64,
    cooldown_ms: i64,
) -> Result<JoinOutcome, RuleError> {
    let Some(current) = current else {
        return Ok(JoinOutcome::Ask(PENDING));
    };
    match current.membership.status {
        MemberStatus::Left | MemberStatus::Removed => Ok(JoinOutcome::Ask(PENDING)),
        MemberStatus::Rejected => {
            let waited = now_ms.saturating_sub(current.updated_at_ms);
            if waited >= cooldown_ms {
                Ok(JoinOutcome::Ask(PENDING))
            } else {
                let left_ms = u64::try_from(cooldown_ms - waited).unwrap_or(0);
                Err(RuleError::KnockCooldown {
                    retry_after_secs: left_ms.div_ceil(1_000),
                })
            }
        }
        MemberStatus::Banned => Err(RuleError::Banned),
        status @ (MemberStatus::Pending | MemberStatus::Approved) => {
            Ok(JoinOutcome::Unchanged(status))
        }
    }
}

/// A pending user withdraws their request: they become `left`, which no admin can approve.
pub(crate) fn cancel_request(
    user_id: &UserId,
    current: Option<Membership>,
) -> Result<Membership, RuleError> {
    match current {
        Some(Membership {
            status: MemberStatus::Pending,
            ..
        }) => Ok(LEFT),
        _ => Err(RuleError::RequestNotFound(user_id.clone())),
    }
}

const LEFT: Membership = Membership {
    status: MemberStatus::Left,
    is_admin: false,
};

/// An admin's answer to a join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
}

/// The users an approval or rejection names: exactly one of `targetUserId` and
/// `targetUserIds` (1 to [`limits::MAX_DECISION_TARGETS`]), each named once, in order.
pub(crate) fn decision_targets(targets: Targets) -> Result<Vec<UserId>, RuleError> {
    let users = match (targets.target_user_id, targets.target_user_ids) {
        (Some(user), None) => vec![user],
        (None, Some(users)) if (1..=limits::MAX_DECISION_TARGETS).contains(&users.len()) => users,
        _ => return Err(RuleError::BadTargets),
    };
    let mut seen = std::collections::HashSet::new();
    Ok(users
        .into_iter()
        .filter(|user| seen.insert(user.clone()))
        .collect())
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
        // Rejecting an approved member would be a removal, which is not a join decision;
        // a withdrawn request, a removal or a ban leaves no request to decide on.
        (Decision::Reject, MemberStatus::Approved)
        | (_, MemberStatus::Left | MemberStatus::Removed | MemberStatus::Banned) => {
            return Err(RuleError::RequestNotFound(target_id.clone()));
        }
    };
    Ok(Some(Membership {
        status: new_status,
        is_admin: target.is_admin,
    }))
}

/// Who else is in a room, for the rules that must not leave it without an admin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Others {
    /// Approved members other than the one acting.
    pub(crate) approved: usize,
    /// Admins among them.
    pub(crate) admins: usize,
}

/// What `leaveRoom` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaveOutcome {
    /// The user's membership becomes this (`left`).
    Leave(Membership),
    /// The user was the room's only approved member: the room goes with them.
    DeleteRoom,
}

/// Leaving: a pending user withdraws, a member leaves; the last admin may not leave
/// others without one, and the last member takes the room with them.
pub(crate) fn leave(
    current: Option<Membership>,
    others: Others,
) -> Result<LeaveOutcome, RuleError> {
    match current {
        Some(Membership {
            status: MemberStatus::Pending,
            ..
        }) => Ok(LeaveOutcome::Leave(LEFT)),
        Some(
            member @ Membership {
                status: MemberStatus::Approved,
                ..
            },
        ) => {
            if others.approved == 0 {
                Ok(LeaveOutcome::DeleteRoom)
            } else if member.is_admin && others.admins == 0 {
                Err(RuleError::LastAdmin)
            } else {
                Ok(LeaveOutcome::Leave(LEFT))
            }
        }
        _ => Err(RuleError::NotMember),
    }
}

/// An admin takes an approved member (not another admin) out of the room.
pub(crate) fn remove(
    actor: Option<Membership>,
    target_id: &UserId,
    target: Option<Membership>,
) -> Result<Membership, RuleError> {
    require_admin(actor)?;
    match target {
        Some(target) if target.is_admin && may_receive(Some(target)) => {
            Err(RuleError::TargetIsAdmin(target_id.clone()))
        }
        Some(target) if may_receive(Some(target)) => Ok(Membership {
            status: MemberStatus::Removed,
            is_admin: false,
        }),
        _ => Err(RuleError::TargetNotMember(target_id.clone())),
    }
}

/// An admin bans a user, whatever their standing (not another admin); `None` when they
/// are banned already.
pub(crate) fn ban(
    actor: Option<Membership>,
    target_id: &UserId,
    target: Option<Membership>,
) -> Result<Option<Membership>, RuleError> {
    require_admin(actor)?;
    match target {
        Some(target) if is_acting_admin(target) => Err(RuleError::TargetIsAdmin(target_id.clone())),
        Some(Membership {
            status: MemberStatus::Banned,
            ..
        }) => Ok(None),
        _ => Ok(Some(Membership {
            status: MemberStatus::Banned,
            is_admin: false,
        })),
    }
}

/// An admin lifts a ban: the user becomes `left`, free to knock again.
pub(crate) fn unban(
    actor: Option<Membership>,
    target_id: &UserId,
    target: Option<Membership>,
) -> Result<Membership, RuleError> {
    require_admin(actor)?;
    match target {
        Some(Membership {
            status: MemberStatus::Banned,
            ..
        }) => Ok(LEFT),
        _ => Err(RuleError::TargetNotMember(target_id.clone())),
    }
}

/// An admin makes an approved member admin or takes the role back (their own included),
/// never from the last admin; `None` when the role is already that.
pub(crate) fn set_role(
    actor: Option<Membership>,
    target_id: &UserId,
    target: Option<Membership>,
    role: Role,
    admins: usize,
) -> Result<Option<Membership>, RuleError> {
    require_admin(actor)?;
    let Some(target) = target.filter(|target| may_receive(Some(*target))) else {
        return Err(RuleError::TargetNotMember(target_id.clone()));
    };
    let is_admin = role == Role::Admin;
    if target.is_admin == is_admin {
        return Ok(None);
    }
    if !is_admin && admins <= 1 {
        return Err(RuleError::LastAdmin);
    }
    Ok(Some(Membership {
        status: target.status,
        is_admin,
    }))
}

/// A reason as kept and sent: trimmed, `None` when empty, at most
/// [`limits::MAX_REASON_CHARS`] characters.
pub fn reason(raw: Option<String>) -> Result<Option<String>, RuleError> {
    let Some(raw) = raw else { return Ok(None) };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.contains('\0') {
        return Err(RuleError::NulCharacter);
    }
    if trimmed.chars().count() > limits::MAX_REASON_CHARS {
        return Err(RuleError::ReasonTooLong);
    }
    Ok(Some(trimmed.to_owned()))
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

/// Every admin's action needs an acting admin.
pub(crate) fn require_admin(membership: Option<Membership>) -> Result<(), RuleError> {
    if membership.is_some_and(is_acting_admin) {
        Ok(())
    } else {
        Err(RuleError::NotAdmin)
    }
}

/// The room name as stored: trimmed, 1 to 100 characters, at least one of them visible
/// (a name of zero-width spaces would be a blank row nobody can tell apart).
pub fn room_name(raw: &str) -> Result<String, RuleError> {
    let name = raw.trim();
    if name.contains('\0') {
        return Err(RuleError::NulCharacter);
    }
    let chars = name.chars().count();
    if chars > limits::MAX_ROOM_NAME_CHARS || !limits::has_visible_character(name) {
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

/// Whether `actor` may edit `message`: its author only (an approved member: checked with
/// access), and not once it is deleted.
pub(crate) fn may_edit(actor: &UserId, message: &ChatMessage) -> Result<(), RuleError> {
    if message.user_id != *actor {
        return Err(RuleError::NotAuthor);
    }
    if message.deleted {
        return Err(RuleError::MessageDeleted);
    }
    Ok(())
}

/// Whether `actor` (with this membership of the message's room) may delete `message`: its
/// author, or an acting admin of the room; not twice.
pub(crate) fn may_delete(
    actor: &UserId,
    membership: Option<Membership>,
    message: &ChatMessage,
) -> Result<(), RuleError> {
    if message.user_id != *actor {
        require_admin(membership)?;
    }
    if message.deleted {
        return Err(RuleError::MessageDeleted);
    }
    Ok(())
}

/// Whether a member list (`getMembers`) shows a user with this status: approved and
/// pending users to everyone, banned ones to admins (their "Banned" list).
pub(crate) fn listed_in_members(status: MemberStatus, to_admin: bool) -> bool {
    match status {
        MemberStatus::Approved | MemberStatus::Pending => true,
        MemberStatus::Banned => to_admin,
        MemberStatus::Rejected | MemberStatus::Left | MemberStatus::Removed => false,
    }
}

/// Whether the room's members who are not admins hear of a change from `before` to
/// `after`: when the user was or becomes a row of their member list
/// ([`listed_in_members`]). Admins and the user concerned hear of every change.
pub(crate) fn members_hear_of(before: Option<Membership>, after: Membership) -> bool {
    before.is_some_and(|before| listed_in_members(before.status, false))
        || listed_in_members(after.status, false)
}

/// Whether `myRooms` lists a room where the user has this status: not once they left,
/// were removed or banned.
pub(crate) fn listed_in_my_rooms(status: MemberStatus) -> bool {
    matches!(
        status,
        MemberStatus::Approved | MemberStatus::Pending | MemberStatus::Rejected
    )
}

/// A knock is taken while fewer than `max` requests wait in the room: past that, the room
/// is being flooded and its admins could not read them anyway.
pub(crate) fn room_takes_a_request(waiting: usize, max: usize) -> Result<(), RuleError> {
    if waiting < max {
        Ok(())
    } else {
        Err(RuleError::TooManyWaiting(max))
    }
}

/// A user may create or ask to join another room while they are in or waiting for fewer
/// than `max`.
pub(crate) fn user_takes_a_room(rooms: usize, max: usize) -> Result<(), RuleError> {
    if rooms < max {
        Ok(())
    } else {
        Err(RuleError::TooManyRooms(max))
    }
}

/// Where a catch-up of the messages after `sent_up_to` through `newest` starts: from the
/// first unless more than [`limits::MAX_CATCH_UP`] are missing, then from the newest that
/// many, the older ones left for the client to page with `getHistory` (`historyGap`).
pub(crate) fn catch_up_after(sent_up_to: u64, newest: u64) -> u64 {
    sent_up_to.max(newest.saturating_sub(limits::MAX_CATCH_UP))
}

/// The rooms a `resume` catches up: at most [`limits::MAX_RESUME_ROOMS`] entries, each
/// room once (from the smallest `afterSeq` it was named with, so nothing is skipped), in
/// the order first named.
pub(crate) fn resume_rooms(rooms: Vec<ResumeRoom>) -> Result<Vec<ResumeRoom>, RuleError> {
    if rooms.len() > limits::MAX_RESUME_ROOMS {
        return Err(RuleError::TooManyResumeRooms);
    }
    let mut unique: Vec<ResumeRoom> = Vec::with_capacity(rooms.len());
    let mut index = std::collections::HashMap::with_capacity(rooms.len());
    for room in rooms {
        if let Some(&at) = index.get(&room.room_id) {
            let kept: &mut ResumeRoom = &mut unique[at];
            kept.after_seq = kept.after_seq.min(room.after_seq);
        } else {
            index.insert(room.room_id.clone(), unique.len());
            unique.push(room);
        }
    }
    Ok(unique)
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

/// How long sessions live (docs/protocol.md, "Sessions"), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLifetime {
    /// Unused this long, a session has expired.
    pub idle_ms: i64,
    /// This long after sign-in, a session has expired, used or not.
    pub absolute_ms: i64,
    /// A session's "last used" time is written when it is older than this: using a
    /// session writes at most once per period, and an open socket marks its session used
    /// once per period (the sweep).
    pub refresh_ms: i64,
}

impl SessionLifetime {
    pub fn is_live(&self, created_at: i64, last_used_at: i64, now: i64) -> bool {
        let (unused_since, created_before) = self.expiry_bounds(now);
        last_used_at >= unused_since && created_at >= created_before
    }

    /// Sessions last used before the first bound, or created before the second, have
    /// expired at `now`.
    pub fn expiry_bounds(&self, now: i64) -> (i64, i64) {
        (
            now.saturating_sub(self.idle_ms),
            now.saturating_sub(self.absolute_ms),
        )
    }

    /// Whether using the session now should write its "last used" time.
    pub fn needs_refresh(&self, last_used_at: i64, now: i64) -> bool {
        now.saturating_sub(last_used_at) >= self.refresh_ms
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

    const COOLDOWN: i64 = 600_000;

    fn since(membership: Membership, updated_at_ms: i64) -> Since {
        Since {
            membership,
            updated_at_ms,
        }
    }

    fn with_status(status: MemberStatus) -> Membership {
        Membership {
            status,
            is_admin: false,
        }
    }

    #[test]
    fn strangers_and_those_who_left_or_were_removed_may_ask() {
        assert_eq!(
            join_request(None, 0, COOLDOWN),
            Ok(JoinOutcome::Ask(PENDING))
        );
        for status in [MemberStatus::Left, MemberStatus::Removed] {
            assert_eq!(
                join_request(Some(since(with_status(status), 1_000)), 1_000, COOLDOWN),
                Ok(JoinOutcome::Ask(PENDING))
            );
        }
    }

    #[test]
    fn a_rejected_user_waits_for_the_cooldown() {
        let rejected = Some(since(REJECTED, 1_000));
        assert_eq!(
            join_request(rejected, 1_000, COOLDOWN),
            Err(RuleError::KnockCooldown {
                retry_after_secs: 600
            })
        );
        assert_eq!(
            join_request(rejected, 1_000 + COOLDOWN - 1, COOLDOWN),
            Err(RuleError::KnockCooldown {
                retry_after_secs: 1
            })
        );
        assert_eq!(
            join_request(rejected, 1_000 + COOLDOWN, COOLDOWN),
            Ok(JoinOutcome::Ask(PENDING))
        );
        assert_eq!(
            join_request(rejected, 1_000, 0),
            Ok(JoinOutcome::Ask(PENDING))
        );
    }

    #[test]
    fn a_banned_user_may_not_ask() {
        let banned = Some(since(with_status(MemberStatus::Banned), 0));
        assert_eq!(
            join_request(banned, i64::MAX, COOLDOWN),
            Err(RuleError::Banned)
        );
    }

    #[test]
    fn asking_twice_changes_nothing() {
        assert_eq!(
            join_request(Some(since(PENDING, 0)), 0, COOLDOWN),
            Ok(JoinOutcome::Unchanged(MemberStatus::Pending))
        );
        assert_eq!(
            join_request(Some(since(MEMBER, 0)), 0, COOLDOWN),
            Ok(JoinOutcome::Unchanged(MemberStatus::Approved))
        );
        assert_eq!(
            join_request(Some(since(ADMIN, 0)), 0, COOLDOWN),
            Ok(JoinOutcome::Unchanged(MemberStatus::Approved))
        );
    }

    #[test]
    fn only_a_pending_user_withdraws_and_a_withdrawn_request_cannot_be_approved() {
        assert_eq!(
            cancel_request(&bob(), Some(PENDING)),
            Ok(with_status(MemberStatus::Left))
        );
        for refused in [None, Some(MEMBER), Some(REJECTED)] {
            assert_eq!(
                cancel_request(&bob(), refused),
                Err(RuleError::RequestNotFound(bob()))
            );
        }
        for gone in [
            MemberStatus::Left,
            MemberStatus::Removed,
            MemberStatus::Banned,
        ] {
            for decision in [Decision::Approve, Decision::Reject] {
                assert_eq!(
                    decide(Some(ADMIN), &bob(), Some(with_status(gone)), decision),
                    Err(RuleError::RequestNotFound(bob()))
                );
            }
        }
    }

    #[test]
    fn decision_targets_are_one_or_up_to_a_hundred() {
        let users = |n: usize| (0..n).map(|i| UserId::new(format!("u{i}"))).collect();
        assert_eq!(decision_targets(Targets::one(bob())), Ok(vec![bob()]));
        assert_eq!(
            decision_targets(Targets::many(users(100))).map(|t| t.len()),
            Ok(100)
        );
        assert_eq!(
            decision_targets(Targets::many(vec![bob(), bob()])),
            Ok(vec![bob()]),
            "each user is answered once"
        );
        for refused in [
            Targets::default(),
            Targets::many(Vec::new()),
            Targets::many(users(101)),
            Targets {
                target_user_id: Some(bob()),
                target_user_ids: Some(vec![bob()]),
            },
        ] {
            assert_eq!(decision_targets(refused), Err(RuleError::BadTargets));
        }
    }

    #[test]
    fn leaving() {
        let others = |approved, admins| Others { approved, admins };
        assert_eq!(
            leave(Some(PENDING), others(0, 0)),
            Ok(LeaveOutcome::Leave(with_status(MemberStatus::Left)))
        );
        assert_eq!(
            leave(Some(MEMBER), others(1, 1)),
            Ok(LeaveOutcome::Leave(with_status(MemberStatus::Left)))
        );
        assert_eq!(
            leave(Some(ADMIN), others(2, 1)),
            Ok(LeaveOutcome::Leave(with_status(MemberStatus::Left))),
            "another admin remains"
        );
        assert_eq!(leave(Some(ADMIN), others(2, 0)), Err(RuleError::LastAdmin));
        assert_eq!(
            leave(Some(ADMIN), others(0, 0)),
            Ok(LeaveOutcome::DeleteRoom)
        );
        for refused in [
            None,
            Some(REJECTED),
            Some(with_status(MemberStatus::Banned)),
        ] {
            assert_eq!(leave(refused, others(3, 1)), Err(RuleError::NotMember));
        }
    }

    #[test]
    fn removing_and_banning() {
        assert_eq!(
            remove(Some(ADMIN), &bob(), Some(MEMBER)),
            Ok(with_status(MemberStatus::Removed))
        );
        assert_eq!(
            remove(Some(ADMIN), &bob(), Some(ADMIN)),
            Err(RuleError::TargetIsAdmin(bob()))
        );
        for not_in in [None, Some(PENDING), Some(REJECTED)] {
            assert_eq!(
                remove(Some(ADMIN), &bob(), not_in),
                Err(RuleError::TargetNotMember(bob()))
            );
        }
        let banned = with_status(MemberStatus::Banned);
        for anyone in [None, Some(PENDING), Some(MEMBER), Some(REJECTED)] {
            assert_eq!(ban(Some(ADMIN), &bob(), anyone), Ok(Some(banned)));
        }
        assert_eq!(ban(Some(ADMIN), &bob(), Some(banned)), Ok(None));
        assert_eq!(
            ban(Some(ADMIN), &bob(), Some(ADMIN)),
            Err(RuleError::TargetIsAdmin(bob()))
        );
        assert_eq!(
            unban(Some(ADMIN), &bob(), Some(banned)),
            Ok(with_status(MemberStatus::Left))
        );
        assert_eq!(
            unban(Some(ADMIN), &bob(), Some(MEMBER)),
            Err(RuleError::TargetNotMember(bob()))
        );
        for actor in [None, Some(MEMBER), Some(PENDING)] {
            assert_eq!(
                remove(actor, &bob(), Some(MEMBER)),
                Err(RuleError::NotAdmin)
            );
            assert_eq!(ban(actor, &bob(), None), Err(RuleError::NotAdmin));
            assert_eq!(unban(actor, &bob(), Some(banned)), Err(RuleError::NotAdmin));
        }
    }

    #[test]
    fn roles() {
        assert_eq!(
            set_role(Some(ADMIN), &bob(), Some(MEMBER), Role::Admin, 1),
            Ok(Some(ADMIN))
        );
        assert_eq!(
            set_role(Some(ADMIN), &bob(), Some(ADMIN), Role::Member, 2),
            Ok(Some(MEMBER))
        );
        assert_eq!(
            set_role(Some(ADMIN), &bob(), Some(ADMIN), Role::Member, 1),
            Err(RuleError::LastAdmin)
        );
        assert_eq!(
            set_role(Some(ADMIN), &bob(), Some(ADMIN), Role::Admin, 1),
            Ok(None)
        );
        assert_eq!(
            set_role(Some(ADMIN), &bob(), Some(PENDING), Role::Admin, 1),
            Err(RuleError::TargetNotMember(bob()))
        );
        assert_eq!(
            set_role(Some(MEMBER), &bob(), Some(MEMBER), Role::Admin, 1),
            Err(RuleError::NotAdmin)
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(None), Ok(None));
        assert_eq!(reason(Some("   ".into())), Ok(None));
        assert_eq!(reason(Some(" spam ".into())), Ok(Some("spam".into())));
        assert!(reason(Some("é".repeat(limits::MAX_REASON_CHARS))).is_ok());
        assert_eq!(
            reason(Some("é".repeat(limits::MAX_REASON_CHARS + 1))),
            Err(RuleError::ReasonTooLong)
        );
        assert_eq!(reason(Some("a\0b".into())), Err(RuleError::NulCharacter));
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
        for gone in [
            MemberStatus::Left,
            MemberStatus::Removed,
            MemberStatus::Banned,
        ] {
            assert!(!may_receive(Some(with_status(gone))));
            assert!(
                !may_receive(Some(Membership {
                    status: gone,
                    is_admin: true
                })),
                "an admin who is gone receives nothing either"
            );
        }
    }

    #[test]
    fn room_names() {
        assert_eq!(room_name("  General  ").unwrap(), "General");
        assert_eq!(room_name("   "), Err(RuleError::InvalidRoomName));
        assert_eq!(room_name(""), Err(RuleError::InvalidRoomName));
        assert_eq!(
            room_name("\u{200B}\u{3164}\u{2800}"),
            Err(RuleError::InvalidRoomName)
        );
        assert_eq!(
            room_name(" \u{200B}Book club").unwrap(),
            "\u{200B}Book club"
        );
        assert!(room_name(&"é".repeat(100)).is_ok());
        assert_eq!(room_name(&"é".repeat(101)), Err(RuleError::InvalidRoomName));
    }

    fn chat(author: &str, deleted: bool) -> ChatMessage {
        ChatMessage {
            room_id: knock_protocol::RoomId::new("r"),
            user_id: UserId::new(author),
            message: if deleted {
                String::new()
            } else {
                "text".into()
            },
            timestamp: 1,
            seq: 1,
            message_id: knock_protocol::MessageId::new("m"),
            deleted,
            ..ChatMessage::default()
        }
    }

    #[test]
    fn only_the_author_edits_and_the_author_or_an_admin_deletes() {
        let alice = UserId::new("alice");
        let admin = Some(Membership {
            status: MemberStatus::Approved,
            is_admin: true,
        });
        let member = Some(Membership {
            status: MemberStatus::Approved,
            is_admin: false,
        });
        assert_eq!(may_edit(&alice, &chat("alice", false)), Ok(()));
        assert_eq!(
            may_edit(&alice, &chat("bob", false)),
            Err(RuleError::NotAuthor)
        );
        assert_eq!(
            may_edit(&alice, &chat("alice", true)),
            Err(RuleError::MessageDeleted)
        );
        assert_eq!(may_delete(&alice, member, &chat("alice", false)), Ok(()));
        assert_eq!(may_delete(&alice, admin, &chat("bob", false)), Ok(()));
        assert_eq!(
            may_delete(&alice, member, &chat("bob", false)),
            Err(RuleError::NotAdmin)
        );
        assert_eq!(
            may_delete(&alice, admin, &chat("bob", true)),
            Err(RuleError::MessageDeleted)
        );
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
        for to_admin in [false, true] {
            assert!(listed_in_members(MemberStatus::Approved, to_admin));
            assert!(listed_in_members(MemberStatus::Pending, to_admin));
            for gone in [
                MemberStatus::Rejected,
                MemberStatus::Left,
                MemberStatus::Removed,
            ] {
                assert!(!listed_in_members(gone, to_admin));
            }
        }
        assert!(listed_in_members(MemberStatus::Banned, true));
        assert!(!listed_in_members(MemberStatus::Banned, false));
        assert_eq!(history_page(None), limits::DEFAULT_HISTORY_PAGE);
        assert_eq!(history_page(Some(0)), 1);
        assert_eq!(history_page(Some(7)), 7);
        assert_eq!(history_page(Some(u32::MAX)), limits::MAX_HISTORY_PAGE);
    }

    #[test]
    fn a_catch_up_sends_at_most_the_newest_few() {
        let max = limits::MAX_CATCH_UP;
        assert_eq!(catch_up_after(0, 0), 0);
        assert_eq!(catch_up_after(5, 5 + max), 5, "exactly the cap: all of it");
        assert_eq!(catch_up_after(5, 6 + max), 6);
        assert_eq!(catch_up_after(0, 10_000), 10_000 - max);
        assert_eq!(catch_up_after(9, 3), 9, "nothing newer: nothing to skip");
    }

    #[test]
    fn a_resume_names_each_room_once_and_not_too_many() {
        let entry = |room: &str, after_seq| ResumeRoom {
            room_id: knock_protocol::RoomId::new(room),
            after_seq,
        };
        let many = (0..500)
            .map(|_| entry("a", 7))
            .chain([entry("b", 1), entry("a", 3)]);
        assert_eq!(
            resume_rooms(many.collect()),
            Ok(vec![entry("a", 3), entry("b", 1)])
        );
        let too_many = (0..=limits::MAX_RESUME_ROOMS).map(|i| entry(&i.to_string(), 0));
        assert_eq!(
            resume_rooms(too_many.collect()),
            Err(RuleError::TooManyResumeRooms)
        );
    }

    #[test]
    fn members_hear_of_changes_to_rows_they_see() {
        let banned = with_status(MemberStatus::Banned);
        let left = with_status(MemberStatus::Left);
        assert!(members_hear_of(Some(MEMBER), banned), "a member goes");
        assert!(members_hear_of(Some(PENDING), banned), "a request goes");
        assert!(members_hear_of(None, PENDING), "a request comes");
        assert!(!members_hear_of(None, banned), "a stranger banned ahead");
        assert!(!members_hear_of(Some(REJECTED), banned));
        assert!(!members_hear_of(Some(banned), left), "a ban lifted");
    }

    #[test]
    fn rooms_and_requests_are_capped() {
        assert_eq!(room_takes_a_request(999, 1_000), Ok(()));
        assert_eq!(
            room_takes_a_request(1_000, 1_000),
            Err(RuleError::TooManyWaiting(1_000))
        );
        assert_eq!(user_takes_a_room(0, 1), Ok(()));
        assert_eq!(user_takes_a_room(1, 1), Err(RuleError::TooManyRooms(1)));
    }

    #[test]
    fn usernames_are_case_insensitive() {
        assert_eq!(username(" Alice ").unwrap(), UserId::new("alice"));
        assert_eq!(username("al"), Err(RuleError::InvalidUsername));
        assert_eq!(username("al ice"), Err(RuleError::InvalidUsername));
        assert_eq!(password("1234567"), Err(RuleError::InvalidPassword));
        assert_eq!(password("12345678"), Ok(()));
    }

    #[test]
    fn sessions_expire_when_unused_or_old() {
        let day = 86_400_000;
        let life = SessionLifetime {
            idle_ms: 30 * day,
            absolute_ms: 180 * day,
            refresh_ms: day / 24,
        };
        let now = 1_000 * day;
        assert!(life.is_live(now - 10 * day, now - day, now));
        assert!(!life.is_live(now - 40 * day, now - 31 * day, now), "idle");
        assert!(life.is_live(now - 179 * day, now, now));
        assert!(
            !life.is_live(now - 181 * day, now, now),
            "too old, however used"
        );
        assert!(!life.needs_refresh(now - day / 48, now));
        assert!(life.needs_refresh(now - day / 24, now));
        assert_eq!(life.expiry_bounds(now), (now - 30 * day, now - 180 * day));
    }
}
