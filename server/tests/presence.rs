//! Typing and presence over real sockets on one node (`cluster.rs` has them across
//! nodes): who sees whom online, in the member list and as pushed changes, and who is
//! told that someone types.

mod common;

use common::{Client, TestServer, admit, room_with_member};
use serde_json::{Value, json};

/// The next `presence` frame, as `(online, offline)`.
async fn presence(client: &mut Client, room: &str) -> (Vec<String>, Vec<String>) {
    let frame = client.expect("presence").await;
    assert_eq!(frame["roomId"], room, "{frame}");
    let users = |key: &str| -> Vec<String> {
        frame[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {frame}"))
            .iter()
            .map(|user| user.as_str().unwrap().to_owned())
            .collect()
    };
    (users("online"), users("offline"))
}

/// The room's member list as `client` gets it: `(userId, online)` per row.
async fn listed(client: &mut Client, room: &str) -> Vec<(String, bool)> {
    client
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    let members = client.expect("roomMembers").await;
    members["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row: &Value| {
            (
                row["userId"].as_str().unwrap().to_owned(),
                row.get("online") == Some(&json!(true)),
            )
        })
        .collect()
}

fn owned(users: &[&str]) -> Vec<String> {
    users.iter().map(|user| (*user).to_owned()).collect()
}

#[tokio::test]
async fn members_see_a_member_come_online_and_go_offline() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    alice.sees_presence = true;
    assert_eq!(
        listed(&mut alice, &room).await,
        [("alice".to_owned(), true), ("bob".to_owned(), true)]
    );

    // Bob's only socket closes: he is offline.
    let token = bob.token.clone();
    drop(bob);
    assert_eq!(presence(&mut alice, &room).await, (vec![], owned(&["bob"])));
    assert_eq!(
        listed(&mut alice, &room).await,
        [("alice".to_owned(), true), ("bob".to_owned(), false)]
    );

    // He opens a socket again: online.
    let _bob = server.socket(&token).await;
    assert_eq!(presence(&mut alice, &room).await, (owned(&["bob"]), vec![]));
    assert_eq!(
        listed(&mut alice, &room).await,
        [("alice".to_owned(), true), ("bob".to_owned(), true)]
    );
}

#[tokio::test]
async fn a_user_with_another_socket_open_stays_online() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;
    let bob_phone = server.socket(&bob.token).await;
    alice.sees_presence = true;

    // Bob's laptop closes (his phone stays), then Carol's only socket: the next change
    // Alice hears of is Carol's alone, so Bob's was none.
    drop(bob);
    drop(carol);
    assert_eq!(
        presence(&mut alice, &room).await,
        (vec![], owned(&["carol"]))
    );
    assert_eq!(
        listed(&mut alice, &room).await,
        [
            ("alice".to_owned(), true),
            ("bob".to_owned(), true),
            ("carol".to_owned(), false)
        ]
    );
    drop(bob_phone);
    assert_eq!(presence(&mut alice, &room).await, (vec![], owned(&["bob"])));
}

#[tokio::test]
async fn requesters_are_not_listed_online_nor_told_of_presence() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut carol = server.user("carol").await;
    let room = room_with_member(&mut alice, &mut carol).await;
    let mut bob = server.user("bob").await;
    bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    bob.expect("joinResponse").await;
    bob.expect("memberChanged").await;
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    carol.expect("memberChanged").await;
    alice.sees_presence = true;
    // Alice sees the request, not whether its author is online.
    assert_eq!(
        listed(&mut alice, &room).await,
        [
            ("alice".to_owned(), true),
            ("carol".to_owned(), true),
            ("bob".to_owned(), false)
        ]
    );
    // Bob goes, then Carol: Alice hears of Carol alone; Bob, back, hears nothing of her.
    let token = bob.token.clone();
    drop(bob);
    drop(carol);
    assert_eq!(
        presence(&mut alice, &room).await,
        (vec![], owned(&["carol"]))
    );
    let mut bob = server.socket(&token).await;
    bob.sees_presence = true;
    let _carol = server.socket(&server.register("dave").await).await;
    bob.expect_silence().await;
}

#[tokio::test]
async fn typing_reaches_the_other_members_once_per_throttle() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let mut bob_phone = server.socket(&bob.token).await;

    // Twice at once: the second is dropped silently (the message that follows comes
    // next), nothing goes to Bob's own sockets and nothing back to him.
    for _ in 0..2 {
        bob.send(json!({"action": "typing", "roomId": room})).await;
    }
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "hi"}))
        .await;
    let typing = alice.expect("typing").await;
    assert_eq!(
        typing,
        json!({"action": "typing", "roomId": room, "userId": "bob"})
    );
    assert_eq!(alice.expect("message").await["message"], "hi");
    for socket in [&mut bob, &mut bob_phone] {
        assert_eq!(socket.expect("message").await["message"], "hi");
        socket.expect_silence().await;
    }

    // Alice types in the same room: her own throttle, Bob's sockets both hear it.
    alice
        .send(json!({"action": "typing", "roomId": room}))
        .await;
    for socket in [&mut bob, &mut bob_phone] {
        assert_eq!(socket.expect("typing").await["userId"], "alice");
    }
    alice.expect_silence().await;
}

#[tokio::test]
async fn typing_needs_an_approved_membership() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut mallory = server.user("mallory").await;
    let room = alice.create_room("Members only").await;

    mallory
        .send(json!({"action": "typing", "roomId": room}))
        .await;
    mallory.expect_error("not_member", Some("typing")).await;
    mallory
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    mallory.expect("joinResponse").await;
    mallory.expect("memberChanged").await;
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    mallory
        .send(json!({"action": "typing", "roomId": room}))
        .await;
    mallory.expect_error("not_member", Some("typing")).await;
    let unknown = "6f1c1a8e-0d7b-4c55-9f0b-1d2f3a4b5c6d";
    mallory
        .send(json!({"action": "typing", "roomId": unknown}))
        .await;
    mallory.expect_error("room_not_found", Some("typing")).await;
    mallory.send(json!({"action": "typing"})).await;
    mallory.expect_error("bad_request", Some("typing")).await;
    alice.expect_silence().await;
}
