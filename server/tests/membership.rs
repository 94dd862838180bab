//! Membership that can be taken back (docs/protocol.md, issue 16), over real sockets
//! against the real binary: knocking with a message, withdrawing, bulk and reasoned
//! decisions, leaving, removal, bans, roles and deleting a room, with every refusal.

mod common;

use common::{Client, TestServer, admit};
use serde_json::{Value, json};

/// `user` knocks on `room` (with `reason`); the admin and the knocker are drained.
async fn knock(user: &mut Client, admin: &mut Client, room: &str, reason: Option<&str>) -> Value {
    let mut frame = json!({"action": "joinRoom", "subAction": "request", "roomId": room});
    if let Some(reason) = reason {
        frame["reason"] = json!(reason);
    }
    user.send(frame).await;
    assert_eq!(user.expect("joinResponse").await["status"], "pending");
    user.expect("memberChanged").await;
    let request = admin.expect("joinRequest").await;
    admin.expect("memberChanged").await;
    request
}

async fn members(client: &mut Client, room: &str) -> Vec<Value> {
    client
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    client.expect("roomMembers").await["participants"]
        .as_array()
        .unwrap()
        .clone()
}

async fn rooms_of(client: &mut Client) -> Vec<String> {
    client.send(json!({"action": "myRooms"})).await;
    client.expect("rooms").await["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| room["roomId"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything a user cannot do in a room they may not receive.
async fn assert_shut_out(client: &mut Client, room: &str) {
    client
        .send(json!({"action": "sendMessage", "roomId": room, "message": "still here?"}))
        .await;
    client.expect_error("not_member", Some("sendMessage")).await;
    client
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    client.expect_error("not_member", Some("getHistory")).await;
    client
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    client.expect_error("not_member", Some("getMembers")).await;
    client
        .send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 0}]}))
        .await;
    client.expect_error("not_member", Some("resume")).await;
    assert!(!rooms_of(client).await.contains(&room.to_owned()));
}

#[tokio::test]
async fn a_knock_carries_a_message_for_the_admins_only() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;

    carol
        .send(
            json!({"action": "joinRoom", "subAction": "request", "roomId": room,
            "reason": "  Bob's neighbour, I grow tomatoes  "}),
        )
        .await;
    carol.expect("joinResponse").await;
    assert!(carol.expect("memberChanged").await.get("reason").is_some());
    assert_eq!(
        alice.expect("joinRequest").await,
        json!({"action": "joinRequest", "userId": "carol", "roomId": room,
            "reason": "Bob's neighbour, I grow tomatoes"})
    );
    assert_eq!(
        alice.expect("memberChanged").await["reason"],
        "Bob's neighbour, I grow tomatoes"
    );
    let seen_by_bob = bob.expect("memberChanged").await;
    assert_eq!(seen_by_bob["status"], "pending");
    assert!(seen_by_bob.get("reason").is_none(), "{seen_by_bob}");

    let to_admin = members(&mut alice, &room).await;
    assert_eq!(to_admin[2]["reason"], "Bob's neighbour, I grow tomatoes");
    let to_member = members(&mut bob, &room).await;
    assert!(to_member.iter().all(|row| row.get("reason").is_none()));

    // Too long a message is refused and nothing changes.
    let mut dave = server.user("dave").await;
    dave.send(
        json!({"action": "joinRoom", "subAction": "request", "roomId": room,
        "reason": "x".repeat(501)}),
    )
    .await;
    dave.expect_error("reason_too_long", Some("joinRoom")).await;
    alice.expect_silence().await;
}

#[tokio::test]
async fn a_withdrawn_request_cannot_be_approved() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = alice.create_room("Garden").await;
    knock(&mut bob, &mut alice, &room, None).await;

    bob.send(json!({"action": "joinRoom", "subAction": "cancel", "roomId": room}))
        .await;
    let withdrawn = json!({"action": "memberChanged", "roomId": room, "userId": "bob",
        "status": "left", "isAdmin": false});
    assert_eq!(bob.expect("memberChanged").await, withdrawn);
    assert_eq!(alice.expect("memberChanged").await, withdrawn);

    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "bob"}))
        .await;
    alice
        .expect_error("request_not_found", Some("joinRoom"))
        .await;
    bob.send(json!({"action": "joinRoom", "subAction": "cancel", "roomId": room}))
        .await;
    bob.expect_error("request_not_found", Some("joinRoom"))
        .await;
    assert_eq!(members(&mut alice, &room).await.len(), 1);
    assert!(!rooms_of(&mut bob).await.contains(&room));

    // Withdrawing is not a rejection: bob may knock again at once.
    knock(&mut bob, &mut alice, &room, None).await;
}

#[tokio::test]
async fn approve_or_reject_many_at_once_answers_each_user() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Garden").await;
    let mut knockers = Vec::new();
    for name in ["bob", "carol", "dave"] {
        let mut user = server.user(name).await;
        knock(&mut user, &mut alice, &room, None).await;
        knockers.push(user);
    }
    server.register("erin").await;

    alice
        .send(
            json!({"action": "joinRoom", "subAction": "approve", "roomId": room,
            "targetUserIds": ["bob", "erin", "Carol"]}),
        )
        .await;
    // Bob and carol are in; erin never asked: one error naming her, to the admin only.
    let mut changes = Vec::new();
    let mut refusals = Vec::new();
    for _ in 0..3 {
        let frame = alice.next().await;
        match frame["action"].as_str() {
            Some("memberChanged") => changes.push(frame["userId"].clone()),
            Some("error") => refusals.push(frame),
            _ => panic!("unexpected frame {frame}"),
        }
    }
    assert_eq!(changes, [json!("bob"), json!("carol")]);
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["code"], "request_not_found");
    assert_eq!(refusals[0]["targetUserId"], "erin");
    assert_eq!(refusals[0]["requestAction"], "joinRoom");
    for knocker in &mut knockers[..2] {
        assert_eq!(knocker.expect("joinResponse").await["status"], "approved");
        knocker.expect("memberChanged").await;
    }

    alice
        .send(
            json!({"action": "joinRoom", "subAction": "reject", "roomId": room,
            "targetUserIds": ["dave"], "reason": "we are full"}),
        )
        .await;
    assert_eq!(
        knockers[2].expect("joinResponse").await,
        json!({"action": "joinResponse", "roomId": room, "status": "rejected", "reason": "we are full"})
    );
    assert_eq!(alice.expect("memberChanged").await["reason"], "we are full");

    // Malformed target lists are refused whole.
    let too_many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    for bad in [
        json!({"targetUserIds": too_many}),
        json!({"targetUserIds": []}),
        json!({"targetUserId": "bob", "targetUserIds": ["carol"]}),
        json!({}),
    ] {
        let mut frame = json!({"action": "joinRoom", "subAction": "approve", "roomId": room});
        frame
            .as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        alice.send(frame).await;
        alice.expect_error("bad_request", Some("joinRoom")).await;
    }
}

#[tokio::test]
async fn members_leave_and_the_last_admin_stays_until_someone_takes_over() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;

    carol
        .send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    let left = json!({"action": "memberChanged", "roomId": room, "userId": "carol",
        "status": "left", "isAdmin": false});
    assert_eq!(carol.expect("memberChanged").await, left);
    assert_eq!(alice.expect("memberChanged").await, left);
    assert_eq!(bob.expect("memberChanged").await, left);
    assert_shut_out(&mut carol, &room).await;
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "bye carol"}))
        .await;
    bob.expect("message").await;
    alice.expect("message").await;
    carol.expect_silence().await;

    // The only admin cannot leave bob without one.
    alice
        .send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    alice.expect_error("last_admin", Some("leaveRoom")).await;
    carol
        .send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    carol.expect_error("not_member", Some("leaveRoom")).await;

    // Once bob is admin too, alice may go.
    alice
        .send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "admin"}))
        .await;
    let promoted = json!({"action": "memberChanged", "roomId": room, "userId": "bob",
        "status": "approved", "isAdmin": true});
    assert_eq!(alice.expect("memberChanged").await, promoted);
    assert_eq!(bob.expect("memberChanged").await, promoted);
    alice
        .send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    assert_eq!(alice.expect("memberChanged").await["status"], "left");
    assert_eq!(bob.expect("memberChanged").await["userId"], "alice");

    // Bob, alone, leaves: the room goes with him, and a pending knocker is told.
    let mut dave = server.user("dave").await;
    knock(&mut dave, &mut bob, &room, None).await;
    bob.send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    let deleted = json!({"action": "roomDeleted", "roomId": room});
    assert_eq!(bob.expect("roomDeleted").await, deleted);
    assert_eq!(dave.expect("roomDeleted").await, deleted);
    alice.expect_silence().await;
    bob.send(json!({"action": "getHistory", "roomId": room}))
        .await;
    bob.expect_error("room_not_found", Some("getHistory")).await;
}

#[tokio::test]
async fn a_removed_member_gets_the_reason_and_nothing_more() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;

    alice
        .send(json!({"action": "removeMember", "roomId": room, "targetUserId": "carol", "reason": "spam links"}))
        .await;
    let removed = json!({"action": "memberChanged", "roomId": room, "userId": "carol",
        "status": "removed", "isAdmin": false, "reason": "spam links"});
    assert_eq!(carol.expect("memberChanged").await, removed);
    assert_eq!(alice.expect("memberChanged").await, removed);
    let seen_by_bob = bob.expect("memberChanged").await;
    assert_eq!(seen_by_bob["status"], "removed");
    assert!(seen_by_bob.get("reason").is_none(), "{seen_by_bob}");

    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "after"}))
        .await;
    bob.expect("message").await;
    alice.expect("message").await;
    carol.expect_silence().await;
    assert_shut_out(&mut carol, &room).await;

    // The refusals of removal.
    bob.send(json!({"action": "removeMember", "roomId": room, "targetUserId": "alice"}))
        .await;
    bob.expect_error("not_admin", Some("removeMember")).await;
    alice
        .send(json!({"action": "removeMember", "roomId": room, "targetUserId": "carol"}))
        .await;
    alice
        .expect_error("target_not_member", Some("removeMember"))
        .await;
    alice
        .send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "admin"}))
        .await;
    alice.expect("memberChanged").await;
    bob.expect("memberChanged").await;
    bob.send(json!({"action": "removeMember", "roomId": room, "targetUserId": "alice"}))
        .await;
    bob.expect_error("target_is_admin", Some("removeMember"))
        .await;

    // Removed is not banned: carol may knock again, and both admins hear of it.
    carol
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    assert_eq!(carol.expect("joinResponse").await["status"], "pending");
    assert_eq!(alice.expect("joinRequest").await["userId"], "carol");
    assert_eq!(bob.expect("joinRequest").await["userId"], "carol");
    // When one admin decides, the other's alert is answered by the change.
    alice.expect("memberChanged").await;
    bob.expect("memberChanged").await;
    carol.expect("memberChanged").await;
    bob.send(json!({"action": "joinRoom", "subAction": "reject", "roomId": room, "targetUserId": "carol"}))
        .await;
    assert_eq!(alice.expect("memberChanged").await["status"], "rejected");
}

#[tokio::test]
async fn a_banned_user_knocks_in_vain_until_unbanned() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut mallory = server.user("mallory").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    admit(&mut alice, &mut mallory, &room, &mut [&mut bob]).await;

    alice
        .send(json!({"action": "banMember", "roomId": room, "targetUserId": "mallory", "reason": "harassment"}))
        .await;
    assert_eq!(
        mallory.expect("memberChanged").await,
        json!({"action": "memberChanged", "roomId": room, "userId": "mallory",
            "status": "banned", "isAdmin": false, "reason": "harassment"})
    );
    alice.expect("memberChanged").await;
    assert!(bob.expect("memberChanged").await.get("reason").is_none());
    assert_shut_out(&mut mallory, &room).await;

    for _ in 0..3 {
        mallory
            .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
            .await;
        mallory.expect_error("banned", Some("joinRoom")).await;
    }
    alice.expect_silence().await;

    // Admins see the ban and its reason; members do not see banned users.
    let listed = members(&mut alice, &room).await;
    let banned: Vec<&Value> = listed.iter().filter(|p| p["status"] == "banned").collect();
    assert_eq!(banned.len(), 1);
    assert_eq!(banned[0]["userId"], "mallory");
    assert_eq!(banned[0]["reason"], "harassment");
    assert!(
        members(&mut bob, &room)
            .await
            .iter()
            .all(|p| p["status"] != "banned")
    );

    // A stranger may be banned before knocking; nobody who does not exist can be.
    server.register("trent").await;
    alice
        .send(json!({"action": "banMember", "roomId": room, "targetUserId": "trent"}))
        .await;
    assert_eq!(alice.expect("memberChanged").await["userId"], "trent");
    // Members do not see banned users: a ban ahead of a knock is not theirs to hear.
    bob.expect_silence().await;
    alice
        .send(json!({"action": "banMember", "roomId": room, "targetUserId": "nobody-here"}))
        .await;
    alice
        .expect_error("user_not_found", Some("banMember"))
        .await;
    alice
        .send(json!({"action": "banMember", "roomId": room, "targetUserId": "alice"}))
        .await;
    alice
        .expect_error("target_is_admin", Some("banMember"))
        .await;
    bob.send(json!({"action": "banMember", "roomId": room, "targetUserId": "trent"}))
        .await;
    bob.expect_error("not_admin", Some("banMember")).await;

    // Unbanned: told to the admins and the user only; then the knock reaches the admin.
    alice
        .send(json!({"action": "unbanMember", "roomId": room, "targetUserId": "mallory"}))
        .await;
    let unbanned = json!({"action": "memberChanged", "roomId": room, "userId": "mallory",
        "status": "left", "isAdmin": false});
    assert_eq!(alice.expect("memberChanged").await, unbanned);
    assert_eq!(mallory.expect("memberChanged").await, unbanned);
    bob.expect_silence().await;
    alice
        .send(json!({"action": "unbanMember", "roomId": room, "targetUserId": "mallory"}))
        .await;
    alice
        .expect_error("target_not_member", Some("unbanMember"))
        .await;
    knock(&mut mallory, &mut alice, &room, Some("sorry")).await;
}

#[tokio::test]
async fn roles_change_but_a_room_always_keeps_an_admin() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;

    alice
        .send(
            json!({"action": "setRole", "roomId": room, "targetUserId": "alice", "role": "member"}),
        )
        .await;
    alice.expect_error("last_admin", Some("setRole")).await;
    bob.send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "admin"}))
        .await;
    bob.expect_error("not_admin", Some("setRole")).await;
    knock(&mut carol, &mut alice, &room, None).await;
    bob.expect("memberChanged").await;
    alice
        .send(
            json!({"action": "setRole", "roomId": room, "targetUserId": "carol", "role": "admin"}),
        )
        .await;
    alice
        .expect_error("target_not_member", Some("setRole"))
        .await;
    alice
        .send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "owner"}))
        .await;
    alice.expect_error("bad_request", Some("setRole")).await;

    // Bob becomes admin and decides a request; alice then steps down.
    alice
        .send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "admin"}))
        .await;
    assert_eq!(bob.expect("memberChanged").await["isAdmin"], true);
    alice.expect("memberChanged").await;
    bob.send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "carol"}))
        .await;
    assert_eq!(carol.expect("joinResponse").await["status"], "approved");
    carol.expect("memberChanged").await;
    alice.expect("memberChanged").await;
    bob.expect("memberChanged").await;
    alice
        .send(
            json!({"action": "setRole", "roomId": room, "targetUserId": "alice", "role": "member"}),
        )
        .await;
    let stepped_down = json!({"action": "memberChanged", "roomId": room, "userId": "alice",
        "status": "approved", "isAdmin": false});
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.expect("memberChanged").await, stepped_down);
    }
    alice
        .send(json!({"action": "removeMember", "roomId": room, "targetUserId": "carol"}))
        .await;
    alice.expect_error("not_admin", Some("removeMember")).await;
    bob.send(json!({"action": "setRole", "roomId": room, "targetUserId": "bob", "role": "member"}))
        .await;
    bob.expect_error("last_admin", Some("setRole")).await;
}

#[tokio::test]
async fn a_deleted_room_is_gone_for_everyone() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Garden").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "hello"}))
        .await;
    bob.expect("message").await;
    alice.expect("message").await;
    knock(&mut carol, &mut alice, &room, None).await;
    bob.expect("memberChanged").await;

    bob.send(json!({"action": "deleteRoom", "roomId": room}))
        .await;
    bob.expect_error("not_admin", Some("deleteRoom")).await;

    alice
        .send(json!({"action": "deleteRoom", "roomId": room}))
        .await;
    let deleted = json!({"action": "roomDeleted", "roomId": room});
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.expect("roomDeleted").await, deleted);
    }
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "anyone?"}))
        .await;
    bob.expect_error("room_not_found", Some("sendMessage"))
        .await;
    for client in [&mut alice, &mut bob, &mut carol] {
        assert!(!rooms_of(client).await.contains(&room));
    }
    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    alice
        .expect_error("room_not_found", Some("getHistory"))
        .await;
    alice
        .send(json!({"action": "deleteRoom", "roomId": room}))
        .await;
    alice
        .expect_error("room_not_found", Some("deleteRoom"))
        .await;
    let response = reqwest::get(server.url(&format!("/api/rooms/{room}")))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
