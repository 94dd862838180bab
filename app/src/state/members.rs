//! A room's member list: fetched once with `getMembers`, then kept current by applying
//! each `memberChanged` (the server never resends the whole list).

use knock_protocol::{MemberStatus, Participant, UserId};

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

    /// Applies one change. Returns the previous status of that user, if known.
    pub fn apply(
        &mut self,
        user_id: &UserId,
        status: MemberStatus,
        is_admin: bool,
    ) -> Option<MemberStatus> {
        let previous = if let Some(p) = self.list.iter_mut().find(|p| &p.user_id == user_id) {
            let previous = p.status;
            p.status = status;
            p.is_admin = is_admin;
            Some(previous)
        } else {
            self.list.push(Participant {
                user_id: user_id.clone(),
                status,
                is_admin,
            });
            None
        };
        self.sort();
        previous
    }

    /// Admins first, then approved members, then pending requests, each by name.
    fn sort(&mut self) {
        fn rank(p: &Participant) -> u8 {
            match (p.is_admin, p.status) {
                (true, MemberStatus::Approved) => 0,
                (_, MemberStatus::Approved) => 1,
                (_, MemberStatus::Pending) => 2,
                (_, MemberStatus::Rejected) => 3,
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
            m.apply(&UserId::from("bob"), MemberStatus::Pending, false),
            None
        );
        assert_eq!(m.pending_count(), 1);
        assert_eq!(
            m.apply(&UserId::from("bob"), MemberStatus::Approved, false),
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
        m.apply(&UserId::from("bob"), MemberStatus::Pending, false);
        m.apply(&UserId::from("bob"), MemberStatus::Rejected, false);
        assert_eq!(m.pending_count(), 0);
        assert_eq!(m.approved().count(), 0);
        m.apply(&UserId::from("bob"), MemberStatus::Pending, false);
        assert_eq!(names(m.pending()), ["bob"]);
    }

    #[test]
    fn repeated_change_is_idempotent() {
        let mut m = Members::default();
        for _ in 0..3 {
            m.apply(&UserId::from("bob"), MemberStatus::Approved, false);
        }
        assert_eq!(m.approved().count(), 1);
        assert!(!m.loaded);
        m.clear();
        assert_eq!(m.approved().count(), 0);
    }
}
