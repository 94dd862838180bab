//! `search` and `getHistory` around a message, over real sockets: a user finds the messages
//! of the rooms they are an approved member of now, and nothing else.

mod common;

use common::{Client, NO_RATE_LIMITS, TestServer, admit, room_with_member};
use serde_json::{Value, json};

/// Sends `text` to `room` and waits for its echo (and for each of `others`' copies).
async fn say(sender: &mut Client, room: &str, text: &str, others: &mut [&mut Client]) -> u64 {
    sender
        .send(json!({"action": "sendMessage", "roomId": room, "message": text}))
        .await;
    let echo = sender.expect("message").await;
    for other in others.iter_mut() {
        other.expect("message").await;
    }
    echo["seq"].as_u64().unwrap()
}

/// The `searchResults` for this `search` frame.
async fn search(client: &mut Client, frame: Value) -> Value {
    let mut frame = frame;
    frame["action"] = json!("search");
    client.send(frame).await;
    client.expect("searchResults").await
}

/// The texts of the results, in order.
fn texts(results: &Value) -> Vec<&str> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["message"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn members_find_the_messages_of_their_rooms_only() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut eve = server.user("eve").await;
    let shared = room_with_member(&mut alice, &mut bob).await;
    let private = alice.create_room("Alice alone").await;
    let elsewhere = eve.create_room("Eve's").await;

    say(
        &mut alice,
        &shared,
        "Green TEA at the café?",
        &mut [&mut bob],
    )
    .await;
    say(&mut alice, &private, "tea for one", &mut []).await;
    say(&mut eve, &elsewhere, "eve's secret tea", &mut []).await;

    let found = search(&mut bob, json!({"query": "tea"})).await;
    assert_eq!(texts(&found), ["Green TEA at the café?"]);
    assert_eq!(found["query"], "tea");
    assert_eq!(found["hasMore"], false);
    assert!(found.get("nextCursor").is_none());
    assert!(found.get("roomId").is_none());
    let result = &found["results"][0];
    assert_eq!(result["roomId"], shared.as_str());
    assert_eq!(result["seq"], 1);
    assert_eq!(result["userId"], "alice");
    assert!(result["messageId"].as_str().is_some());
    assert!(result["timestamp"].as_i64().is_some());
    assert_eq!(
        result["snippet"],
        json!([
            {"text": "Green ", "match": false},
            {"text": "TEA", "match": true},
            {"text": " at the café?", "match": false},
        ])
    );
    let found = search(&mut bob, json!({"query": "CAFE green"})).await;
    assert_eq!(texts(&found), ["Green TEA at the café?"]);

    let found = search(&mut alice, json!({"query": "tea"})).await;
    assert_eq!(texts(&found), ["tea for one", "Green TEA at the café?"]);
    let found = search(&mut alice, json!({"query": "tea", "roomId": shared})).await;
    assert_eq!(texts(&found), ["Green TEA at the café?"]);
    assert_eq!(found["roomId"], shared.as_str());
    let found = search(&mut eve, json!({"query": "tea"})).await;
    assert_eq!(texts(&found), ["eve's secret tea"]);

    for room in [&private, &elsewhere] {
        bob.send(json!({"action": "search", "query": "tea", "roomId": room}))
            .await;
        bob.expect_error("not_member", Some("search")).await;
    }
    bob.send(json!({"action": "search", "query": "tea", "roomId": "not-a-room"}))
        .await;
    bob.expect_error("room_not_found", Some("search")).await;
    // A pending user finds nothing of the room yet.
    eve.send(json!({"action": "joinRoom", "subAction": "request", "roomId": shared}))
        .await;
    eve.expect("joinResponse").await;
    eve.expect("memberChanged").await;
    let found = search(&mut eve, json!({"query": "green"})).await;
    assert_eq!(texts(&found), Vec::<&str>::new());
}

#[tokio::test]
async fn a_member_who_is_removed_or_leaves_stops_finding_the_room() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;
    say(&mut alice, &room, "the plan", &mut [&mut bob, &mut carol]).await;
    assert_eq!(
        texts(&search(&mut bob, json!({"query": "plan"})).await),
        ["the plan"]
    );

    alice
        .send(json!({"action": "removeMember", "roomId": room, "targetUserId": "bob"}))
        .await;
    alice.expect("memberChanged").await;
    assert_eq!(bob.expect("memberChanged").await["status"], "removed");
    carol.expect("memberChanged").await;
    let found = search(&mut bob, json!({"query": "plan"})).await;
    assert_eq!(texts(&found), Vec::<&str>::new());
    bob.send(json!({"action": "search", "query": "plan", "roomId": room}))
        .await;
    bob.expect_error("not_member", Some("search")).await;

    carol
        .send(json!({"action": "leaveRoom", "roomId": room}))
        .await;
    carol.expect("memberChanged").await;
    alice.expect("memberChanged").await;
    let found = search(&mut carol, json!({"query": "plan"})).await;
    assert_eq!(texts(&found), Vec::<&str>::new());

    // A deleted room takes its messages with it.
    alice
        .send(json!({"action": "deleteRoom", "roomId": room}))
        .await;
    alice.expect("roomDeleted").await;
    let found = search(&mut alice, json!({"query": "plan"})).await;
    assert_eq!(texts(&found), Vec::<&str>::new());
}

#[tokio::test]
async fn bad_queries_and_pages_are_refused_clearly() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Queries").await;
    say(
        &mut alice,
        &room,
        r#"a "quoted" NEAR(star*) AND -x: ^y (OR) NOT z"#,
        &mut [],
    )
    .await;

    for query in [
        String::new(),
        "   ".to_owned(),
        r#"?!* "" -- () ^ :"#.to_owned(),
        "x".repeat(201),
    ] {
        alice
            .send(json!({"action": "search", "query": query}))
            .await;
        let refused = alice.expect_error("invalid_query", Some("search")).await;
        assert!(
            refused["message"].as_str().unwrap().contains("search"),
            "{refused}"
        );
    }
    for frame in [
        json!({"action": "search"}),
        json!({"action": "search", "query": 5}),
        json!({"action": "search", "query": "x", "beforeSeq": 3}),
        json!({"action": "search", "query": "x", "cursor": "nonsense"}),
        json!({"action": "search", "query": "x", "cursor": "s4"}),
        json!({"action": "search", "query": "x", "roomId": room, "cursor": "p4"}),
        json!({"action": "search", "query": "x", "roomId": room, "cursor": "s4", "beforeSeq": 4}),
    ] {
        alice.send(frame).await;
        alice.expect_error("bad_request", Some("search")).await;
    }
    // Every engine's syntax is plain words: found, never an internal error.
    for query in [
        "NEAR(star*)",
        r#""quoted" AND"#,
        "-x: ^y",
        "(OR) NOT",
        r#"z" OR "#,
        "star* & !x | y <-> z:*",
    ] {
        let found = search(&mut alice, json!({"query": query})).await;
        assert_eq!(found["results"].as_array().unwrap().len(), 1, "{query}");
    }
    let found = search(&mut alice, json!({"query": "x".repeat(200)})).await;
    assert_eq!(texts(&found), Vec::<&str>::new());
}

#[tokio::test]
async fn search_has_a_rate_of_its_own() {
    let server = TestServer::start_with(&["--search-rate", "0.05"]).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Limits").await;
    search(&mut alice, json!({"query": "anything"})).await;
    alice
        .send(json!({"action": "search", "query": "again"}))
        .await;
    alice.expect_error("rate_limited", Some("search")).await;
    // Other reads keep their own allowance.
    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    alice.expect("history").await;
}

#[tokio::test]
async fn results_page_by_cursor_across_rooms_and_by_seq_in_one() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let first = alice.create_room("First").await;
    let second = alice.create_room("Second").await;
    for n in 1..=5 {
        say(&mut alice, &first, &format!("tea first {n}"), &mut []).await;
        say(&mut alice, &second, &format!("tea second {n}"), &mut []).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut frame = json!({"query": "tea", "limit": 4});
        if let Some(cursor) = &cursor {
            frame["cursor"] = json!(cursor);
        }
        let page = search(&mut alice, frame).await;
        seen.extend(texts(&page).into_iter().map(str::to_owned));
        if page["hasMore"] == false {
            assert!(page.get("nextCursor").is_none());
            break;
        }
        cursor = Some(page["nextCursor"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (1..=5)
        .rev()
        .flat_map(|n| [format!("tea second {n}"), format!("tea first {n}")])
        .collect();
    assert_eq!(seen, expected);

    let page = search(
        &mut alice,
        json!({"query": "tea", "roomId": second, "limit": 2}),
    )
    .await;
    assert_eq!(texts(&page), ["tea second 5", "tea second 4"]);
    assert_eq!(page["hasMore"], true);
    let cursor = page["nextCursor"].as_str().unwrap();
    let by_cursor = search(
        &mut alice,
        json!({"query": "tea", "roomId": second, "limit": 2, "cursor": cursor}),
    )
    .await;
    assert_eq!(texts(&by_cursor), ["tea second 3", "tea second 2"]);
    let by_seq = search(
        &mut alice,
        json!({"query": "tea", "roomId": second, "limit": 2, "beforeSeq": 4}),
    )
    .await;
    assert_eq!(texts(&by_seq), texts(&by_cursor));
}

/// The seqs of a `history` frame's messages.
fn seqs(history: &Value) -> Vec<u64> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn history_opens_around_a_found_message_and_pages_both_ways() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Long").await;
    for n in 1..=30 {
        say(&mut alice, &room, &format!("message {n}"), &mut []).await;
    }
    let history = |frame: Value| {
        let mut frame = frame;
        frame["action"] = json!("getHistory");
        frame["roomId"] = json!(room);
        frame
    };
    let mut page = async |frame: Value| {
        alice.send(history(frame)).await;
        alice.expect("history").await
    };

    let around = page(json!({"aroundSeq": 10, "limit": 6})).await;
    assert_eq!(seqs(&around), [7, 8, 9, 10, 11, 12]);
    assert_eq!(
        (around["hasMore"].clone(), around["hasMoreAfter"].clone()),
        (json!(true), json!(true))
    );
    let near_start = page(json!({"aroundSeq": 2, "limit": 6})).await;
    assert_eq!(seqs(&near_start), [1, 2, 3, 4, 5, 6]);
    assert_eq!(near_start["hasMore"], false);
    assert_eq!(near_start["hasMoreAfter"], true);
    let near_end = page(json!({"aroundSeq": 29, "limit": 6})).await;
    assert_eq!(seqs(&near_end), [25, 26, 27, 28, 29, 30]);
    assert_eq!(near_end["hasMore"], true);
    assert_eq!(near_end["hasMoreAfter"], false);
    let default_size = page(json!({"aroundSeq": 15})).await;
    assert_eq!(seqs(&default_size), (1..=30).collect::<Vec<_>>());
    assert_eq!(default_size["hasMoreAfter"], false);

    // The page below, then the one above.
    let below = page(json!({"afterSeq": 12, "limit": 5})).await;
    assert_eq!(seqs(&below), [13, 14, 15, 16, 17]);
    assert_eq!(below["hasMore"], true);
    assert_eq!(below["hasMoreAfter"], true);
    let last = page(json!({"afterSeq": 27, "limit": 5})).await;
    assert_eq!(seqs(&last), [28, 29, 30]);
    assert_eq!(last["hasMoreAfter"], false);
    let above = page(json!({"beforeSeq": 7, "limit": 5})).await;
    assert_eq!(seqs(&above), [2, 3, 4, 5, 6]);
    assert_eq!(above["hasMore"], true);
    assert!(above.get("hasMoreAfter").is_none(), "as before: {above}");

    for bounds in [
        json!({"beforeSeq": 5, "aroundSeq": 5}),
        json!({"afterSeq": 5, "aroundSeq": 5}),
        json!({"beforeSeq": 5, "afterSeq": 5}),
    ] {
        alice.send(history(bounds)).await;
        alice.expect_error("bad_request", Some("getHistory")).await;
    }
}

#[tokio::test]
async fn a_result_opens_its_room_at_the_message() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    for n in 1..=20 {
        let text = if n == 12 {
            "the needle".to_owned()
        } else {
            format!("hay {n}")
        };
        say(&mut alice, &room, &text, &mut [&mut bob]).await;
    }
    let found = search(&mut bob, json!({"query": "needle"})).await;
    let result = &found["results"][0];
    bob.send(json!({"action": "getHistory", "roomId": result["roomId"], "aroundSeq": result["seq"], "limit": 4}))
        .await;
    let page = bob.expect("history").await;
    assert_eq!(seqs(&page), [10, 11, 12, 13]);
    assert_eq!(page["messages"][2]["message"], "the needle");
}
