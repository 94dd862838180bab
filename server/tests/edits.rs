//! Editing and deleting messages, and replies, over real sockets: live to every member,
//! in history as they read now, and caught up by `resume` in order, once.

mod common;

use common::{Client, TestServer, admit, room_with_member};
use serde_json::{Value, json};

async fn say(from: &mut Client, room: &str, text: &str) {
    from.send(json!({"action": "sendMessage", "roomId": room, "message": text}))
        .await;
}

/// Each client's next frame, which must be this `message`; its `messageId`.
async fn both_get_message(clients: &mut [&mut Client], seq: u64, text: &str) -> String {
    let mut id = String::new();
    for client in clients.iter_mut() {
        let frame = client.expect("message").await;
        assert_eq!(
            (&frame["seq"], &frame["message"]),
            (&json!(seq), &json!(text))
        );
        frame["messageId"].as_str().unwrap().clone_into(&mut id);
    }
    id
}

async fn edit(from: &mut Client, room: &str, message_id: &str, text: &str) {
    from.send(
        json!({"action": "editMessage", "roomId": room, "messageId": message_id, "message": text}),
    )
    .await;
}

async fn delete(from: &mut Client, room: &str, message_id: &str) {
    from.send(json!({"action": "deleteMessage", "roomId": room, "messageId": message_id}))
        .await;
}

async fn history(client: &mut Client, room: &str) -> Vec<Value> {
    client
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    client.expect("history").await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn two_members_see_an_edit_and_a_delete_live() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;

    say(&mut alice, &room, "helo").await;
    let typo = both_get_message(&mut [&mut alice, &mut bob], 1, "helo").await;
    edit(&mut alice, &room, &typo, "hello").await;
    for client in [&mut alice, &mut bob] {
        let edited = client.expect("messageEdited").await;
        assert!(
            edited["editedAt"].as_i64().is_some_and(|at| at > 0),
            "{edited}"
        );
        assert_eq!(
            edited,
            json!({"action": "messageEdited", "roomId": room, "messageId": typo,
                   "message": "hello", "editedAt": edited["editedAt"], "seq": 2})
        );
    }
    say(&mut bob, &room, "hi").await;
    both_get_message(&mut [&mut alice, &mut bob], 3, "hi").await;
    delete(&mut alice, &room, &typo).await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.expect("messageDeleted").await,
            json!({"action": "messageDeleted", "roomId": room, "messageId": typo, "seq": 4})
        );
    }

    // History: the tombstone keeps its place and none of its text; seqs skip the changes.
    let page = history(&mut bob, &room).await;
    assert_eq!(page.len(), 2);
    assert_eq!(
        page[0],
        json!({"roomId": room, "userId": "alice", "message": "", "timestamp": page[0]["timestamp"],
               "seq": 1, "messageId": typo, "editedAt": page[0]["editedAt"], "deleted": true})
    );
    assert!(!page[0].to_string().contains("hel"), "{}", page[0]);
    assert_eq!(
        (&page[1]["seq"], &page[1]["message"]),
        (&json!(3), &json!("hi"))
    );
    assert!(page[1].get("deleted").is_none() && page[1].get("editedAt").is_none());
    bob.send(json!({"action": "myRooms"})).await;
    assert_eq!(bob.expect("rooms").await["rooms"][0]["lastSeq"], 4);

    // Refusals change nothing; an edit to the same text changes nothing and says nothing.
    let hi = page[1]["messageId"].as_str().unwrap().to_owned();
    edit(&mut bob, &room, &hi, " ").await;
    bob.expect_error("empty_message", Some("editMessage")).await;
    edit(&mut bob, &room, &hi, &"x".repeat(4_001)).await;
    bob.expect_error("message_too_long", Some("editMessage"))
        .await;
    edit(&mut bob, &room, &hi, "hi").await;
    bob.expect_silence().await;
    alice.expect_silence().await;
    say(&mut bob, &room, "next").await;
    both_get_message(&mut [&mut alice, &mut bob], 5, "next").await;
}

#[tokio::test]
async fn a_member_away_during_an_edit_and_a_delete_resumes_them_in_order_once() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    say(&mut alice, &room, "first").await;
    let first = both_get_message(&mut [&mut alice, &mut bob], 1, "first").await;
    say(&mut alice, &room, "second").await;
    let second = both_get_message(&mut [&mut alice, &mut bob], 2, "second").await;
    let token = bob.token.clone();
    drop(bob);

    edit(&mut alice, &room, &first, "first, edited").await;
    assert_eq!(alice.expect("messageEdited").await["seq"], 3);
    say(&mut alice, &room, "third").await;
    assert_eq!(alice.expect("message").await["seq"], 4);
    delete(&mut alice, &room, &second).await;
    assert_eq!(alice.expect("messageDeleted").await["seq"], 5);

    let mut bob = server.socket(&token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 2}]}))
        .await;
    let edited = bob.expect("messageEdited").await;
    assert_eq!(
        (&edited["seq"], &edited["messageId"], &edited["message"]),
        (&json!(3), &json!(first), &json!("first, edited"))
    );
    let third = bob.expect("message").await;
    assert_eq!(
        (&third["seq"], &third["message"]),
        (&json!(4), &json!("third"))
    );
    assert_eq!(
        bob.expect("messageDeleted").await,
        json!({"action": "messageDeleted", "roomId": room, "messageId": second, "seq": 5})
    );
    bob.expect_silence().await;
    // Live again from there, nothing repeated.
    say(&mut alice, &room, "fourth").await;
    both_get_message(&mut [&mut alice, &mut bob], 6, "fourth").await;
    bob.expect_silence().await;

    // From the start, a message caught up after its edit comes with its current text, then
    // the edit itself (the same text again); a deleted one as a tombstone, then its deletion.
    let mut fresh = server.socket(&token).await;
    fresh
        .send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 0}]}))
        .await;
    let kinds: Vec<(String, u64)> = {
        let mut kinds = Vec::new();
        for _ in 0..6 {
            let frame = fresh.next().await;
            kinds.push((
                frame["action"].as_str().unwrap().to_owned(),
                frame["seq"].as_u64().unwrap(),
            ));
            if frame["seq"] == 1 {
                assert_eq!(frame["message"], "first, edited");
            }
            if frame["seq"] == 2 {
                assert_eq!(
                    (&frame["message"], &frame["deleted"]),
                    (&json!(""), &json!(true))
                );
            }
        }
        kinds
    };
    let expected: Vec<(String, u64)> = [
        ("message", 1),
        ("message", 2),
        ("messageEdited", 3),
        ("message", 4),
        ("messageDeleted", 5),
        ("message", 6),
    ]
    .into_iter()
    .map(|(action, seq)| (action.to_owned(), seq))
    .collect();
    assert_eq!(kinds, expected);
    fresh.expect_silence().await;
}

#[tokio::test]
async fn an_admin_deletes_anothers_message_and_others_may_not_touch_it() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let mut eve = server.user("eve").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;
    say(&mut bob, &room, "bob's words").await;
    let words = both_get_message(&mut [&mut alice, &mut bob, &mut carol], 1, "bob's words").await;

    // Only the author edits; only the author or an admin deletes.
    edit(&mut carol, &room, &words, "carol's now").await;
    carol.expect_error("not_admin", Some("editMessage")).await;
    edit(&mut alice, &room, &words, "alice's now").await;
    alice.expect_error("not_admin", Some("editMessage")).await;
    delete(&mut carol, &room, &words).await;
    carol.expect_error("not_admin", Some("deleteMessage")).await;
    delete(&mut eve, &room, &words).await;
    eve.expect_error("not_member", Some("deleteMessage")).await;
    edit(&mut eve, &room, &words, "eve's now").await;
    eve.expect_error("not_member", Some("editMessage")).await;
    let other = eve.create_room("Eve's").await;
    say(&mut eve, &other, "elsewhere").await;
    let elsewhere = eve.expect("message").await["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&mut alice, &room, &elsewhere).await;
    alice
        .expect_error("message_not_found", Some("deleteMessage"))
        .await;
    edit(&mut bob, &room, "no-such-id", "x").await;
    bob.expect_error("message_not_found", Some("editMessage"))
        .await;

    delete(&mut alice, &room, &words).await;
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(
            client.expect("messageDeleted").await,
            json!({"action": "messageDeleted", "roomId": room, "messageId": words, "seq": 2})
        );
    }
    delete(&mut bob, &room, &words).await;
    bob.expect_error("message_deleted", Some("deleteMessage"))
        .await;
    edit(&mut bob, &room, &words, "back").await;
    bob.expect_error("message_deleted", Some("editMessage"))
        .await;
    let page = history(&mut carol, &room).await;
    assert_eq!(page.len(), 1);
    assert_eq!(
        (&page[0]["deleted"], &page[0]["message"]),
        (&json!(true), &json!(""))
    );
    eve.expect_silence().await;
}

#[tokio::test]
async fn replies_carry_the_answered_message_as_it_reads_now() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let other = alice.create_room("Other").await;
    say(&mut alice, &other, "over there").await;
    let over_there = alice.expect("message").await["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let question = "Lunch at noon? ".repeat(10);
    say(&mut alice, &room, &question).await;
    let asked = both_get_message(&mut [&mut alice, &mut bob], 1, &question).await;

    // Not a message of this room: refused, nothing stored.
    for unknown in ["no-such-id", over_there.as_str()] {
        bob.send(
            json!({"action": "sendMessage", "roomId": room, "message": "?", "replyTo": unknown}),
        )
        .await;
        bob.expect_error("message_not_found", Some("sendMessage"))
            .await;
    }

    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "yes", "replyTo": asked}))
        .await;
    let excerpt: String = question
        .chars()
        .take(knock_protocol::limits::REPLY_EXCERPT_CHARS)
        .collect();
    for client in [&mut alice, &mut bob] {
        let reply = client.expect("message").await;
        assert_eq!(reply["seq"], 2);
        assert_eq!(
            reply["replyTo"],
            json!({"messageId": asked, "userId": "alice", "excerpt": excerpt})
        );
    }
    let reply_in_history = |page: Vec<Value>| page[1]["replyTo"].clone();
    assert_eq!(
        reply_in_history(history(&mut bob, &room).await)["excerpt"],
        json!(excerpt)
    );

    // The answered message edited, then deleted: the reply reads it as it is now.
    edit(&mut alice, &room, &asked, "Lunch at one?").await;
    alice.expect("messageEdited").await;
    bob.expect("messageEdited").await;
    assert_eq!(
        reply_in_history(history(&mut bob, &room).await),
        json!({"messageId": asked, "userId": "alice", "excerpt": "Lunch at one?"})
    );
    delete(&mut alice, &room, &asked).await;
    alice.expect("messageDeleted").await;
    bob.expect("messageDeleted").await;
    assert_eq!(
        reply_in_history(history(&mut bob, &room).await),
        json!({"messageId": asked, "userId": "alice", "excerpt": "", "deleted": true})
    );
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "?", "replyTo": asked}))
        .await;
    bob.expect_error("message_deleted", Some("sendMessage"))
        .await;
    assert_eq!(history(&mut bob, &room).await.len(), 2, "nothing stored");
}

#[tokio::test]
async fn edits_and_deletions_take_from_the_message_allowance() {
    let server = TestServer::start_with(&["--message-rate", "0.001", "--message-burst", "3"]).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Slow").await;
    say(&mut alice, &room, "one").await;
    let one = alice.expect("message").await["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    edit(&mut alice, &room, &one, "one, edited").await;
    alice.expect("messageEdited").await;
    delete(&mut alice, &room, &one).await;
    alice.expect("messageDeleted").await;
    // The burst of 3 is spent: a fourth of any of the three is refused, nothing stored.
    say(&mut alice, &room, "two").await;
    alice
        .expect_error("rate_limited", Some("sendMessage"))
        .await;
    edit(&mut alice, &room, &one, "again").await;
    alice
        .expect_error("rate_limited", Some("editMessage"))
        .await;
    alice.send(json!({"action": "myRooms"})).await;
    assert_eq!(alice.expect("rooms").await["rooms"][0]["lastSeq"], 3);
}
