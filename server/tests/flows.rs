//! The seed's five data flows and every row of the protocol table, over real sockets.

mod common;

use common::{Client, Ended, TestServer, room_with_member};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn seed_flows_create_request_approve_chat_members() {
    let server = TestServer::start().await;
    // Flow 1: users connect (and, in Knock, authenticate).
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    assert_eq!(alice.user_id, "alice");

    // Flow 2: room creation.
    alice
        .send(json!({"action": "createRoom", "roomName": "General Chat"}))
        .await;
    let created = alice.expect("roomCreated").await;
    assert_eq!(created["roomName"], "General Chat");
    let room = created["roomId"].as_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&room).is_ok(),
        "room ids are UUIDs: {room}"
    );

    // Flow 3: join request; the admin sees it live.
    bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    let pending = bob.expect("joinResponse").await;
    assert_eq!(
        pending,
        json!({"action": "joinResponse", "roomId": room, "status": "pending"})
    );
    let change = bob.expect("memberChanged").await;
    assert_eq!(
        change,
        json!({"action": "memberChanged", "roomId": room, "userId": "bob", "status": "pending", "isAdmin": false})
    );
    let request = alice.expect("joinRequest").await;
    assert_eq!(
        request,
        json!({"action": "joinRequest", "userId": "bob", "roomId": room})
    );
    assert_eq!(alice.expect("memberChanged").await, change);

    // The admin sees the pending request in the member list.
    alice
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    let members = alice.expect("roomMembers").await;
    assert_eq!(
        members,
        json!({"action": "roomMembers", "roomId": room, "roomName": "General Chat", "participants": [
            {"userId": "alice", "status": "approved", "isAdmin": true, "online": true},
            {"userId": "bob", "status": "pending", "isAdmin": false},
        ]})
    );

    // Flow 4: approval, in the seed's shape without roomId (the admin's current room).
    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "targetUserId": "bob"}))
        .await;
    assert_eq!(
        bob.expect("joinResponse").await,
        json!({"action": "joinResponse", "roomId": room, "status": "approved"})
    );
    let approved = json!({"action": "memberChanged", "roomId": room, "userId": "bob", "status": "approved", "isAdmin": false});
    assert_eq!(bob.expect("memberChanged").await, approved);
    assert_eq!(alice.expect("memberChanged").await, approved);

    // Flow 5: the seed's sendMessage without roomId uses bob's current room.
    bob.send(json!({"action": "sendMessage", "message": "Hello everyone!"}))
        .await;
    for client in [&mut bob, &mut alice] {
        let message = client.expect("message").await;
        assert_eq!(message["userId"], "bob");
        assert_eq!(message["message"], "Hello everyone!");
        assert_eq!(message["roomId"], room.as_str());
        assert_eq!(message["seq"], 1);
        assert!(message["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
        assert!(
            message["messageId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "Hi Bob"}))
        .await;
    assert_eq!(bob.expect("message").await["seq"], 2);
    assert_eq!(alice.expect("message").await["message"], "Hi Bob");

    // Approved members list members too.
    bob.send(json!({"action": "getMembers", "roomId": room}))
        .await;
    let members = bob.expect("roomMembers").await;
    assert_eq!(members["participants"][1]["status"], "approved");
}

#[tokio::test]
async fn reject_then_ask_again() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Book club").await;

    carol
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    carol.expect("joinResponse").await;
    carol.expect("memberChanged").await;
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;

    alice
        .send(json!({"action": "joinRoom", "subAction": "reject", "roomId": room, "targetUserId": "carol"}))
        .await;
    assert_eq!(
        carol.expect("joinResponse").await,
        json!({"action": "joinResponse", "roomId": room, "status": "rejected"})
    );
    assert_eq!(carol.expect("memberChanged").await["status"], "rejected");
    assert_eq!(alice.expect("memberChanged").await["status"], "rejected");

    // Rejected users neither send nor read.
    carol
        .send(json!({"action": "sendMessage", "roomId": room, "message": "let me in"}))
        .await;
    carol.expect_error("not_member", Some("sendMessage")).await;
    alice.expect_silence().await;

    // The rejected list entry is not shown as a member.
    alice
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    let members = alice.expect("roomMembers").await;
    assert_eq!(members["participants"].as_array().unwrap().len(), 1);

    // Asking again at once is refused with the time left, and no admin is alerted.
    carol
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    let refused = carol.expect_error("knock_cooldown", Some("joinRoom")).await;
    assert_eq!(refused["retryAfterSecs"], 600, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("10 minutes"),
        "{refused}"
    );
    alice.expect_silence().await;
}

#[tokio::test]
async fn a_rejected_user_may_ask_again_after_the_cooldown() {
    let server = TestServer::start_with(&["--knock-cooldown-secs", "1"]).await;
    let mut alice = server.user("alice").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Book club").await;
    carol
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    carol.expect("joinResponse").await;
    carol.expect("memberChanged").await;
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    alice
        .send(json!({"action": "joinRoom", "subAction": "reject", "roomId": room, "targetUserId": "carol", "reason": "  not today  "}))
        .await;
    assert_eq!(
        carol.expect("joinResponse").await,
        json!({"action": "joinResponse", "roomId": room, "status": "rejected", "reason": "not today"})
    );
    carol.expect("memberChanged").await;
    alice.expect("memberChanged").await;

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    carol
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room, "reason": "please?"}))
        .await;
    assert_eq!(carol.expect("joinResponse").await["status"], "pending");
    assert_eq!(
        alice.expect("joinRequest").await,
        json!({"action": "joinRequest", "userId": "carol", "roomId": room, "reason": "please?"})
    );
}

#[tokio::test]
async fn asking_twice_answers_the_current_status_and_notifies_nobody() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;

    bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    assert_eq!(
        bob.expect("joinResponse").await,
        json!({"action": "joinResponse", "roomId": room, "status": "approved"})
    );
    alice.expect_silence().await;

    // Approving an approved member changes nothing either.
    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "bob"}))
        .await;
    alice.expect_silence().await;
    bob.expect_silence().await;
}

#[tokio::test]
async fn a_user_with_two_sockets_gets_everything_on_both() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob_laptop = server.user("bob").await;
    let mut bob_phone = server.socket(&bob_laptop.token).await;
    let room = alice.create_room("Two devices").await;

    bob_laptop
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    for bob in [&mut bob_laptop, &mut bob_phone] {
        assert_eq!(bob.expect("joinResponse").await["status"], "pending");
        assert_eq!(bob.expect("memberChanged").await["status"], "pending");
    }
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "bob"}))
        .await;
    for bob in [&mut bob_laptop, &mut bob_phone] {
        assert_eq!(bob.expect("joinResponse").await["status"], "approved");
        bob.expect("memberChanged").await;
    }
    alice.expect("memberChanged").await;

    bob_phone
        .send(json!({"action": "sendMessage", "roomId": room, "message": "from my phone"}))
        .await;
    for client in [&mut bob_laptop, &mut bob_phone, &mut alice] {
        let message = client.expect("message").await;
        assert_eq!(message["message"], "from my phone");
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn outsiders_see_nothing_of_a_room() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut eve = server.user("eve").await;
    let room = room_with_member(&mut alice, &mut bob).await;

    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "secret"}))
        .await;
    alice.expect("message").await;
    bob.expect("message").await;
    eve.expect_silence().await;

    for frame in [
        json!({"action": "getMembers", "roomId": room}),
        json!({"action": "getHistory", "roomId": room}),
        json!({"action": "sendMessage", "roomId": room, "message": "hi"}),
        json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 0}]}),
    ] {
        let action = frame["action"].as_str().unwrap().to_owned();
        eve.send(frame).await;
        eve.expect_error("not_member", Some(&action)).await;
    }
    for frame in [
        json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "eve"}),
        json!({"action": "joinRoom", "subAction": "reject", "roomId": room, "targetUserId": "bob"}),
    ] {
        eve.send(frame).await;
        eve.expect_error("not_admin", Some("joinRoom")).await;
    }
    // A member who is not the admin cannot decide either.
    bob.send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "eve"}))
        .await;
    bob.expect_error("not_admin", Some("joinRoom")).await;

    eve.send(json!({"action": "myRooms"})).await;
    assert_eq!(eve.expect("rooms").await["rooms"], json!([]));
    alice.expect_silence().await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one case per error code, in one conversation
async fn every_error_code_of_the_socket() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;

    // no_room: the seed's sendMessage before any room.
    alice
        .send(json!({"action": "sendMessage", "message": "anyone?"}))
        .await;
    alice.expect_error("no_room", Some("sendMessage")).await;
    alice.send(json!({"action": "getMembers"})).await;
    alice.expect_error("no_room", Some("getMembers")).await;

    // bad_request: not JSON, no action, missing or mistyped fields.
    alice.send_text("hello?").await;
    alice.expect_error("bad_request", None).await;
    alice.send(json!({"roomName": "x"})).await;
    alice.expect_error("bad_request", None).await;
    alice.send(json!({"action": "createRoom"})).await;
    alice.expect_error("bad_request", Some("createRoom")).await;
    alice
        .send(json!({"action": "sendMessage", "message": 42}))
        .await;
    alice.expect_error("bad_request", Some("sendMessage")).await;
    alice
        .send(json!({"action": "joinRoom", "subAction": "kick", "roomId": "x"}))
        .await;
    alice.expect_error("bad_request", Some("joinRoom")).await;
    alice
        .send(json!({"action": "authenticate", "token": alice.token.clone()}))
        .await;
    alice
        .expect_error("bad_request", Some("authenticate"))
        .await;
    alice.send_raw(Message::binary(vec![1, 2, 3])).await;
    alice.expect_error("bad_request", None).await;

    // unknown_action: the seed's $default.
    alice.send(json!({"action": "dance"})).await;
    alice.expect_error("unknown_action", None).await;

    // invalid_query: nothing to search for, or too long (search.rs has more).
    alice.send(json!({"action": "search", "query": "?!"})).await;
    alice.expect_error("invalid_query", Some("search")).await;

    // invalid_room_name.
    alice
        .send(json!({"action": "createRoom", "roomName": "   "}))
        .await;
    alice
        .expect_error("invalid_room_name", Some("createRoom"))
        .await;
    alice
        .send(json!({"action": "createRoom", "roomName": "x".repeat(101)}))
        .await;
    alice
        .expect_error("invalid_room_name", Some("createRoom"))
        .await;
    // Only zero-width and filler characters: a name nobody could see.
    alice
        .send(json!({"action": "createRoom", "roomName": "\u{200B}\u{3164}\u{2800}"}))
        .await;
    alice
        .expect_error("invalid_room_name", Some("createRoom"))
        .await;

    // room_not_found: not a UUID, and a UUID nobody made.
    for room in ["uuid-here", "6f1c1a8e-0d7b-4c55-9f0b-1d2f3a4b5c6d"] {
        bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
            .await;
        bob.expect_error("room_not_found", Some("joinRoom")).await;
        bob.send(json!({"action": "getMembers", "roomId": room}))
            .await;
        bob.expect_error("room_not_found", Some("getMembers")).await;
    }

    let room = alice.create_room("Errors").await;
    // message_too_long and empty_message.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "a".repeat(4_001)}))
        .await;
    alice
        .expect_error("message_too_long", Some("sendMessage"))
        .await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "  \n "}))
        .await;
    alice
        .expect_error("empty_message", Some("sendMessage"))
        .await;
    // NUL cannot be stored by every database: refused, not half-stored.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "a\u{0}b"}))
        .await;
    alice.expect_error("bad_request", Some("sendMessage")).await;
    // Exactly 4,000 characters (multi-byte ones) is fine.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "é".repeat(4_000)}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 1);

    // request_not_found: deciding on someone who never asked.
    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "bob"}))
        .await;
    alice
        .expect_error("request_not_found", Some("joinRoom"))
        .await;

    // not_member for a pending user.
    bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    bob.expect("joinResponse").await;
    bob.expect("memberChanged").await;
    bob.send(json!({"action": "sendMessage", "message": "early"}))
        .await;
    bob.expect_error("not_member", Some("sendMessage")).await;

    // After all these refusals the socket still works.
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    alice.send(json!({"action": "myRooms"})).await;
    let rooms = alice.expect("rooms").await;
    assert_eq!(rooms["rooms"][0]["roomId"], room.as_str());
    // And it answers a client's ping (browsers cannot see WebSocket pings).
    alice.send(json!({"action": "ping"})).await;
    assert_eq!(alice.expect("pong").await, json!({"action": "pong"}));
}

#[tokio::test]
async fn unauthenticated_sockets_are_refused() {
    let server = TestServer::start().await;
    // Any frame before authenticate.
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send(json!({"action": "createRoom", "roomName": "x"}))
        .await;
    client
        .expect_error("unauthenticated", Some("createRoom"))
        .await;
    assert_eq!(client.expect_end().await, Ended::Closed(Some(4401)));

    // A wrong token.
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send(json!({"action": "authenticate", "token": "forged"}))
        .await;
    client
        .expect_error("unauthenticated", Some("authenticate"))
        .await;
    assert_eq!(client.expect_end().await, Ended::Closed(Some(4401)));

    // Garbage.
    let mut client = Client::connect(&server.ws_url()).await;
    client.send_text("{").await;
    client.expect_error("unauthenticated", None).await;
    assert_eq!(client.expect_end().await, Ended::Closed(Some(4401)));
}

#[tokio::test]
async fn sockets_that_never_authenticate_are_closed() {
    let server = TestServer::start_with(&["--auth-timeout-secs", "1"]).await;
    let mut client = Client::connect(&server.ws_url()).await;
    client.expect_error("unauthenticated", None).await;
    assert_eq!(client.expect_end().await, Ended::Closed(Some(4408)));
}

#[tokio::test]
async fn oversized_frames_close_the_socket_with_1009() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Big").await;
    // Just under the limit is an ordinary (too long) message...
    let near = json!({"action": "sendMessage", "roomId": room, "message": "a".repeat(60_000)});
    alice.send(near).await;
    alice
        .expect_error("message_too_long", Some("sendMessage"))
        .await;
    // ...over it closes the socket.
    let over = json!({"action": "sendMessage", "roomId": room, "message": "a".repeat(70_000)});
    alice.send(over).await;
    assert_eq!(alice.expect_end().await, Ended::Closed(Some(1009)));
}

#[tokio::test]
async fn logout_revokes_the_token_and_closes_its_sockets() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut alice_tab = server.socket(&alice.token).await;
    let other_session = {
        let response = reqwest::Client::new()
            .post(server.url("/api/login"))
            .json(&json!({"username": "alice", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    };
    let mut alice_phone = server.socket(&other_session).await;

    let response = reqwest::Client::new()
        .post(server.url("/api/logout"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(alice.expect_end().await, Ended::Closed(Some(4401)));
    assert_eq!(alice_tab.expect_end().await, Ended::Closed(Some(4401)));

    // The other session is untouched.
    alice_phone.send(json!({"action": "myRooms"})).await;
    alice_phone.expect("rooms").await;

    // The revoked token opens nothing any more.
    let mut again = Client::connect(&server.ws_url()).await;
    again
        .send(json!({"action": "authenticate", "token": alice.token.clone()}))
        .await;
    again
        .expect_error("unauthenticated", Some("authenticate"))
        .await;
    let response = reqwest::Client::new()
        .post(server.url("/api/logout"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn internal_failures_answer_internal_without_details() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Doomed").await;
    // Break the database under the running server: its next message insert fails.
    let url = format!("sqlite:{}", server.db_dir().join("knock.db").display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql("DROP TABLE messages")
        .execute(&mut db)
        .await
        .unwrap();
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "hello?"}))
        .await;
    let error = alice.expect_error("internal", Some("sendMessage")).await;
    let text = error["message"].as_str().unwrap();
    assert!(
        !text.contains("messages") && !text.contains("table"),
        "{text}"
    );
    // The socket stays usable for what still works.
    alice
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    alice.expect("roomMembers").await;
}
