//! Join-request notifications as one banner: which requests it lists (newest first),
//! what it says, and "Dismiss all". Other notices (approved, rejected) are left alone.

use super::{ChatState, Notice, NoticeEntry};

impl ChatState {
    /// The live join-request notifications, newest first.
    pub fn join_request_notices(&self) -> Vec<&NoticeEntry> {
        // Ids grow with each notice, so the newest has the highest.
        let mut requests: Vec<&NoticeEntry> = self
            .notices
            .iter()
            .filter(|n| matches!(n.notice, Notice::JoinRequest { .. }))
            .collect();
        requests.sort_by_key(|n| std::cmp::Reverse(n.id));
        requests
    }

    /// Notifications of any other kind, oldest first.
    pub fn other_notices(&self) -> Vec<&NoticeEntry> {
        self.notices
            .iter()
            .filter(|n| !matches!(n.notice, Notice::JoinRequest { .. }))
            .collect()
    }

    /// "Dismiss all" on the banner: forgets the join-request notifications (the
    /// requests themselves stay in each room's panel, and a new one shows again).
    pub fn dismiss_join_requests(&mut self) {
        self.notices
            .retain(|n| !matches!(n.notice, Notice::JoinRequest { .. }));
    }
}

/// The banner's words for `n` waiting requests (n ≥ 2; one request is shown in full).
pub fn people_ask_to_join(n: usize) -> String {
    if n == 1 {
        "1 person asks to join".to_owned()
    } else {
        format!("{n} people ask to join")
    }
}

#[cfg(test)]
mod tests {
    use knock_protocol::{MemberStatus, RoomId, ServerMessage, UserId};

    use super::*;

    fn room(n: u8) -> RoomId {
        RoomId::from(format!("3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f{n}").as_str())
    }

    fn knock(state: &mut ChatState, room_id: &RoomId, who: &str) {
        state.apply(ServerMessage::JoinRequest {
            user_id: UserId::from(who),
            room_id: room_id.clone(),
            reason: None,
            invite: None,
        });
    }

    fn names(state: &ChatState) -> Vec<String> {
        state
            .join_request_notices()
            .iter()
            .map(|n| match &n.notice {
                Notice::JoinRequest { user_id, .. } => user_id.to_string(),
                other => panic!("not a join request: {other:?}"),
            })
            .collect()
    }

    fn signed_in_admin() -> ChatState {
        let mut state = ChatState::default();
        state.apply(ServerMessage::Authenticated {
            user_id: UserId::from("ada"),
        });
        state
    }

    #[test]
    fn requests_are_listed_newest_first_across_rooms() {
        let mut state = signed_in_admin();
        knock(&mut state, &room(1), "bob");
        knock(&mut state, &room(2), "cy");
        knock(&mut state, &room(1), "dee");
        // The same request twice is one notice.
        knock(&mut state, &room(1), "bob");
        assert_eq!(names(&state), ["dee", "cy", "bob"]);
    }

    #[test]
    fn an_answered_request_leaves_the_banner() {
        let mut state = signed_in_admin();
        knock(&mut state, &room(1), "bob");
        knock(&mut state, &room(1), "cy");
        state.apply(ServerMessage::MemberChanged {
            room_id: room(1),
            user_id: UserId::from("bob"),
            status: MemberStatus::Approved,
            is_admin: false,
            reason: None,
        });
        assert_eq!(names(&state), ["cy"]);
    }

    #[test]
    fn dismiss_all_keeps_other_notices_and_new_requests_show_again() {
        let mut state = signed_in_admin();
        knock(&mut state, &room(1), "bob");
        // Ada's own request elsewhere is approved while she is not looking at it.
        state.request_join(room(2).as_str(), "");
        state.apply(ServerMessage::JoinResponse {
            room_id: room(2),
            status: MemberStatus::Pending,
            reason: None,
        });
        state.apply(ServerMessage::JoinResponse {
            room_id: room(2),
            status: MemberStatus::Approved,
            reason: None,
        });
        knock(&mut state, &room(1), "cy");
        assert_eq!(state.notices.len(), 3);
        assert_eq!(state.other_notices().len(), 1);

        state.dismiss_join_requests();
        assert_eq!(names(&state), [""; 0]);
        assert!(matches!(
            state.other_notices()[..],
            [NoticeEntry {
                notice: Notice::Approved { .. },
                ..
            }]
        ));
        // The request is still waiting in the room; only the notification went.
        assert_eq!(state.rooms[&room(1)].members.pending_count(), 2);

        knock(&mut state, &room(1), "dee");
        assert_eq!(names(&state), ["dee"]);
    }

    #[test]
    fn banner_wording() {
        assert_eq!(people_ask_to_join(1), "1 person asks to join");
        assert_eq!(people_ask_to_join(2), "2 people ask to join");
        assert_eq!(people_ask_to_join(10), "10 people ask to join");
    }
}
