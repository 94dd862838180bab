//! Nothing is lost: restarts, history, acknowledged and retried sends, resume.

mod common;

use common::{Ended, NO_RATE_LIMITS, TestServer, room_with_member};
use knock_protocol::limits::MAX_CATCH_UP;
use serde_json::{Value, json};

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_restart_between_two_halves_of_a_conversation_loses_nothing() {
    let mut server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    // One after the other: two sockets' sends have no order between them.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "one"}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 1);
    assert_eq!(bob.expect("message").await["seq"], 1);
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "two"}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 2);
    assert_eq!(bob.expect("message").await["seq"], 2);

    // A graceful stop closes sockets with 1012 so that clients come back.
    server.restart(false).await;
    assert_eq!(alice.expect_end().await, Ended::Closed(Some(1012)));
    assert_eq!(bob.expect_end().await, Ended::Closed(Some(1012)));

    // Sessions, room, membership and messages survived.
    let mut alice = server.socket(&alice.token).await;
    let mut bob = server.socket(&bob.token).await;
    alice.send(json!({"action": "myRooms"})).await;
    let rooms = alice.expect("rooms").await;
    assert_eq!(
        rooms["rooms"],
        json!([{"roomId": room, "roomName": "General Chat", "status": "approved", "isAdmin": true, "lastSeq": 2,
                "readSeq": 0, "unreadCount": 1, "mentionCount": 0, "pendingCount": 0}])
    );
    bob.send(json!({"action": "getMembers", "roomId": room}))
        .await;
    assert_eq!(
        bob.expect("roomMembers").await["participants"],
        json!([
            {"userId": "alice", "status": "approved", "isAdmin": true, "online": true},
            {"userId": "bob", "status": "approved", "isAdmin": false, "online": true},
        ])
    );

    // The second half continues the sequence.
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "three"}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 3);
    assert_eq!(bob.expect("message").await["seq"], 3);

    // Even after kill -9, everything stored is there.
    server.restart(true).await;
    let mut alice = server.socket(&alice.token).await;
    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    let history = alice.expect("history").await;
    assert_eq!(texts(&history["messages"]), ["one", "two", "three"]);
    assert_eq!(history["hasMore"], false);
}

#[tokio::test]
async fn history_pages_newest_first() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Pages").await;
    for i in 1..=25 {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}")}))
            .await;
        assert_eq!(alice.expect("message").await["seq"], i);
    }
    alice
        .send(json!({"action": "getHistory", "roomId": room, "limit": 10}))
        .await;
    let newest = alice.expect("history").await;
    let expected: Vec<String> = (16..=25).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&newest["messages"]), expected);
    assert_eq!(newest["hasMore"], true);

    alice
        .send(json!({"action": "getHistory", "roomId": room, "beforeSeq": 16, "limit": 10}))
        .await;
    let older = alice.expect("history").await;
    assert_eq!(older["messages"][0]["seq"], 6);
    assert_eq!(older["hasMore"], true);

    alice
        .send(json!({"action": "getHistory", "roomId": room, "beforeSeq": 6, "limit": 10}))
        .await;
    let oldest = alice.expect("history").await;
    assert_eq!(texts(&oldest["messages"]), ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(oldest["hasMore"], false);

    // The limit is capped at 100.
    alice
        .send(json!({"action": "getHistory", "roomId": room, "limit": 100_000}))
        .await;
    assert_eq!(
        alice.expect("history").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
}

#[tokio::test]
async fn a_retried_send_is_stored_and_delivered_once() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let send = json!({"action": "sendMessage", "roomId": room, "message": "once", "clientMsgId": "6b0e-1"});

    bob.send(send.clone()).await;
    let live = bob.expect("message").await;
    let ack = bob.expect("messageAck").await;
    assert_eq!(ack["clientMsgId"], "6b0e-1");
    assert_eq!(ack["seq"], live["seq"]);
    assert_eq!(ack["messageId"], live["messageId"]);
    assert_eq!(ack["timestamp"], live["timestamp"]);
    assert_eq!(
        alice.expect("message").await["messageId"],
        live["messageId"]
    );

    // The ack was "lost": the client retries on a new socket with the same id.
    let mut bob_again = server.socket(&bob.token).await;
    bob_again.send(send).await;
    let retry_ack = bob_again.expect("messageAck").await;
    assert_eq!(retry_ack, ack);
    alice.expect_silence().await;
    bob.expect_silence().await;

    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    assert_eq!(texts(&alice.expect("history").await["messages"]), ["once"]);

    // Another user may use the same clientMsgId for their own message.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "mine", "clientMsgId": "6b0e-1"}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 2);
    assert_eq!(alice.expect("messageAck").await["seq"], 2);
}

#[tokio::test]
async fn resume_replays_what_was_missed_in_order_then_goes_live() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "seen"}))
        .await;
    alice.expect("message").await;
    assert_eq!(bob.expect("message").await["seq"], 1);

    // Bob drops off; three messages are said meanwhile.
    let token = bob.token.clone();
    drop(bob);
    for text in ["missed 1", "missed 2", "missed 3"] {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": text}))
            .await;
        alice.expect("message").await;
    }

    let mut bob = server.socket(&token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 1}]}))
        .await;
    for (seq, text) in [(2, "missed 1"), (3, "missed 2"), (4, "missed 3")] {
        let message = bob.expect("message").await;
        assert_eq!(
            (
                message["seq"].as_u64().unwrap(),
                message["message"].as_str().unwrap()
            ),
            (seq, text)
        );
    }
    // Then live, without repeating anything.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "live"}))
        .await;
    let live = bob.expect("message").await;
    assert_eq!(live["seq"], 5);
    bob.expect_silence().await;

    // Resuming when up to date sends nothing.
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 5}]}))
        .await;
    bob.expect_silence().await;
}

#[tokio::test]
async fn kill_9_during_sustained_sending_loses_no_acknowledged_message() {
    let mut server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let total = 400;
    let send = |i: usize| json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}"), "clientMsgId": format!("c{i}")});

    // Alice pipelines every message, then the server dies while it works through them.
    for i in 0..total {
        alice.send(send(i)).await;
    }
    let mut acked = std::collections::HashMap::new();
    while acked.len() < 50 {
        let frame = alice.next().await;
        if frame["action"] == "messageAck" {
            acked.insert(frame["clientMsgId"].as_str().unwrap().to_owned(), frame);
        }
    }
    server.stop(true);
    let mut bob_seqs = Vec::new();
    while let Ok(frame) = bob.next_or_end().await {
        bob_seqs.push(frame["seq"].as_u64().unwrap());
    }
    server.restart(true).await;

    // Every acknowledged message is stored, with the seq and id it was acknowledged with.
    let mut alice = server.socket(&alice.token).await;
    alice
        .send(json!({"action": "getHistory", "roomId": room, "limit": 100}))
        .await;
    let page = alice.expect("history").await;
    let stored_before_retry = page["messages"].as_array().unwrap().len();
    assert!(stored_before_retry >= acked.len());

    // Alice's outbox resends everything; the acknowledged ones come back unchanged.
    for i in 0..total {
        alice.send(send(i)).await;
    }
    let mut acks = std::collections::HashMap::new();
    while acks.len() < total {
        let frame = alice.next().await;
        if frame["action"] == "messageAck" {
            acks.insert(frame["clientMsgId"].as_str().unwrap().to_owned(), frame);
        }
    }
    for (id, before) in &acked {
        assert_eq!(&acks[id], before, "the retry of {id} is the stored message");
    }
    let mut seqs: Vec<u64> = acks.values().map(|a| a["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total as u64).collect::<Vec<_>>(),
        "stored once each, no gaps"
    );

    // Bob resumes from the last seq he saw and gets every message exactly once.
    let mut bob = server.socket(&bob.token).await;
    let last_seen = bob_seqs.last().copied().unwrap_or(0);
    assert_eq!(bob_seqs, (1..=last_seen).collect::<Vec<_>>());
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": last_seen}]}))
        .await;
    bob.expect_catch_up(&room, last_seen, total as u64).await;
    bob.expect_silence().await;
}

#[tokio::test]
async fn resume_while_messages_keep_arriving_has_no_gap_and_no_duplicate() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    let token = bob.token.clone();
    drop(bob);
    // A long backlog, so that the replay takes a while (its newest `MAX_CATCH_UP`, after
    // a `historyGap`)...
    let backlog = 1_500_u64;
    for i in 0..backlog {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("old {i}")}))
            .await;
    }
    for _ in 0..backlog {
        alice.expect("message").await;
    }
    // ...and new messages sent while it runs. They are sent once the replay has begun:
    // sent earlier, on another socket, they could be stored before the server reads the
    // `resume`, and then they are live messages that came first.
    let mut bob = server.socket(&token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 0}]}))
        .await;
    let first = backlog - MAX_CATCH_UP + 1;
    assert_eq!(bob.expect("historyGap").await["beforeSeq"], first);
    assert_eq!(
        bob.expect("message").await["seq"],
        first,
        "the replay began"
    );
    let live = 100_u64;
    for i in 0..live {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("new {i}")}))
            .await;
    }
    for seq in first + 1..=backlog + live {
        assert_eq!(
            bob.expect("message").await["seq"],
            seq,
            "in order, once each"
        );
    }
    bob.expect_silence().await;
}

#[tokio::test]
async fn a_long_absence_is_caught_up_from_its_newest_messages_and_the_rest_is_paged() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "before"}))
        .await;
    alice.expect("message").await;
    assert_eq!(bob.expect("message").await["seq"], 1);
    let token = bob.token.clone();
    drop(bob);
    let total = 1 + 3 * MAX_CATCH_UP;
    for i in 2..=total {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}")}))
            .await;
    }
    for _ in 2..=total {
        alice.expect("message").await;
    }

    // The catch-up says what it skipped and sends the newest MAX_CATCH_UP...
    let mut bob = server.socket(&token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 1}]}))
        .await;
    let first = bob.expect_catch_up(&room, 1, total).await;
    bob.expect_silence().await;
    // ...live messages follow it without filling the skipped part again...
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "live"}))
        .await;
    assert_eq!(bob.expect("message").await["seq"], total + 1);
    bob.expect_silence().await;

    // ...and the skipped part is there in history, page by page, every message once.
    let mut before = first;
    let mut paged = Vec::new();
    loop {
        bob.send(
            json!({"action": "getHistory", "roomId": room, "beforeSeq": before, "limit": 100}),
        )
        .await;
        let page = bob.expect("history").await;
        let seqs: Vec<u64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        before = seqs[0];
        paged.splice(0..0, seqs);
        if page["hasMore"] == false {
            break;
        }
    }
    assert_eq!(paged, (1..first).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_member_let_back_in_gets_at_most_a_catch_up_before_the_next_live_message() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "hello"}))
        .await;
    alice.expect("message").await;
    assert_eq!(bob.expect("message").await["seq"], 1);

    // Bob is removed; a long conversation goes on without him, on the same socket.
    alice
        .send(json!({"action": "removeMember", "roomId": room, "targetUserId": bob.user_id}))
        .await;
    assert_eq!(alice.expect("memberChanged").await["status"], "removed");
    assert_eq!(bob.expect("memberChanged").await["status"], "removed");
    let said = 2 * MAX_CATCH_UP;
    for i in 0..said {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}")}))
            .await;
    }
    for _ in 0..said {
        alice.expect("message").await;
    }
    bob.expect_silence().await;

    // Let back in, the next live message comes after the newest of what he missed, not
    // after all of it.
    common::admit(&mut alice, &mut bob, &room, &mut []).await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "welcome back"}))
        .await;
    alice.expect("message").await;
    let live = 2 + said;
    bob.expect_catch_up(&room, 1, live - 1).await;
    assert_eq!(bob.expect("message").await["seq"], live);
    bob.expect_silence().await;
}
