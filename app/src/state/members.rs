//! A room's member list: fetched once with `getMembers`, then kept current by applying
//! each `memberChanged` (the server never resends the whole list).

use knock_protocol::{InviteRef, MemberStatus, Participant, UserId};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    list: Vec<Participant>,
    /// The full list arrived from the server (before that only changes are known).
    pub loaded: bool,
}

impl Members {
    /// Replaces the list with the server's.
    pub fn set(&mut self, participants: Vec<Participant>) {
        self.list = participants;
        self.loaded = true;
        self.sort();
    }

    /// Applies one change. `reason` is the request's message or the admin's reason; a
    /// change that repeats the status without one keeps the reason known (the
    /// `memberChanged` of a request does not carry its message, the `joinRequest` does).
    /// Returns the previous status of that user, if known.
    pub fn apply(
        &mut self,
        user_id: &UserId,
        status: MemberStatus,
        is_admin: bool,
        reason: Option<String>,
    ) -> Option<MemberStatus> {
        let previous = if let Some(p) = self.list.iter_mut().find(|p| &p.user_id == user_id) {
            let previous = p.status;
            if reason.is_some() || previous != status {
                p.reason = reason;
            }
            p.status = status;
            p.is_admin = is_admin;
            Some(previous)
        } else {
            self.list.push(Participant {
                user_id: user_id.clone(),
                status,
                is_admin,
                reason,
                online: false,
                invite: None,
            });
            None
        };
        self.sort();
        previous
    }

    /// The invite link a pending user knocked with (`joinRequest`).
    pub fn set_invite(&mut self, user_id: &UserId, invite: Option<InviteRef>) {
        if let Some(p) = self.list.iter_mut().find(|p| &p.user_id == user_id) {
            p.invite = invite;
        }
    }

    /// Whether the user has a socket open, as `roomMembers` and `presence` said.
    pub fn is_online(&self, user_id: &UserId) -> bool {
        self.list.iter().any(|p| &p.user_id == user_id && p.online)
    }

    /// Marks these users online or offline (`presence`).
    pub fn set_online(&mut self, users: &[UserId], online: bool) {
        for p in &mut self.list {
            if users.contains(&p.user_id) {
                p.online = online;
            }
        }
    }

    /// Admins first, then approved members, then pending requests, then the banned,
    /// each by name.
    fn sort(&mut self) {
        fn rank(p: &Participant) -> u8 {
            match (p.is_admin, p.status) {
                (true, MemberStatus::Approved) => 0,
                (_, MemberStatus::Approved) => 1,
                (_, MemberStatus::Pending) => 2,
                (_, MemberStatus::Banned) => 3,
                _ => 4,
            }
        }
        self.list.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
    }

    /// Approved members, admins first.
    pub fn approved(&self) -> impl Iterator<Item = &Participant> {
        self.list
            .iter()
            .filter(|p| p.status == MemberStatus::Approved)
    }

    /// Users waiting for an admin's answer, oldest first as far as the client knows.
    pub fn pending(&self) -> impl Iterator<Item = &Participant> {
        self.list
            .iter()
            .filter(|p| p.status == MemberStatus::Pending)
    }

    /// Users banned from the room (the server lists them to admins only; shown through
    /// [`super::RoomState::banned`], to admins only).
    pub fn banned(&self) -> impl Iterator<Item = &Participant> {
        self.list
            .iter()
            .filter(|p| p.status == MemberStatus::Banned)
    }

    pub fn pending_count(&self) -> usize {
        self.pending().count()
    }

    pub fn status_of(&self, user_id: &UserId) -> Option<MemberStatus> {
        self.list
            .iter()
            .find(|p| &p.user_id == user_id)
            .map(|p| p.status)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(user: &str, status: MemberStatus, is_admin: bool) -> Participant {
        Participant {
            user_id: UserId::from(user),
            status,
            is_admin,
            reason: None,
            online: false,
            invite: None,
        }
    }

    fn names<'a>(it: impl Iterator<Item = &'a Participant>) -> Vec<&'a str> {
        it.map(|p| p.user_id.as_str()).collect()
    }

    #[test]
    fn set_sorts_admin_first() {
        let mut m = Members::default();
        m.set(vec![
            p("zed", MemberStatus::Approved, false),
            p("carol", MemberStatus::Pending, false),
            p("bob", MemberStatus::Approved, false),
            p("alice", MemberStatus::Approved, true),
            p("eve", MemberStatus::Rejected, false),
        ]);
        assert!(m.loaded);
        assert_eq!(names(m.approved()), ["alice", "bob", "zed"]);
        assert_eq!(names(m.pending()), ["carol"]);
    }

    #[test]
    fn request_then_approve() {
        let mut m = Members::default();
        m.set(vec![p("alice", MemberStatus::Approved, true)]);
        assert_eq!(
            m.apply(&UserId::from("bob"), MemberStatus::Pending, false, None),
            None
        );
        assert_eq!(m.pending_count(), 1);
        assert_eq!(
            m.apply(&UserId::from("bob"), MemberStatus::Approved, false, None),
            Some(MemberStatus::Pending)
        );
        assert_eq!(m.pending_count(), 0);
        assert_eq!(names(m.approved()), ["alice", "bob"]);
        assert_eq!(
            m.status_of(&UserId::from("bob")),
            Some(MemberStatus::Approved)
        );
    }

    #[test]
    fn reject_hides_from_both_lists_and_a_new_request_shows_again() {
        let mut m = Members::default();
        m.apply(&UserId::from("bob"), MemberStatus::Pending, false, None);
        m.apply(&UserId::from("bob"), MemberStatus::Rejected, false, None);
        assert_eq!(m.pending_count(), 0);
        assert_eq!(m.approved().count(), 0);
        m.apply(&UserId::from("bob"), MemberStatus::Pending, false, None);
        assert_eq!(names(m.pending()), ["bob"]);
    }

    #[test]
    fn a_request_keeps_its_message_until_it_is_decided() {
        let bob = UserId::from("bob");
        let mut m = Members::default();
        m.apply(
            &bob,
            MemberStatus::Pending,
            false,
            Some("hi, I'm Ada's friend".into()),
        );
        // The room's memberChanged for the same request carries no message.
        m.apply(&bob, MemberStatus::Pending, false, None);
        assert_eq!(
            m.pending().next().and_then(|p| p.reason.as_deref()),
            Some("hi, I'm Ada's friend")
        );
        m.apply(&bob, MemberStatus::Approved, false, None);
        assert_eq!(m.approved().next().and_then(|p| p.reason.clone()), None);
        m.apply(&bob, MemberStatus::Banned, false, Some("spam".into()));
        assert_eq!(names(m.banned()), ["bob"]);
        assert_eq!(m.approved().count(), 0);
        m.apply(&bob, MemberStatus::Left, false, None);
        assert_eq!(m.banned().count(), 0);
    }

    #[test]
    fn repeated_change_is_idempotent() {
        let mut m = Members::default();
        for _ in 0..3 {
            m.apply(&UserId::from("bob"), MemberStatus::Approved, false, None);
        }
        assert_eq!(m.approved().count(), 1);
        assert!(!m.loaded);
        m.clear();
        assert_eq!(m.approved().count(), 0);
    }
}
