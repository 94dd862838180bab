//! Read state and mentions (issue 18) over real sockets: `markRead` and `readMarker` on a
//! user's sockets, the counts `myRooms` gives after a reload, `mentions` on messages.
//! Across nodes: `cluster.rs`.

mod common;

use common::{Client, TestServer, admit, room_with_member};
use serde_json::{Value, json};

async fn say(from: &mut Client, room: &str, text: &str) {
    from.send(json!({"action": "sendMessage", "roomId": room, "message": text}))
        .await;
}

async fn mark_read(client: &mut Client, room: &str, seq: u64) {
    client
        .send(json!({"action": "markRead", "roomId": room, "seq": seq}))
        .await;
}

/// `user` asks to join `room`; the frames that go to the user and to `admin_then_members`
/// (the admin first) are drained.
async fn knock(user: &mut Client, room: &str, admin_then_members: &mut [&mut Client]) {
    user.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    user.expect("joinResponse").await;
    user.expect("memberChanged").await;
    for (n, client) in admin_then_members.iter_mut().enumerate() {
        if n == 0 {
            client.expect("joinRequest").await;
        }
        client.expect("memberChanged").await;
    }
}

/// The client's row of `room` in a fresh `myRooms`.
async fn my_row(client: &mut Client, room: &str) -> Value {
    client.send(json!({"action": "myRooms"})).await;
    let rooms = client.expect("rooms").await;
    rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["roomId"] == room)
        .unwrap_or_else(|| panic!("no row of {room} in {rooms}"))
        .clone()
}

#[tokio::test]
async fn marking_read_on_one_socket_moves_the_marker_on_every_socket_of_the_user() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let mut alice_phone = server.socket(&alice.token).await;
    for text in ["one", "two", "three"] {
        say(&mut bob, &room, text).await;
    }
    for client in [&mut alice, &mut alice_phone, &mut bob] {
        for _ in 0..3 {
            client.expect("message").await;
        }
    }

    mark_read(&mut alice, &room, 2).await;
    // The acting socket hears it too: that is its acknowledgement.
    for socket in [&mut alice, &mut alice_phone] {
        let marker = socket.expect("readMarker").await;
        assert_eq!(
            marker,
            json!({"action": "readMarker", "roomId": room, "seq": 2})
        );
    }
    bob.expect_silence().await;

    // Backwards (or to where it is): nothing changes, nothing is sent.
    mark_read(&mut alice_phone, &room, 1).await;
    mark_read(&mut alice_phone, &room, 2).await;
    alice.expect_silence().await;
    alice_phone.expect_silence().await;

    // Beyond the newest message: the newest message.
    mark_read(&mut alice_phone, &room, 1_000).await;
    for socket in [&mut alice, &mut alice_phone] {
        assert_eq!(socket.expect("readMarker").await["seq"], 3);
    }
    assert_eq!(my_row(&mut alice, &room).await["readSeq"], 3);
}

#[tokio::test]
async fn my_rooms_after_a_reload_counts_unread_mentions_and_requests() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    say(&mut bob, &room, "hello").await;
    say(&mut bob, &room, "@alice look").await;
    for client in [&mut alice, &mut bob] {
        for _ in 0..2 {
            client.expect("message").await;
        }
    }
    say(&mut alice, &room, "mine").await;
    for client in [&mut alice, &mut bob] {
        client.expect("message").await;
    }
    knock(&mut carol, &room, &mut [&mut alice, &mut bob]).await;

    // A reload: a new socket of the same session.
    let mut alice_again = server.socket(&alice.token).await;
    let row = my_row(&mut alice_again, &room).await;
    assert_eq!(
        (
            &row["lastSeq"],
            &row["readSeq"],
            &row["unreadCount"],
            &row["mentionCount"],
            &row["pendingCount"]
        ),
        (&json!(3), &json!(0), &json!(2), &json!(1), &json!(1)),
        "{row}"
    );
    // Bob's own messages are not unread to him, and requests are for admins.
    let row = my_row(&mut bob, &room).await;
    assert_eq!(
        (&row["unreadCount"], &row["mentionCount"]),
        (&json!(1), &json!(0))
    );
    assert!(row.get("pendingCount").is_none(), "{row}");
    // A pending user sees no counts of the room.
    let row = my_row(&mut carol, &room).await;
    assert_eq!(
        (&row["status"], &row["unreadCount"], &row["lastSeq"]),
        (&json!("pending"), &json!(0), &json!(0))
    );

    mark_read(&mut alice_again, &room, 2).await;
    alice_again.expect("readMarker").await;
    let mut alice_later = server.socket(&alice.token).await;
    let row = my_row(&mut alice_later, &room).await;
    assert_eq!(
        (&row["readSeq"], &row["unreadCount"], &row["mentionCount"]),
        (&json!(2), &json!(0), &json!(0)),
        "{row}"
    );
}

#[tokio::test]
async fn a_member_let_in_finds_the_past_read_and_counts_what_follows() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = alice.create_room("Long lived").await;
    for n in 0..5 {
        say(&mut alice, &room, &format!("before {n}")).await;
        alice.expect("message").await;
    }
    admit(&mut alice, &mut bob, &room, &mut []).await;
    let row = my_row(&mut bob, &room).await;
    assert_eq!(
        (&row["readSeq"], &row["unreadCount"]),
        (&json!(5), &json!(0))
    );
    say(&mut alice, &room, "after, @bob").await;
    alice.expect("message").await;
    bob.expect("message").await;
    let row = my_row(&mut bob, &room).await;
    assert_eq!(
        (&row["readSeq"], &row["unreadCount"], &row["mentionCount"]),
        (&json!(5), &json!(1), &json!(1))
    );
}

#[tokio::test]
async fn mentions_of_members_travel_with_the_message_and_its_history() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    knock(&mut carol, &room, &mut [&mut alice, &mut bob]).await;

    // Carol only asked to join, nobody is not a user, an address is no mention.
    say(
        &mut bob,
        &room,
        "@Alice, @carol and @nobody: mail bob@alice or ask @bob (@alice again)",
    )
    .await;
    say(&mut bob, &room, "no one named").await;
    for client in [&mut alice, &mut bob] {
        let named = client.expect("message").await;
        assert_eq!(named["mentions"], json!(["alice", "bob"]), "{named}");
        let plain = client.expect("message").await;
        assert!(plain.get("mentions").is_none(), "{plain}");
    }
    carol.expect_silence().await;

    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    let history = alice.expect("history").await;
    assert_eq!(history["messages"][0]["mentions"], json!(["alice", "bob"]));
    assert!(history["messages"][1].get("mentions").is_none());
    // A device that was away catches up with them too.
    let mut alice_away = server.socket(&alice.token).await;
    alice_away
        .send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 0}]}))
        .await;
    assert_eq!(
        alice_away.expect("message").await["mentions"],
        json!(["alice", "bob"])
    );
    assert!(alice_away.expect("message").await.get("mentions").is_none());
    // Bob's mention of himself is on the message, but not counted for him.
    let row = my_row(&mut bob, &room).await;
    assert_eq!(
        (&row["unreadCount"], &row["mentionCount"]),
        (&json!(0), &json!(0))
    );
    let row = my_row(&mut alice, &room).await;
    assert_eq!(
        (&row["unreadCount"], &row["mentionCount"]),
        (&json!(2), &json!(1))
    );
}

#[tokio::test]
async fn mark_read_is_for_approved_members_of_existing_rooms() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut eve = server.user("eve").await;
    let room = alice.create_room("Private").await;
    mark_read(&mut eve, &room, 1).await;
    eve.expect_error("not_member", Some("markRead")).await;
    mark_read(&mut eve, "00000000-0000-4000-8000-000000000000", 1).await;
    eve.expect_error("room_not_found", Some("markRead")).await;
    eve.send(json!({"action": "markRead", "roomId": room, "seq": -1}))
        .await;
    eve.expect_error("bad_request", Some("markRead")).await;
    eve.send(json!({"action": "markRead", "roomId": room}))
        .await;
    eve.expect_error("bad_request", Some("markRead")).await;
    // The admin of an empty room: nothing to mark.
    mark_read(&mut alice, &room, 5).await;
    alice.expect_silence().await;
    assert_eq!(my_row(&mut alice, &room).await["readSeq"], 0);
}
