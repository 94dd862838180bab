//! Whole flows through the reducer: what the client sends and shows for each frame.

use knock_protocol::{
    ChatMessage, ClientMsgId, ErrorCode, JoinRoom, MessageId, Participant, Role, RoomSummary,
    ServerMessage, Targets, limits,
};

use super::*;

const NOTHING: [Command; 0] = [];

fn room() -> RoomId {
    RoomId::from("3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6")
}

fn user(name: &str) -> UserId {
    UserId::from(name)
}

fn chat(seq: u64, from: &str, text: &str) -> ServerMessage {
    ServerMessage::Message(chat_message(seq, from, text))
}

fn chat_message(seq: u64, from: &str, text: &str) -> ChatMessage {
    ChatMessage {
        room_id: room(),
        user_id: user(from),
        message: text.into(),
        timestamp: 1_700_000_000_000,
        seq,
        message_id: MessageId::new(format!("m{seq}")),
        ..ChatMessage::default()
    }
}

fn sent(commands: &[Command]) -> Vec<ClientMessage> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// [`sent`] without the read markers that a room on screen sends by the way.
fn sent_but_reads(commands: &[Command]) -> Vec<ClientMessage> {
    let mut frames = sent(commands);
    frames.retain(|f| !matches!(f, ClientMessage::MarkRead { .. }));
    frames
}

fn actions(commands: &[Command]) -> Vec<&'static str> {
    commands
        .iter()
        .map(|c| match c {
            Command::Send(m) => m.action(),
            Command::Navigate(_) => "navigate",
            Command::SessionExpired => "sessionExpired",
            Command::WakeAfter(_) => "wake",
            Command::Alert(_) => "alert",
            Command::Later(..) => "later",
        })
        .collect()
}

fn alerts(commands: &[Command]) -> Vec<super::Alert> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Alert(alert) => Some(alert.clone()),
            _ => None,
        })
        .collect()
}

fn signed_in(name: &str) -> ChatState {
    let mut state = ChatState::default();
    let commands = state.apply(ServerMessage::Authenticated {
        user_id: user(name),
    });
    assert_eq!(actions(&commands), ["myRooms"]);
    state
}

fn seqs(state: &ChatState) -> Vec<u64> {
    state.rooms[&room()]
        .timeline
        .messages()
        .map(|m| m.seq)
        .collect()
}

/// Alice creates a room and chats in it, with the history loaded.
fn alice_in_her_room() -> ChatState {
    let mut s = signed_in("alice");
    s.apply(ServerMessage::Rooms { rooms: Vec::new() });
    assert_eq!(actions(&s.create_room("  Book club ")), ["createRoom"]);
    let commands = s.apply(ServerMessage::RoomCreated {
        room_id: room(),
        room_name: "Book club".into(),
    });
    assert_eq!(commands, [Command::Navigate(room_path(&room()))]);
    s.open_room(&room());
    s
}

#[test]
fn create_room_lands_in_it_as_admin_with_an_empty_history() {
    let mut s = alice_in_her_room();
    let r = &s.rooms[&room()];
    assert!(r.is_admin && r.is_approved() && r.timeline.loaded && r.members.loaded);
    assert_eq!(s.listed_rooms().len(), 1);
    assert!(s.open_room(&room()).is_empty(), "nothing left to load");
}

#[test]
fn room_created_on_another_tab_does_not_navigate() {
    let mut s = signed_in("alice");
    let commands = s.apply(ServerMessage::RoomCreated {
        room_id: room(),
        room_name: "x".into(),
    });
    assert_eq!(commands, NOTHING);
}

#[test]
fn invalid_room_names_are_refused_before_sending() {
    let mut s = signed_in("alice");
    assert_eq!(s.create_room(&"x".repeat(101)), NOTHING);
    assert_eq!(
        s.error(&Slot::RoomName).as_deref(),
        Some("A room name has 1 to 100 characters, some of them visible.")
    );
    // Nothing but spaces and invisible characters: what the server would refuse.
    for blank in ["   ", "\u{200B}\u{200D}", " \u{3164}\u{FEFF} ", "\u{202E}"] {
        assert_eq!(s.create_room(blank), NOTHING, "{blank:?}");
        assert_eq!(
            s.error(&Slot::RoomName).as_deref(),
            Some("A room name needs some visible characters.")
        );
    }
    // Counted in characters: a hundred emoji (two UTF-16 units each) are a name.
    assert_eq!(actions(&s.create_room(&"😀".repeat(100))), ["createRoom"]);
    assert_eq!(s.create_room(&"😀".repeat(101)), NOTHING);
    assert_eq!(actions(&s.create_room("ok")), ["createRoom"]);
    assert!(s.error(&Slot::RoomName).is_none());
    // The server's refusal shows at the field too.
    s.apply(ServerMessage::error(
        ErrorCode::InvalidRoomName,
        "",
        Some("createRoom"),
    ));
    assert!(s.error(&Slot::RoomName).is_some());
    assert!(s.error(&Slot::CreateRoom).is_none());
    s.apply(ServerMessage::error(
        ErrorCode::Internal,
        "",
        Some("createRoom"),
    ));
    assert!(s.error(&Slot::CreateRoom).is_some());
}

#[test]
fn opening_a_room_loads_members_and_newest_page_once() {
    let mut s = signed_in("bob");
    s.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Approved,
            is_admin: false,
            last_seq: 120,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    let commands = s.open_room(&room());
    assert_eq!(
        sent(&commands),
        [
            ClientMessage::GetMembers {
                room_id: Some(room())
            },
            ClientMessage::GetHistory {
                room_id: room(),
                before_seq: None,
                limit: Some(PAGE_SIZE),
                around_seq: None,
                after_seq: None
            }
        ]
    );
    assert!(s.open_room(&room()).is_empty(), "already asked");
    s.apply(ServerMessage::History {
        room_id: room(),
        messages: (71..=120)
            .map(|n| match chat(n, "alice", "x") {
                ServerMessage::Message(m) => m,
                _ => unreachable!(),
            })
            .collect(),
        has_more: true,
        has_more_after: None,
    });
    assert_eq!(seqs(&s).len(), 50);
    let older = s.load_older(&room());
    assert_eq!(
        sent(&older),
        [ClientMessage::GetHistory {
            room_id: room(),
            before_seq: Some(71),
            limit: Some(PAGE_SIZE),
            around_seq: None,
            after_seq: None
        }]
    );
    assert!(s.load_older(&room()).is_empty(), "one page at a time");
}

#[test]
fn join_request_approval_flow_for_requester_and_admin() {
    // The requester.
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    let link = format!("http://127.0.0.1:3000/join/{}", room());
    let commands = bob.request_join(&link, "");
    assert_eq!(
        sent(&commands),
        [ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room()),
            invite_code: None,
            reason: None
        })]
    );
    let commands = bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    assert_eq!(
        actions(&commands),
        ["myRooms", "navigate"],
        "learns the name, shows the room's waiting page"
    );
    bob.open_room(&room());
    assert_eq!(
        bob.rooms[&room()].status,
        Some(MemberStatus::Pending),
        "waiting for approval"
    );

    // The admin hears about it live, in another room or not.
    let mut alice = alice_in_her_room();
    alice.close_room();
    alice.apply(ServerMessage::JoinRequest {
        user_id: user("bob"),
        room_id: room(),
        reason: None,
        invite: None,
    });
    alice.apply(ServerMessage::MemberChanged {
        room_id: room(),
        user_id: user("bob"),
        status: MemberStatus::Pending,
        is_admin: false,
        reason: None,
    });
    assert_eq!(alice.rooms[&room()].pending_requests(), 1);
    assert_eq!(alice.notices.len(), 1);
    let decide = alice.decide(&room(), &[user("bob")], true, "");
    assert_eq!(
        sent(&decide),
        [ClientMessage::JoinRoom(JoinRoom::Approve {
            room_id: Some(room()),
            targets: Targets::one(user("bob"))
        })]
    );
    alice.apply(ServerMessage::MemberChanged {
        room_id: room(),
        user_id: user("bob"),
        status: MemberStatus::Approved,
        is_admin: false,
        reason: None,
    });
    assert_eq!(alice.rooms[&room()].pending_requests(), 0);
    assert!(alice.notices.is_empty(), "the notification goes away");
    assert_eq!(alice.rooms[&room()].members.approved().count(), 2);

    // The requester is let in without reloading and loads the room.
    let commands = bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Approved,
        reason: None,
    });
    // And is alerted, should the tab be out of sight.
    assert_eq!(
        actions(&commands),
        ["alert", "myRooms", "getMembers", "getHistory"]
    );
    assert!(bob.rooms[&room()].is_approved());
    assert_eq!(bob.notices, [], "the room's page itself shows it");
    // The same news through memberChanged changes nothing more.
    let again = bob.apply(ServerMessage::MemberChanged {
        room_id: room(),
        user_id: user("bob"),
        status: MemberStatus::Approved,
        is_admin: false,
        reason: None,
    });
    assert_eq!(again, NOTHING);
    assert_eq!(bob.notices, []);
}

#[test]
fn approval_is_notified_when_the_user_is_elsewhere() {
    let mut bob = signed_in("bob");
    bob.request_join(room().as_str(), "");
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Approved,
        reason: None,
    });
    assert!(matches!(bob.notices[0].notice, Notice::Approved { .. }));
    let id = bob.notices[0].id;
    bob.dismiss(id);
    assert_eq!(bob.notices, []);
}

#[test]
fn rejection_is_told_and_forgets_the_room_content() {
    let mut bob = signed_in("bob");
    bob.request_join(room().as_str(), "");
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Rejected,
        reason: None,
    });
    assert_eq!(bob.rooms[&room()].status, Some(MemberStatus::Rejected));
    assert!(matches!(bob.notices[0].notice, Notice::Rejected { .. }));
    // On the room's page the page itself says it; no notification then.
    bob.notices.clear();
    bob.request_join(room().as_str(), "");
    bob.open_room(&room());
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Rejected,
        reason: None,
    });
    assert_eq!(bob.notices, []);
    // Asking again is allowed.
    assert_eq!(
        actions(&bob.request_join(room().as_str(), "")),
        ["joinRoom"]
    );
}

#[test]
fn join_errors_show_at_the_join_form_and_admin_errors_in_the_room() {
    let mut s = signed_in("carol");
    s.request_join("not-a-room", "");
    s.apply(ServerMessage::error(
        ErrorCode::RoomNotFound,
        "no such room",
        Some("joinRoom"),
    ));
    assert_eq!(
        s.error(&Slot::JoinRoom).as_deref(),
        Some("There is no room with that ID.")
    );
    s.decide(&room(), &[user("dave")], false, "");
    s.apply(ServerMessage::error(
        ErrorCode::NotAdmin,
        "",
        Some("joinRoom"),
    ));
    assert!(s.error(&Slot::Admin(room())).is_some());
    assert_eq!(s.request_join("  ", ""), NOTHING);
    assert_eq!(
        s.error(&Slot::JoinRoom).as_deref(),
        Some("Enter a room ID.")
    );
}

#[test]
fn outsider_opening_a_room_is_told_not_a_member_and_sees_nothing() {
    let mut eve = signed_in("eve");
    eve.apply(ServerMessage::Rooms { rooms: Vec::new() });
    let commands = eve.open_room(&room());
    assert_eq!(actions(&commands), ["getMembers"], "no history asked");
    eve.apply(ServerMessage::error(
        ErrorCode::NotMember,
        "",
        Some("getMembers"),
    ));
    assert_eq!(
        eve.error(&Slot::Room(room())).as_deref(),
        Some("You are not a member of this room.")
    );
    assert_eq!(eve.listed_rooms().len(), 0);
    assert!(!eve.rooms[&room()].not_found);
    let other = RoomId::from("no-such-room");
    eve.open_room(&other);
    eve.apply(ServerMessage::error(
        ErrorCode::RoomNotFound,
        "",
        Some("getMembers"),
    ));
    assert!(eve.rooms[&other].not_found);
    // A message for a room eve is not in is not announced as hers.
    assert!(eve.rooms[&room()].timeline.is_empty());
}

#[test]
fn live_messages_dedupe_and_count_unread_elsewhere() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "hello"));
    s.apply(chat(1, "bob", "hello"));
    assert_eq!(seqs(&s), [1]);
    assert_eq!(s.announcement, "bob: hello");
    s.close_room();
    s.apply(chat(2, "bob", "are you there?"));
    s.apply(chat(3, "alice", "from my other tab"));
    assert_eq!(s.rooms[&room()].unread, 1);
    s.open_room(&room());
    assert_eq!(s.rooms[&room()].unread, 0);
}

#[test]
fn a_gap_in_live_messages_is_filled_from_history() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "a"));
    let commands = s.apply(chat(5, "bob", "e"));
    assert_eq!(
        sent(&commands),
        [ClientMessage::GetHistory {
            room_id: room(),
            before_seq: Some(5),
            limit: Some(3),
            around_seq: None,
            after_seq: None
        }]
    );
    s.apply(ServerMessage::History {
        room_id: room(),
        messages: (2..=4)
            .map(|n| match chat(n, "bob", "x") {
                ServerMessage::Message(m) => m,
                _ => unreachable!(),
            })
            .collect(),
        has_more: true,
        has_more_after: None,
    });
    assert_eq!(seqs(&s), [1, 2, 3, 4, 5]);
    assert!(
        !s.rooms[&room()].timeline.has_more,
        "a gap page leaves has_more"
    );
}

/// What the driver does after every change: the intent, then the outbox's turn.
fn act(
    s: &mut ChatState,
    now: f64,
    intent: impl FnOnce(&mut ChatState) -> Vec<Command>,
) -> Vec<Command> {
    let mut commands = intent(s);
    commands.extend(s.pump_outbox(now));
    commands
}

fn send(s: &mut ChatState, now: f64, text: &str, id: &str) -> Vec<Command> {
    act(s, now, |s| {
        s.send_message(&room(), text, ClientMsgId::from(id))
            .unwrap()
    })
}

fn ack(seq: u64, id: &str) -> ServerMessage {
    ServerMessage::MessageAck {
        client_msg_id: ClientMsgId::from(id),
        room_id: room(),
        seq,
        message_id: MessageId::new(format!("m{seq}")),
        timestamp: 1,
    }
}

#[test]
fn messages_typed_offline_wait_and_go_out_after_reconnect_then_resume() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "hi"));
    let first = send(&mut s, 0.0, "sent online", "c1");
    // Bob's message on screen is read, too.
    assert_eq!(actions(&first), ["markRead", "sendMessage"]);

    s.on_disconnected();
    assert!(!s.online);
    let queued = send(&mut s, 1.0, "typed offline", "c2");
    assert!(queued.is_empty(), "nothing to write while offline");
    assert_eq!(s.outbox.len(), 2);

    // Reconnected: rooms, resume after the newest known seq, then the outbox, one
    // message at a time in the order typed.
    let commands = act(&mut s, 2.0, |s| {
        s.apply(ServerMessage::Authenticated {
            user_id: user("alice"),
        })
    });
    let mut frames = sent_but_reads(&commands);
    assert_eq!(frames[0], ClientMessage::MyRooms);
    assert_eq!(
        frames[1],
        ClientMessage::Resume {
            rooms: vec![ResumeRoom {
                room_id: room(),
                after_seq: 1
            }]
        }
    );
    assert_eq!(
        frames[2],
        ClientMessage::GetMembers {
            room_id: Some(room())
        },
        "the member list is fetched again"
    );
    let texts: Vec<_> = frames[3..]
        .iter()
        .map(|f| match f {
            ClientMessage::SendMessage {
                message,
                client_msg_id,
                ..
            } => (message.as_str(), client_msg_id.clone().unwrap().0),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, [("sent online", "c1".into())]);

    // The replay and the acks, in any order, give each message once.
    s.apply(chat(2, "bob", "said while you were away"));
    frames = sent(&act(&mut s, 3.0, |s| s.apply(ack(3, "c1"))));
    assert!(matches!(
        &frames[..],
        [ClientMessage::SendMessage { message, client_msg_id: Some(id), .. }]
            if message == "typed offline" && id.0 == "c2"
    ));
    s.apply(chat(3, "alice", "sent online"));
    s.apply(chat(4, "alice", "typed offline"));
    s.apply(ack(4, "c2"));
    assert_eq!(seqs(&s), [1, 2, 3, 4]);
    assert!(s.outbox.is_empty());
}

#[test]
fn member_lists_are_fetched_again_after_a_reconnect() {
    let mut s = alice_in_her_room();
    s.on_disconnected();
    assert_eq!(
        s.rooms[&room()].members.approved().count(),
        1,
        "still shown"
    );
    let commands = s.apply(ServerMessage::Authenticated {
        user_id: user("alice"),
    });
    assert_eq!(actions(&commands), ["myRooms", "resume", "getMembers"]);
    let commands = s.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Approved,
            is_admin: true,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    assert_eq!(commands, NOTHING, "already asked");
}

#[test]
fn send_errors_mark_the_message_and_show_at_the_composer_until_it_is_dealt_with() {
    let mut s = alice_in_her_room();
    send(&mut s, 0.0, "lost", "c1");
    s.apply(ServerMessage::error(
        ErrorCode::NotMember,
        "",
        Some("sendMessage"),
    ));
    let r = room();
    let failed = s.outbox.for_room(&r).next().unwrap();
    assert!(matches!(failed.state, outbox::OutgoingState::Failed(_)));
    assert!(s.composer_error(&room()).is_some());
    let retried = act(&mut s, 1.0, |s| s.retry_message(&ClientMsgId::from("c1")));
    assert_eq!(actions(&retried), ["sendMessage"]);
    assert!(s.composer_error(&room()).is_none(), "nothing failed now");
    s.apply(ServerMessage::error(
        ErrorCode::NotMember,
        "",
        Some("sendMessage"),
    ));
    assert!(s.composer_error(&room()).is_some());
    s.discard_message(&ClientMsgId::from("c1"));
    assert!(s.composer_error(&room()).is_none(), "gone with the message");
    assert!(s.outbox.is_empty());
}

#[test]
fn a_rate_refusal_is_retried_by_itself_in_order_without_an_error() {
    let mut s = alice_in_her_room();
    assert_eq!(actions(&send(&mut s, 0.0, "one", "c1")), ["sendMessage"]);
    assert!(
        send(&mut s, 1.0, "two", "c2").is_empty(),
        "waits for one's answer"
    );
    let commands = act(&mut s, 2.0, |s| {
        s.apply(ServerMessage::error(
            ErrorCode::RateLimited,
            "slow down",
            Some("sendMessage"),
        ))
    });
    assert_eq!(actions(&commands), ["wake"]);
    assert!(s.composer_error(&room()).is_none());
    assert!(s.error(&Slot::General).is_none());
    let Command::WakeAfter(delay) = commands[0] else {
        unreachable!()
    };
    let later = 2.0 + delay.as_secs_f64() * 1_000.0;
    let mut frames = sent(&act(&mut s, later, |_| Vec::new()));
    assert!(
        matches!(&frames[..], [ClientMessage::SendMessage { message, .. }] if message == "one")
    );
    frames = sent(&act(&mut s, later + 1.0, |s| s.apply(ack(1, "c1"))));
    assert!(
        matches!(&frames[..], [ClientMessage::SendMessage { message, .. }] if message == "two")
    );
}

#[test]
fn too_long_or_blank_messages_are_kept_in_the_composer() {
    let mut s = alice_in_her_room();
    assert!(
        s.send_message(&room(), &"x".repeat(4_001), ClientMsgId::from("c"))
            .is_err()
    );
    assert!(
        s.composer_error(&room()).is_none(),
        "the composer says it next to the text, until the text changes"
    );
    assert!(
        s.send_message(&room(), " \n ", ClientMsgId::from("c"))
            .is_err()
    );
    assert!(s.outbox.is_empty());
    assert!(
        s.send_message(&room(), &"é".repeat(4_000), ClientMsgId::from("c"))
            .is_ok()
    );
}

#[test]
fn admin_learns_pending_requests_after_sign_in() {
    let mut s = signed_in("alice");
    let commands = s.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Approved,
            is_admin: true,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: Some(1),
        }],
    });
    assert_eq!(actions(&commands), ["getMembers"]);
    s.apply(ServerMessage::RoomMembers {
        room_id: room(),
        room_name: "Book club".into(),
        invite_only: false,
        participants: vec![
            Participant {
                user_id: user("alice"),
                status: MemberStatus::Approved,
                is_admin: true,
                reason: None,
                online: false,
                invite: None,
            },
            Participant {
                user_id: user("bob"),
                status: MemberStatus::Pending,
                is_admin: false,
                reason: None,
                online: false,
                invite: None,
            },
        ],
    });
    assert_eq!(s.rooms[&room()].pending_requests(), 1);
}

#[test]
fn rooms_no_longer_listed_are_forgotten() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "x"));
    s.apply(ServerMessage::Rooms { rooms: Vec::new() });
    assert_eq!(s.listed_rooms().len(), 0);
    assert!(s.rooms[&room()].timeline.is_empty());
}

fn summary(room_id: RoomId, name: &str, status: MemberStatus) -> RoomSummary {
    RoomSummary {
        room_id,
        room_name: name.into(),
        status,
        is_admin: false,
        last_seq: 0,
        read_seq: 0,
        unread_count: 0,
        mention_count: 0,
        pending_count: None,
    }
}

#[test]
fn rooms_gone_while_offline_leave_the_view_with_a_notice() {
    // Bob is in the room (on its page, a message waiting), waits in another, and was
    // turned down in a third. Meanwhile he was removed from the first, the second was
    // deleted, and the rejection was… nothing: all three are missing from `myRooms`.
    let (waiting, turned_down) = (RoomId::from("r-waiting"), RoomId::from("r-no"));
    let mut bob = bob_in_the_room();
    bob.apply(ServerMessage::Rooms {
        rooms: vec![
            summary(room(), "Book club", MemberStatus::Approved),
            summary(waiting.clone(), "Chess", MemberStatus::Pending),
            summary(turned_down.clone(), "Go", MemberStatus::Rejected),
        ],
    });
    bob.apply(ServerMessage::History {
        room_id: room(),
        messages: Vec::new(),
        has_more: false,
        has_more_after: None,
    });
    bob.on_disconnected();
    bob.send_message(&room(), "typed offline", ClientMsgId::from("c1"))
        .unwrap();
    let commands = bob.apply(ServerMessage::Authenticated {
        user_id: user("bob"),
    });
    assert_eq!(actions(&commands), ["myRooms", "resume", "getMembers"]);
    let commands = bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    assert_eq!(
        commands,
        [Command::Navigate("/".into())],
        "off its page, asking for nothing more of it"
    );
    assert_eq!(bob.listed_rooms().len(), 0);
    assert!(bob.rooms[&room()].timeline.is_empty());
    assert!(bob.outbox.is_empty(), "nothing more goes to that room");
    // Told for the rooms he was in or waiting for; why is not known.
    let names: Vec<_> = bob
        .notices
        .iter()
        .filter_map(|n| match &n.notice {
            Notice::Gone {
                room_name,
                why: Gone::Lost,
                reason: None,
                ..
            } => Some(room_name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["Book club", "Chess"]);
    assert_eq!(
        gone_text(Gone::Lost, "Book club", None),
        "You no longer have access to Book club."
    );
}

#[test]
fn an_answer_older_than_a_change_does_not_take_a_room_away() {
    let mut bob = signed_in("bob");
    // Approved (knocked from another tab) after the server wrote its answer to the
    // `myRooms` of the sign-in, which arrives after: the newer `myRooms` decides.
    let commands = bob.apply(changed("bob", MemberStatus::Approved, false, None));
    assert_eq!(actions(&commands), ["myRooms"]);
    bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    assert_eq!(bob.listed_rooms().len(), 1);
    assert_eq!(bob.notices, []);
    bob.apply(ServerMessage::Rooms {
        rooms: vec![summary(room(), "Book club", MemberStatus::Approved)],
    });
    assert_eq!(bob.listed_rooms()[0].display_name(), "Book club");
    // A reconnect forgets the unanswered ones.
    bob.apply(changed("bob", MemberStatus::Approved, true, None));
    bob.on_disconnected();
    bob.apply(ServerMessage::Authenticated {
        user_id: user("bob"),
    });
    bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    assert_eq!(gone(&bob), [(Gone::Lost, None)]);
}

#[test]
fn a_resume_goes_in_frames_the_server_accepts() {
    let mut s = signed_in("alice");
    s.apply(ServerMessage::Rooms { rooms: Vec::new() });
    for n in 0..=limits::MAX_RESUME_ROOMS {
        s.apply(ServerMessage::RoomCreated {
            room_id: RoomId::from(format!("room-{n:04}").as_str()),
            room_name: format!("Room {n}"),
        });
    }
    s.on_disconnected();
    let commands = s.apply(ServerMessage::Authenticated {
        user_id: user("alice"),
    });
    let sizes: Vec<usize> = sent(&commands)
        .iter()
        .filter_map(|f| match f {
            ClientMessage::Resume { rooms } => Some(rooms.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [limits::MAX_RESUME_ROOMS, 1]);
}

#[test]
fn unauthenticated_expires_the_session() {
    let mut s = signed_in("alice");
    assert_eq!(
        s.apply(ServerMessage::error(ErrorCode::Unauthenticated, "", None)),
        [Command::SessionExpired]
    );
}

#[test]
fn readable_errors() {
    assert_eq!(
        describe_error(ErrorCode::MessageTooLong, ""),
        "That message is too long (at most 4,000 characters)."
    );
    assert_eq!(describe_error(ErrorCode::BadRequest, "oops"), "oops");
    assert_eq!(format_thousands(1_234_567), "1,234,567");
    assert_eq!(format_thousands(999), "999");
}

#[test]
fn room_ids_from_links() {
    assert_eq!(extract_room_id(" abc "), "abc");
    assert_eq!(extract_room_id("https://x.org/join/abc/"), "abc");
    assert_eq!(extract_room_id("/join/abc"), "abc");
}

#[test]
fn names_fall_back_to_a_short_id() {
    let r = RoomState::new(room());
    assert_eq!(r.display_name(), "Room 3f2a9c1e…");
}

// ----- membership that can be taken back (issue 16) -----

fn changed(who: &str, status: MemberStatus, is_admin: bool, reason: Option<&str>) -> ServerMessage {
    ServerMessage::MemberChanged {
        room_id: room(),
        user_id: user(who),
        status,
        is_admin,
        reason: reason.map(str::to_owned),
    }
}

fn target_error(code: ErrorCode, target: &str) -> ServerMessage {
    let mut error = ServerMessage::error(code, "", Some("joinRoom"));
    if let ServerMessage::Error { target_user_id, .. } = &mut error {
        *target_user_id = Some(user(target));
    }
    error
}

/// Bob is a member of Alice's room, on its page, with its history loaded.
fn bob_in_the_room() -> ChatState {
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Approved,
            is_admin: false,
            last_seq: 1,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    bob.open_room(&room());
    bob.apply(ServerMessage::RoomMembers {
        room_id: room(),
        room_name: "Book club".into(),
        invite_only: false,
        participants: vec![
            Participant {
                user_id: user("alice"),
                status: MemberStatus::Approved,
                is_admin: true,
                reason: None,
                online: false,
                invite: None,
            },
            Participant {
                user_id: user("bob"),
                status: MemberStatus::Approved,
                is_admin: false,
                reason: None,
                online: false,
                invite: None,
            },
        ],
    });
    bob.apply(chat(1, "alice", "welcome"));
    bob
}

/// Alice's room with these users waiting, each with a message.
fn alice_with_requests(names: &[&str]) -> ChatState {
    let mut alice = alice_in_her_room();
    for name in names {
        alice.apply(ServerMessage::JoinRequest {
            user_id: user(name),
            room_id: room(),
            reason: Some(format!("{name} here")),
            invite: None,
        });
        alice.apply(changed(name, MemberStatus::Pending, false, None));
    }
    alice
}

fn gone(state: &ChatState) -> Vec<(Gone, Option<String>)> {
    state
        .notices
        .iter()
        .filter_map(|n| match &n.notice {
            Notice::Gone { why, reason, .. } => Some((*why, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_knock_carries_its_message_to_the_admins_notice_panel_and_list() {
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    let commands = bob.request_join(room().as_str(), "  I run the other club  ");
    assert_eq!(
        sent(&commands),
        [ClientMessage::JoinRoom(JoinRoom::Request {
            room_id: Some(room()),
            invite_code: None,
            reason: Some("I run the other club".into())
        })]
    );
    // Too long: refused here, at the form, with the limit.
    let long = "é".repeat(limits::MAX_REASON_CHARS + 1);
    assert_eq!(bob.request_join(room().as_str(), &long), NOTHING);
    assert_eq!(
        bob.error(&Slot::JoinRoom).as_deref(),
        Some("That is too long (at most 500 characters).")
    );
    assert_eq!(
        actions(&bob.request_join(room().as_str(), &"é".repeat(limits::MAX_REASON_CHARS))),
        ["joinRoom"]
    );

    let alice = alice_with_requests(&["bob"]);
    let r = &alice.rooms[&room()];
    assert_eq!(
        r.members.pending().next().and_then(|p| p.reason.as_deref()),
        Some("bob here"),
        "the room's memberChanged, without the message, keeps it"
    );
    assert!(matches!(
        &alice.join_request_notices()[0].notice,
        Notice::JoinRequest { reason: Some(text), .. } if text == "bob here"
    ));
}

#[test]
fn a_rejection_says_why_to_the_knocker() {
    let mut alice = alice_with_requests(&["bob"]);
    let commands = alice.decide(&room(), &[user("bob")], false, " Members only ");
    assert_eq!(
        sent(&commands),
        [ClientMessage::JoinRoom(JoinRoom::Reject {
            room_id: Some(room()),
            targets: Targets::one(user("bob")),
            reason: Some("Members only".into())
        })]
    );
    // A quick reject says nothing; an approval never carries the box's text.
    assert!(matches!(
        &sent(&alice.decide(&room(), &[user("bob")], false, "  "))[..],
        [ClientMessage::JoinRoom(JoinRoom::Reject {
            reason: None,
            ..
        })]
    ));
    assert!(matches!(
        &sent(&alice.decide(&room(), &[user("bob")], true, "why"))[..],
        [ClientMessage::JoinRoom(JoinRoom::Approve { .. })]
    ));

    // Bob, elsewhere, is told with the reason; on the room's page, the page says it.
    let mut bob = signed_in("bob");
    bob.request_join(room().as_str(), "");
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Rejected,
        reason: Some("Members only".into()),
    });
    let r = &bob.rooms[&room()];
    assert_eq!(r.rejection.as_deref(), Some("Members only"));
    assert!(matches!(
        &bob.notices[0].notice,
        Notice::Rejected { reason: Some(text), .. } if text == "Members only"
    ));
    // Asking again clears the old reason.
    bob.request_join(room().as_str(), "please");
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    assert_eq!(bob.rooms[&room()].rejection, None);
}

#[test]
fn approve_all_is_one_decision_and_each_refusal_names_its_user() {
    let mut alice = alice_with_requests(&["bob", "cy", "dee"]);
    let commands = alice.approve_all(&room());
    assert_eq!(
        sent(&commands),
        [ClientMessage::JoinRoom(JoinRoom::Approve {
            room_id: Some(room()),
            targets: Targets::many(vec![user("bob"), user("cy"), user("dee")])
        })]
    );
    alice.apply(changed("bob", MemberStatus::Approved, false, None));
    // Cy withdrew meanwhile: the refusal is about Cy alone.
    alice.apply(target_error(ErrorCode::RequestNotFound, "cy"));
    alice.apply(changed("dee", MemberStatus::Approved, false, None));
    assert_eq!(
        alice.error(&Slot::Admin(room())).as_deref(),
        Some("cy: That request is no longer pending.")
    );
    assert!(alice.awaiting.is_empty(), "every answer arrived");
    assert!(alice.notices.iter().all(|n| !matches!(
        &n.notice,
        Notice::JoinRequest { user_id, .. } if *user_id != user("cy")
    )));

    // Two refusals of one decision are both shown.
    let mut alice = alice_with_requests(&["eve", "fay"]);
    alice.approve_all(&room());
    alice.apply(target_error(ErrorCode::RequestNotFound, "eve"));
    alice.apply(target_error(ErrorCode::RequestNotFound, "fay"));
    assert_eq!(
        alice.error(&Slot::Admin(room())).as_deref(),
        Some("eve: That request is no longer pending. fay: That request is no longer pending.")
    );
    // The next decision starts clean.
    alice.decide(&room(), &[user("eve")], false, "");
    assert_eq!(alice.error(&Slot::Admin(room())), None);

    // More than a frame may name: one frame per hundred.
    let many: Vec<UserId> = (0..150).map(|i| user(&format!("u{i}"))).collect();
    let frames = sent(&alice.decide(&room(), &many, true, ""));
    let sizes: Vec<usize> = frames
        .iter()
        .map(|f| match f {
            ClientMessage::JoinRoom(JoinRoom::Approve { targets, .. }) => {
                targets.target_user_ids.as_ref().map_or(1, Vec::len)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [100, 50]);
}

#[test]
fn another_admins_decision_clears_this_admins_alert() {
    let mut alice = alice_with_requests(&["bob"]);
    alice.close_room();
    assert_eq!(alice.join_request_notices().len(), 1);
    // Carol, another admin, rejected Bob.
    alice.apply(changed("bob", MemberStatus::Rejected, false, Some("no")));
    assert_eq!(alice.join_request_notices().len(), 0);
    assert_eq!(alice.rooms[&room()].pending_requests(), 0);
    // Dee withdrew her request: the alert goes too.
    alice.apply(ServerMessage::JoinRequest {
        user_id: user("dee"),
        room_id: room(),
        reason: None,
        invite: None,
    });
    alice.apply(changed("dee", MemberStatus::Left, false, None));
    assert_eq!(alice.join_request_notices().len(), 0);
}

#[test]
fn withdrawing_a_request_forgets_the_room_and_says_so() {
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms { rooms: Vec::new() });
    bob.request_join(room().as_str(), "");
    bob.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Pending,
        reason: None,
    });
    bob.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Pending,
            is_admin: false,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    bob.open_room(&room());
    assert_eq!(
        sent(&bob.withdraw_request(&room())),
        [ClientMessage::JoinRoom(JoinRoom::Cancel {
            room_id: room()
        })]
    );
    // Already decided: said where the button is.
    bob.apply(ServerMessage::error(
        ErrorCode::RequestNotFound,
        "",
        Some("joinRoom"),
    ));
    assert_eq!(
        bob.error(&Slot::Standing(room())).as_deref(),
        Some("That request is no longer pending.")
    );
    bob.withdraw_request(&room());
    assert_eq!(bob.error(&Slot::Standing(room())), None);
    let commands = bob.apply(changed("bob", MemberStatus::Left, false, None));
    assert_eq!(commands, [Command::Navigate("/".into())]);
    assert!(bob.awaiting.is_empty());
    assert_eq!(bob.listed_rooms().len(), 0);
    assert_eq!(gone(&bob), [(Gone::Withdrew, None)]);
}

#[test]
fn leaving_asks_the_server_and_the_last_admin_is_told_why_not() {
    let mut alice = alice_in_her_room();
    assert_eq!(
        sent(&alice.leave_room(&room())),
        [ClientMessage::LeaveRoom { room_id: room() }]
    );
    alice.apply(ServerMessage::error(
        ErrorCode::LastAdmin,
        "last admin",
        Some("leaveRoom"),
    ));
    assert_eq!(
        alice.error(&Slot::Standing(room())).as_deref(),
        Some("You are the only admin here. Make another member an admin first, then try again.")
    );
    assert!(alice.awaiting.is_empty());
    assert!(alice.rooms[&room()].is_approved(), "still in");

    // A member leaves: the room goes from the list and the page, with a notice.
    let mut bob = bob_in_the_room();
    bob.leave_room(&room());
    let commands = bob.apply(changed("bob", MemberStatus::Left, false, None));
    assert_eq!(commands, [Command::Navigate("/".into())]);
    assert!(bob.awaiting.is_empty());
    assert_eq!(bob.listed_rooms().len(), 0);
    assert!(bob.rooms[&room()].timeline.is_empty());
    assert_eq!(gone(&bob), [(Gone::Left, None)]);
    assert_eq!(
        gone_text(Gone::Left, "Book club", None),
        "You left Book club."
    );
    // The others see one member fewer.
    let mut alice = alice_in_her_room();
    alice.apply(changed("bob", MemberStatus::Approved, false, None));
    alice.apply(changed("bob", MemberStatus::Left, false, None));
    assert_eq!(alice.rooms[&room()].members.approved().count(), 1);
}

#[test]
fn the_only_member_leaving_deletes_the_room_and_to_them_they_left() {
    let mut alice = alice_in_her_room();
    alice.leave_room(&room());
    let commands = alice.apply(ServerMessage::RoomDeleted { room_id: room() });
    assert_eq!(commands, [Command::Navigate("/".into())]);
    assert_eq!(gone(&alice), [(Gone::Left, None)]);
    assert!(alice.awaiting.is_empty());
}

#[test]
fn a_removed_member_loses_the_room_at_once_with_the_reason() {
    let mut bob = bob_in_the_room();
    bob.send_message(&room(), "queued", ClientMsgId::from("c1"))
        .unwrap();
    let commands = bob.apply(changed(
        "bob",
        MemberStatus::Removed,
        false,
        Some("Off topic"),
    ));
    assert_eq!(commands, [Command::Navigate("/".into())]);
    assert_eq!(bob.listed_rooms().len(), 0);
    let r = &bob.rooms[&room()];
    assert!(r.timeline.is_empty() && r.status.is_none());
    assert!(bob.outbox.is_empty(), "nothing more goes to that room");
    assert_eq!(gone(&bob), [(Gone::Removed, Some("Off topic".into()))]);
    assert_eq!(
        gone_text(Gone::Removed, "Book club", Some("Off topic")),
        "You were removed from Book club. Reason: Off topic"
    );
    // They may knock again from the room's address.
    assert_eq!(
        actions(&bob.request_join(room().as_str(), "")),
        ["joinRoom"]
    );

    // Banned while elsewhere: no page to leave, the same notice.
    let mut bob = bob_in_the_room();
    bob.close_room();
    let commands = bob.apply(changed("bob", MemberStatus::Banned, false, None));
    assert_eq!(commands, NOTHING);
    assert_eq!(gone(&bob), [(Gone::Banned, None)]);
    assert_eq!(
        gone_text(Gone::Banned, "Book club", None),
        "You were banned from Book club."
    );
    assert_eq!(bob.listed_rooms().len(), 0);
}

#[test]
fn the_end_of_a_ban_is_told_and_the_user_may_knock_again() {
    let mut bob = bob_in_the_room();
    assert_eq!(
        bob.apply(changed("bob", MemberStatus::Banned, false, None)),
        [Command::Navigate("/".into())]
    );
    assert_eq!(bob.rooms[&room()].status, Some(MemberStatus::Banned));
    assert_eq!(bob.listed_rooms().len(), 0);
    // Back on the room's page, then unbanned: told, and may knock from there.
    bob.open_room(&room());
    let commands = bob.apply(changed("bob", MemberStatus::Left, false, None));
    assert_eq!(commands, NOTHING, "stays where it is");
    assert_eq!(gone(&bob), [(Gone::Banned, None), (Gone::Unbanned, None)]);
    assert_eq!(
        gone_text(Gone::Unbanned, "Book club", None),
        "You may ask to join Book club again."
    );
    assert_eq!(bob.rooms[&room()].status, None);
    assert_eq!(
        actions(&bob.request_join(room().as_str(), "sorry")),
        ["joinRoom"]
    );

    // Leaving, never banned, says nothing about asking again.
    let mut cy = bob_in_the_room();
    cy.close_room();
    cy.apply(changed("bob", MemberStatus::Left, false, None));
    assert_eq!(gone(&cy), [(Gone::Left, None)]);
}

#[test]
fn only_admins_see_the_banned() {
    // To a member, someone banned is someone who left.
    let mut bob = bob_in_the_room();
    bob.apply(changed("eve", MemberStatus::Approved, false, None));
    bob.apply(changed("eve", MemberStatus::Banned, false, Some("spam")));
    let r = &bob.rooms[&room()];
    assert_eq!(r.banned().count(), 0);
    assert_eq!(r.members.banned().count(), 0);
    assert_eq!(r.members.status_of(&user("eve")), Some(MemberStatus::Left));
    assert_eq!(r.members.approved().count(), 2);

    // To an admin, listed with the reason, until they are no longer an admin.
    let mut alice = alice_with_requests(&[]);
    alice.apply(changed("eve", MemberStatus::Banned, false, Some("spam")));
    assert_eq!(alice.rooms[&room()].banned().count(), 1);
    alice.apply(changed("bob", MemberStatus::Approved, true, None));
    alice.apply(changed("alice", MemberStatus::Approved, false, None));
    let r = &alice.rooms[&room()];
    assert!(!r.is_admin);
    assert_eq!(r.banned().count(), 0, "hidden before the new list arrives");
}

#[test]
fn a_knocker_can_be_banned_from_the_request_without_being_let_in() {
    let mut alice = alice_with_requests(&["spam", "cy"]);
    assert_eq!(
        sent(&alice.ban_request(&room(), &user("spam"), " bot ")),
        [ClientMessage::BanMember {
            room_id: room(),
            target_user_id: user("spam"),
            reason: Some("bot".into())
        }]
    );
    alice.apply(changed("spam", MemberStatus::Banned, false, Some("bot")));
    assert!(alice.awaiting.is_empty(), "answered");
    let r = &alice.rooms[&room()];
    assert_eq!(r.pending_requests(), 1);
    assert_eq!(
        r.banned().map(|p| p.user_id.as_str()).collect::<Vec<_>>(),
        ["spam"]
    );
    assert_eq!(alice.join_request_notices().len(), 1, "its alert went");

    // Refused: said at the request panel, where it was asked.
    alice.ban_request(&room(), &user("cy"), "");
    alice.apply(ServerMessage::error(
        ErrorCode::TargetIsAdmin,
        "",
        Some("banMember"),
    ));
    assert!(alice.error(&Slot::Admin(room())).is_some());
    assert!(alice.error(&Slot::Members(room())).is_none());
    let long = "x".repeat(limits::MAX_REASON_CHARS + 1);
    assert_eq!(alice.ban_request(&room(), &user("cy"), &long), NOTHING);
    assert_eq!(
        alice.error(&Slot::Admin(room())).as_deref(),
        Some("That is too long (at most 500 characters).")
    );
    alice.on_disconnected();
    assert_eq!(alice.ban_request(&room(), &user("cy"), ""), NOTHING);
    assert!(alice.error(&Slot::Admin(room())).is_some());
}

#[test]
fn a_deleted_room_leaves_every_view() {
    let mut bob = bob_in_the_room();
    let commands = bob.apply(ServerMessage::RoomDeleted { room_id: room() });
    assert_eq!(commands, [Command::Navigate("/".into())]);
    assert_eq!(bob.listed_rooms().len(), 0);
    assert!(bob.rooms[&room()].not_found);
    assert_eq!(gone(&bob), [(Gone::Deleted, None)]);
    assert_eq!(
        gone_text(Gone::Deleted, "Book club", None),
        "Book club was deleted."
    );

    // The admin who deleted it, with requests waiting: their alerts go too.
    let mut alice = alice_with_requests(&["cy"]);
    assert_eq!(
        sent(&alice.delete_room(&room())),
        [ClientMessage::DeleteRoom { room_id: room() }]
    );
    alice.apply(ServerMessage::RoomDeleted { room_id: room() });
    assert_eq!(alice.join_request_notices().len(), 0);
    assert!(alice.awaiting.is_empty());
    assert_eq!(alice.listed_rooms().len(), 0);
}

#[test]
fn admin_actions_send_their_frames_and_errors_show_at_the_member_list() {
    let mut alice = alice_with_requests(&[]);
    alice.apply(changed("bob", MemberStatus::Approved, false, None));
    alice.apply(changed("cy", MemberStatus::Approved, true, None));
    assert_eq!(
        sent(&alice.remove_member(&room(), &user("bob"), false, " Off topic ")),
        [ClientMessage::RemoveMember {
            room_id: room(),
            target_user_id: user("bob"),
            reason: Some("Off topic".into())
        }]
    );
    alice.apply(changed(
        "bob",
        MemberStatus::Removed,
        false,
        Some("Off topic"),
    ));
    assert!(alice.awaiting.is_empty(), "answered");
    assert_eq!(alice.rooms[&room()].members.approved().count(), 2);

    assert_eq!(
        sent(&alice.remove_member(&room(), &user("cy"), true, "")),
        [ClientMessage::BanMember {
            room_id: room(),
            target_user_id: user("cy"),
            reason: None
        }]
    );
    alice.apply(ServerMessage::error(
        ErrorCode::TargetIsAdmin,
        "",
        Some("banMember"),
    ));
    assert_eq!(
        alice.error(&Slot::Members(room())).as_deref(),
        Some("Admins cannot be removed or banned. Remove their admin role first.")
    );
    assert_eq!(
        sent(&alice.set_role(&room(), &user("cy"), false)),
        [ClientMessage::SetRole {
            room_id: room(),
            target_user_id: user("cy"),
            role: Role::Member
        }]
    );
    assert_eq!(
        alice.error(&Slot::Members(room())),
        None,
        "a new try clears it"
    );
    alice.apply(changed("cy", MemberStatus::Approved, false, None));
    assert!(alice.awaiting.is_empty());

    alice.remove_member(&room(), &user("cy"), true, "spam");
    alice.apply(changed("cy", MemberStatus::Banned, false, Some("spam")));
    let banned: Vec<_> = alice.rooms[&room()]
        .members
        .banned()
        .map(|p| (p.user_id.to_string(), p.reason.clone()))
        .collect();
    assert_eq!(banned, [("cy".to_owned(), Some("spam".to_owned()))]);
    assert_eq!(
        sent(&alice.unban_member(&room(), &user("cy"))),
        [ClientMessage::UnbanMember {
            room_id: room(),
            target_user_id: user("cy"),
            reason: None
        }]
    );
    alice.apply(changed("cy", MemberStatus::Left, false, None));
    assert_eq!(alice.rooms[&room()].members.banned().count(), 0);

    // Too long a reason never leaves the client; offline, nothing is sent.
    let long = "x".repeat(limits::MAX_REASON_CHARS + 1);
    assert_eq!(
        alice.remove_member(&room(), &user("bob"), false, &long),
        NOTHING
    );
    assert!(alice.error(&Slot::Members(room())).is_some());
    alice.on_disconnected();
    assert_eq!(alice.leave_room(&room()), NOTHING);
    assert!(alice.error(&Slot::Standing(room())).is_some());
}

#[test]
fn becoming_or_ceasing_to_be_admin_fetches_the_member_list_again() {
    let mut bob = bob_in_the_room();
    let commands = bob.apply(changed("bob", MemberStatus::Approved, true, None));
    assert_eq!(actions(&commands), ["getMembers"]);
    assert!(bob.rooms[&room()].is_admin);
    bob.apply(ServerMessage::RoomMembers {
        room_id: room(),
        room_name: "Book club".into(),
        invite_only: false,
        participants: vec![
            Participant {
                user_id: user("bob"),
                status: MemberStatus::Approved,
                is_admin: true,
                reason: None,
                online: false,
                invite: None,
            },
            Participant {
                user_id: user("eve"),
                status: MemberStatus::Banned,
                is_admin: false,
                reason: Some("spam".into()),
                online: false,
                invite: None,
            },
        ],
    });
    assert_eq!(bob.rooms[&room()].members.banned().count(), 1);
    let commands = bob.apply(changed("bob", MemberStatus::Approved, false, None));
    assert_eq!(actions(&commands), ["getMembers"]);
    assert!(!bob.rooms[&room()].is_admin);
    // The same role again changes nothing.
    assert_eq!(
        bob.apply(changed("bob", MemberStatus::Approved, false, None)),
        NOTHING
    );
}

#[test]
fn knock_refusals_say_what_to_do_where_the_user_knocked() {
    // From the room's page, rejected a moment ago: the cooldown, in minutes.
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Rejected,
            is_admin: false,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    bob.open_room(&room());
    bob.request_join(room().as_str(), "");
    let mut cooldown = ServerMessage::error(ErrorCode::KnockCooldown, "", Some("joinRoom"));
    if let ServerMessage::Error {
        retry_after_secs, ..
    } = &mut cooldown
    {
        *retry_after_secs = Some(541);
    }
    bob.apply(cooldown);
    assert_eq!(
        bob.error(&Slot::Room(room())).as_deref(),
        Some("Your request was turned down recently. You can ask again in 10 minutes.")
    );
    assert_eq!(bob.error(&Slot::JoinRoom), None);
    // From the join form: banned.
    bob.close_room();
    bob.request_join(room().as_str(), "");
    bob.apply(ServerMessage::error(
        ErrorCode::Banned,
        "",
        Some("joinRoom"),
    ));
    assert_eq!(
        bob.error(&Slot::JoinRoom).as_deref(),
        Some("You are banned from this room, so you cannot ask to join it.")
    );
    assert_eq!(
        wording::knock_cooldown_text(Some(30)),
        "Your request was turned down recently. You can ask again in 1 minute."
    );
}

#[test]
fn deleting_asks_for_the_exact_name() {
    let alice = alice_in_her_room();
    let r = &alice.rooms[&room()];
    assert!(r.name_matches(" Book club "));
    assert!(!r.name_matches("book club"));
    assert!(!r.name_matches(""));
}

#[test]
fn every_new_error_code_reads_as_a_sentence() {
    for code in [
        ErrorCode::LastAdmin,
        ErrorCode::Banned,
        ErrorCode::KnockCooldown,
        ErrorCode::TargetIsAdmin,
        ErrorCode::TargetNotMember,
        ErrorCode::UserNotFound,
        ErrorCode::ReasonTooLong,
    ] {
        let text = describe_error(code, "server words");
        assert!(
            text.ends_with('.') && text != "server words",
            "{code:?}: {text}"
        );
    }
}

#[test]
fn reasons_are_counted_in_characters_not_utf16_units() {
    // 500 emoji are 1,000 UTF-16 units (what a `maxlength` would count) and 500
    // characters (what the server counts).
    let emoji = "😀".repeat(limits::MAX_REASON_CHARS);
    assert_eq!(reason_to_send(&emoji), Ok(Some(emoji.clone())));
    assert!(reason_to_send(&format!("{emoji}😀")).is_err());
}

#[test]
fn the_placeholder_of_a_deleted_account_reads_as_deleted_user() {
    assert_eq!(
        display_name(&UserId::from(knock_protocol::DELETED_USER)),
        "Deleted user"
    );
    assert_eq!(display_name(&UserId::from("alice")), "alice");
    // Only the exact placeholder, not a look-alike (none can be registered anyway).
    assert_eq!(display_name(&UserId::from("~deleted2")), "~deleted2");
}

#[test]
fn a_long_absence_shows_the_newest_messages_and_pages_back_into_what_was_skipped() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "before the break"));
    s.on_disconnected();
    let commands = s.apply(ServerMessage::Authenticated {
        user_id: user("alice"),
    });
    assert!(sent(&commands).contains(&ClientMessage::Resume {
        rooms: vec![ResumeRoom {
            room_id: room(),
            after_seq: 1
        }]
    }));
    // The server sends the newest of a long run, after saying what it skipped; the
    // client asks for none of it by itself.
    assert_eq!(
        s.apply(ServerMessage::HistoryGap {
            room_id: room(),
            after_seq: 1,
            before_seq: 801,
        }),
        NOTHING
    );
    for seq in 801..=1_000 {
        assert_eq!(s.apply(chat(seq, "bob", "news")), NOTHING);
    }
    assert_eq!(seqs(&s), (801..=1_000).collect::<Vec<_>>());
    // Scrolling up pages back from the first message shown.
    let commands = s.load_older(&room());
    assert_eq!(
        sent(&commands),
        [ClientMessage::GetHistory {
            room_id: room(),
            before_seq: Some(801),
            limit: Some(PAGE_SIZE),
            around_seq: None,
            after_seq: None,
        }]
    );
    s.apply(ServerMessage::History {
        room_id: room(),
        messages: (801 - u64::from(PAGE_SIZE)..801)
            .map(|seq| match chat(seq, "bob", "older") {
                ServerMessage::Message(m) => m,
                _ => unreachable!(),
            })
            .collect(),
        has_more: true,
        has_more_after: None,
    });
    assert_eq!(
        seqs(&s),
        (801 - u64::from(PAGE_SIZE)..=1_000).collect::<Vec<_>>()
    );
}

#[test]
fn messages_skipped_in_a_room_not_on_screen_count_as_unread() {
    let mut s = alice_in_her_room();
    s.apply(chat(1, "bob", "hi"));
    s.close_room();
    s.apply(ServerMessage::HistoryGap {
        room_id: room(),
        after_seq: 1,
        before_seq: 801,
    });
    for seq in 801..=1_000 {
        s.apply(chat(seq, "bob", "news"));
    }
    assert_eq!(s.rooms[&room()].unread, 999);
}

#[test]
fn a_search_result_opens_its_room_at_the_message_and_sending_goes_back_to_the_newest() {
    let mut s = alice_in_her_room();
    for seq in 1..=3 {
        s.apply(chat(seq, "bob", "recent"));
    }
    // Shown already: only highlighted.
    assert_eq!(s.open_result(&room(), 2), NOTHING);
    assert_eq!(s.rooms[&room()].timeline.focus, Some(2));
    // Not shown: the page around it replaces what is shown.
    let around = |seq| ClientMessage::GetHistory {
        room_id: room(),
        before_seq: None,
        limit: Some(PAGE_SIZE),
        around_seq: Some(seq),
        after_seq: None,
    };
    assert_eq!(sent(&s.open_result(&room(), 700)), [around(700)]);
    let page = |seqs: std::ops::RangeInclusive<u64>| -> Vec<ChatMessage> {
        seqs.map(|seq| match chat(seq, "bob", "old") {
            ServerMessage::Message(m) => m,
            _ => unreachable!(),
        })
        .collect()
    };
    s.apply(ServerMessage::History {
        room_id: room(),
        messages: page(675..=724),
        has_more: true,
        has_more_after: Some(true),
    });
    assert_eq!(seqs(&s), (675..=724).collect::<Vec<_>>());
    // Scrolling down asks for the page after it.
    assert_eq!(
        sent(&s.load_newer(&room())),
        [ClientMessage::GetHistory {
            room_id: room(),
            before_seq: None,
            limit: Some(PAGE_SIZE),
            around_seq: None,
            after_seq: Some(724),
        }]
    );
    // A live message is not shown in the middle of old ones, nor does it ask for a gap.
    assert_eq!(s.apply(chat(2_000, "bob", "live")), NOTHING);
    assert_eq!(seqs(&s), (675..=724).collect::<Vec<_>>());
    // Sending from here goes back to the newest messages, where it will show.
    let commands = s
        .send_message(&room(), "back to now", ClientMsgId::new("c9"))
        .unwrap();
    assert_eq!(
        sent(&commands),
        [ClientMessage::GetHistory {
            room_id: room(),
            before_seq: None,
            limit: Some(PAGE_SIZE),
            around_seq: None,
            after_seq: None,
        }]
    );
    // The page down asked for before is dropped when it comes.
    s.apply(ServerMessage::History {
        room_id: room(),
        messages: page(725..=774),
        has_more: true,
        has_more_after: Some(true),
    });
    assert!(s.rooms[&room()].timeline.is_empty());
}

#[test]
fn admins_are_alerted_of_knocks_and_knockers_of_decisions() {
    let mut alice = alice_in_her_room();
    let commands = alice.apply(ServerMessage::JoinRequest {
        user_id: user("carol"),
        room_id: room(),
        reason: Some("Sam sent me".into()),
        invite: None,
    });
    let [alert] = alerts(&commands).try_into().expect("one alert");
    assert_eq!(alert.title, "carol asks to join Book club");
    assert_eq!(alert.body, "\u{201c}Sam sent me\u{201d}");
    assert_eq!(alert.path, room_path(&room()));

    let mut carol = signed_in("carol");
    carol.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Pending,
            is_admin: false,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    let commands = carol.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Approved,
        reason: None,
    });
    let [alert] = alerts(&commands).try_into().expect("one alert");
    assert_eq!(alert.title, "You are in Book club");
    // Confirming what is already known says nothing again.
    let commands = carol.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Approved,
        reason: None,
    });
    assert_eq!(alerts(&commands), []);

    let mut dave = signed_in("dave");
    dave.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Pending,
            is_admin: false,
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    let commands = dave.apply(ServerMessage::JoinResponse {
        room_id: room(),
        status: MemberStatus::Rejected,
        reason: Some("Members only".into()),
    });
    let [alert] = alerts(&commands).try_into().expect("one alert");
    assert_eq!(alert.title, "Your request to join Book club was declined");
    assert_eq!(alert.body, "\u{201c}Members only\u{201d}");
}

#[test]
fn rooms_listed_at_sign_in_alert_nobody() {
    let mut bob = signed_in("bob");
    let commands = bob.apply(ServerMessage::Rooms {
        rooms: vec![RoomSummary {
            room_id: room(),
            room_name: "Book club".into(),
            status: MemberStatus::Approved,
            is_admin: false,
            last_seq: 3,
            read_seq: 0,
            unread_count: 0,
            mention_count: 0,
            pending_count: None,
        }],
    });
    assert_eq!(alerts(&commands), []);
}

#[test]
fn edits_and_deletions_change_the_message_and_its_quotes_and_move_the_resume_point() {
    let mut bob = bob_in_the_room();
    bob.apply(ServerMessage::Message(ChatMessage {
        reply_to: Some(knock_protocol::ReplyTo {
            message_id: MessageId::new("m1"),
            user_id: user("alice"),
            excerpt: "welcome".into(),
            deleted: false,
        }),
        ..chat_message(2, "carol", "thanks")
    }));
    bob.apply(ServerMessage::MessageEdited {
        room_id: room(),
        message_id: MessageId::new("m1"),
        message: "welcome all".into(),
        edited_at: 5,
        seq: 3,
    });
    let timeline = &bob.rooms[&room()].timeline;
    let first = timeline.by_id(&MessageId::new("m1")).unwrap();
    assert_eq!(
        (first.message.as_str(), first.edited_at),
        ("welcome all", Some(5))
    );
    let reply = timeline.by_id(&MessageId::new("m2")).unwrap();
    assert_eq!(reply.reply_to.as_ref().unwrap().excerpt, "welcome all");
    // The same entry again (a catch-up after a reconnect) changes nothing.
    let before = bob.clone();
    bob.apply(ServerMessage::MessageEdited {
        room_id: room(),
        message_id: MessageId::new("m1"),
        message: "welcome all".into(),
        edited_at: 5,
        seq: 3,
    });
    assert_eq!(bob, before);

    // A live message after the edit is no gap: seq 3 was the edit.
    assert_eq!(sent(&bob.apply(chat(4, "alice", "next"))), []);

    bob.apply(ServerMessage::MessageDeleted {
        room_id: room(),
        message_id: MessageId::new("m1"),
        seq: 5,
    });
    let timeline = &bob.rooms[&room()].timeline;
    let first = timeline.by_id(&MessageId::new("m1")).unwrap();
    assert!(first.deleted && first.message.is_empty());
    let quote = timeline
        .by_id(&MessageId::new("m2"))
        .unwrap()
        .reply_to
        .clone()
        .unwrap();
    assert!(quote.deleted && quote.excerpt.is_empty());
    // After a reconnect, the resume goes on after the deletion.
    bob.on_disconnected();
    let commands = bob.apply(ServerMessage::Authenticated {
        user_id: user("bob"),
    });
    assert!(sent(&commands).contains(&ClientMessage::Resume {
        rooms: vec![ResumeRoom {
            room_id: room(),
            after_seq: 5,
        }],
    }));
}

#[test]
fn a_reply_quotes_the_message_until_sent_and_goes_with_it() {
    let mut bob = bob_in_the_room();
    bob.start_reply(&room(), &MessageId::new("m1"));
    let quote = bob.rooms[&room()].replying_to.clone().expect("quoted");
    assert_eq!(
        (quote.user_id.as_str(), quote.excerpt.as_str()),
        ("alice", "welcome")
    );
    let mut commands = bob
        .send_message(&room(), "hi!", ClientMsgId::new("c1"))
        .unwrap();
    commands.extend(bob.pump_outbox(0.0));
    assert!(matches!(
        &sent_but_reads(&commands)[..],
        [ClientMessage::SendMessage { reply_to: Some(id), .. }] if id.as_str() == "m1"
    ));
    assert_eq!(
        bob.rooms[&room()].replying_to,
        None,
        "the composer is free again"
    );
    // A reply being written to a message that gets deleted is dropped.
    bob.start_reply(&room(), &MessageId::new("m1"));
    bob.apply(ServerMessage::MessageDeleted {
        room_id: room(),
        message_id: MessageId::new("m1"),
        seq: 2,
    });
    assert_eq!(bob.rooms[&room()].replying_to, None);
    bob.start_reply(&room(), &MessageId::new("m1"));
    assert_eq!(
        bob.rooms[&room()].replying_to,
        None,
        "no reply to a tombstone"
    );
}

#[test]
fn who_may_edit_and_delete() {
    let bob = bob_in_the_room();
    let welcome = MessageId::new("m1");
    assert!(!bob.may_edit(&room(), &welcome), "alice's message");
    assert!(!bob.may_delete(&room(), &welcome), "bob is no admin");
    let mut alice = alice_in_her_room();
    alice.apply(chat(1, "alice", "welcome"));
    alice.apply(chat(2, "bob", "hello"));
    assert!(alice.may_edit(&room(), &welcome));
    assert!(!alice.may_edit(&room(), &MessageId::new("m2")));
    assert!(
        alice.may_delete(&room(), &MessageId::new("m2")),
        "an admin deletes any"
    );
    // Unchanged or empty text sends nothing.
    assert_eq!(
        alice.edit_message(&room(), &welcome, "welcome"),
        Ok(Vec::new())
    );
    assert!(alice.edit_message(&room(), &welcome, "  ").is_err());
    assert_eq!(
        sent(&alice.edit_message(&room(), &welcome, "welcome!").unwrap()),
        [ClientMessage::EditMessage {
            room_id: room(),
            message_id: welcome.clone(),
            message: "welcome!".into(),
        }]
    );
    // A refusal shows on the room's page.
    alice.apply(ServerMessage::error(
        ErrorCode::MessageDeleted,
        "",
        Some("editMessage"),
    ));
    assert_eq!(
        alice.error(&Slot::Room(room())).as_deref(),
        Some("That message was deleted.")
    );
}

fn read_summary(last_seq: u64, read_seq: u64, unread: u64, mentions: u64) -> RoomSummary {
    RoomSummary {
        room_id: room(),
        room_name: "Book club".into(),
        status: MemberStatus::Approved,
        is_admin: false,
        last_seq,
        read_seq,
        unread_count: unread,
        mention_count: mentions,
        pending_count: None,
    }
}

#[test]
fn unread_and_mention_counts_come_from_the_server_and_follow_other_devices() {
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms {
        rooms: vec![read_summary(12, 9, 3, 1)],
    });
    let r = &bob.rooms[&room()];
    assert_eq!((r.unread, r.mentions, r.read_seq), (3, 1, 9));
    // A mention arriving live counts, and alerts.
    let commands = bob.apply(ServerMessage::Message(ChatMessage {
        mentions: vec![user("bob")],
        ..chat_message(13, "alice", "@bob look")
    }));
    let [alert] = alerts(&commands).try_into().expect("one alert");
    assert_eq!(alert.title, "alice mentioned you in Book club");
    let r = &bob.rooms[&room()];
    assert_eq!((r.unread, r.mentions), (4, 2));
    // Read on another device up to the newest: both clear.
    bob.apply(ServerMessage::ReadMarker {
        room_id: room(),
        seq: 13,
    });
    let r = &bob.rooms[&room()];
    assert_eq!((r.unread, r.mentions, r.read_seq), (0, 0, 13));
    // An older marker changes nothing.
    bob.apply(ServerMessage::ReadMarker {
        room_id: room(),
        seq: 10,
    });
    assert_eq!(bob.rooms[&room()].read_seq, 13);
}

#[test]
fn the_room_on_screen_is_marked_read_at_most_once_a_second() {
    let mut bob = signed_in("bob");
    bob.apply(ServerMessage::Rooms {
        rooms: vec![read_summary(3, 1, 2, 0)],
    });
    bob.open_room(&room());
    let r = &bob.rooms[&room()];
    assert_eq!(
        (r.unread, r.divider_after),
        (0, Some(1)),
        "the divider after the marker"
    );
    bob.apply(ServerMessage::History {
        room_id: room(),
        messages: vec![
            chat_message(1, "alice", "a"),
            chat_message(2, "alice", "b"),
            chat_message(3, "alice", "c"),
        ],
        has_more: false,
        has_more_after: None,
    });
    assert_eq!(
        sent(&bob.pump_outbox(0.0)),
        [ClientMessage::MarkRead {
            room_id: room(),
            seq: 3
        }]
    );
    // Sent, nothing more until something newer comes.
    assert_eq!(sent(&bob.pump_outbox(10.0)), []);
    bob.apply(chat(4, "alice", "d"));
    let commands = bob.pump_outbox(500.0);
    assert_eq!(sent(&commands), [], "within the second");
    assert!(commands.contains(&Command::WakeAfter(std::time::Duration::from_millis(500))));
    assert_eq!(
        sent(&bob.pump_outbox(1_000.0)),
        [ClientMessage::MarkRead {
            room_id: room(),
            seq: 4
        }]
    );
    // The server's confirmation moves the marker.
    bob.apply(ServerMessage::ReadMarker {
        room_id: room(),
        seq: 4,
    });
    assert_eq!(sent(&bob.pump_outbox(5_000.0)), []);
}

#[test]
fn admins_read_member_lists_only_of_rooms_where_someone_waits() {
    let mut alice = signed_in("alice");
    let quiet = RoomSummary {
        is_admin: true,
        pending_count: Some(0),
        ..read_summary(0, 0, 0, 0)
    };
    let other = RoomId::from("7d2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    let busy = RoomSummary {
        room_id: other.clone(),
        room_name: "Busy".into(),
        pending_count: Some(2),
        ..quiet.clone()
    };
    let commands = alice.apply(ServerMessage::Rooms {
        rooms: vec![quiet, busy],
    });
    assert_eq!(
        sent(&commands),
        [ClientMessage::GetMembers {
            room_id: Some(other.clone())
        }]
    );
    assert_eq!(
        alice.rooms[&other].pending_requests(),
        2,
        "counted before the list comes"
    );
}

#[test]
fn nothing_is_marked_read_while_the_page_is_out_of_sight() {
    let mut bob = bob_in_the_room();
    bob.pump_outbox(0.0);
    bob.set_page_hidden(true);
    bob.apply(chat(2, "alice", "while away"));
    assert_eq!(sent(&bob.pump_outbox(5_000.0)), []);
    bob.set_page_hidden(false);
    assert_eq!(
        sent(&bob.pump_outbox(6_000.0)),
        [ClientMessage::MarkRead {
            room_id: room(),
            seq: 2
        }]
    );
}
