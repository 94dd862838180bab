//! Staying up under abuse: rate limits, socket caps, login throttling, floods, bad
//! frames, silent and slow clients.

mod common;

use common::{Client, Ended, NO_RATE_LIMITS, TestServer, admit, room_with_member};
use serde_json::json;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

#[tokio::test]
async fn messages_past_the_rate_are_refused_with_rate_limited() {
    // A burst of 3 and practically no refill: the 4th message in a row is refused.
    let server = TestServer::start_with(&["--message-rate", "0.001", "--message-burst", "3"]).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Fast talkers").await;
    for i in 1..=3 {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}")}))
            .await;
        assert_eq!(alice.expect("message").await["seq"], i);
    }
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "one too many"}))
        .await;
    alice
        .expect_error("rate_limited", Some("sendMessage"))
        .await;
    // Nothing was stored for the refused one, and the socket still works.
    alice
        .send(json!({"action": "getHistory", "roomId": room}))
        .await;
    assert_eq!(
        alice.expect("history").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_user_may_hold_only_so_many_sockets() {
    let server = TestServer::start_with(&["--max-sockets-per-user", "2"]).await;
    let token = server.register("alice").await;
    let _first = server.socket(&token).await;
    let _second = server.socket(&token).await;
    let mut third = Client::connect(&server.ws_url()).await;
    third
        .send(json!({"action": "authenticate", "token": token}))
        .await;
    third
        .expect_error("too_many_sockets", Some("authenticate"))
        .await;
    assert_eq!(third.expect_end().await, Ended::Closed(Some(1008)));
    // Another user is not affected.
    let _bob = server.user("bob").await;
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_username_for_a_while() {
    let server = TestServer::start_with(&["--login-failures", "3"]).await;
    server.register("alice").await;
    server.register("bob").await;
    let login = |name: &'static str, password: &'static str| {
        reqwest::Client::new()
            .post(server.url("/api/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(login("alice", "wrong guess").await.unwrap().status(), 401);
    }
    // Now even the right password is refused for the rest of the window...
    // The answer says the account is locked and for how long (the 15-minute window).
    let locked = login("alice", "correct horse battery").await.unwrap();
    assert_eq!(locked.status(), 429);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "login_locked");
    assert_eq!(body["error"]["retryAfterSecs"], retry_after);
    assert_eq!(
        body["error"]["message"],
        "Too many wrong passwords: signing in to this account from your address is locked for 15 minutes."
    );
    // ...while other users sign in as usual.
    assert_eq!(
        login("bob", "correct horse battery")
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_no_more_than_the_allowance() {
    let server = TestServer::start_with(&["--login-failures", "3"]).await;
    server.register("alice").await;
    let client = reqwest::Client::new();
    let attempts = (0..40).map(|i| {
        client
            .post(server.url("/api/login"))
            .json(&json!({"username": "alice", "password": format!("wrong guess {i}")}))
            .send()
    });
    let mut checked = 0;
    let mut refused = 0;
    for answer in futures_util::future::join_all(attempts).await {
        match answer.unwrap().status().as_u16() {
            401 => checked += 1,
            429 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((checked, refused), (3, 37));
}

#[tokio::test]
async fn a_strangers_guesses_do_not_lock_the_owner_out_from_their_own_address() {
    let server = TestServer::start_with(&["--login-failures", "3", "--trusted-proxies", "1"]).await;
    server.register("alice").await;
    let login = |password: &'static str, client: &'static str| {
        reqwest::Client::new()
            .post(server.url("/api/login"))
            .header("X-Forwarded-For", client)
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            login("wrong guess", "203.0.113.66").await.unwrap().status(),
            401
        );
    }
    let stranger = login("correct horse battery", "203.0.113.66")
        .await
        .unwrap();
    assert_eq!(stranger.status(), 429, "locked from the stranger's address");
    let owner = login("correct horse battery", "198.51.100.20")
        .await
        .unwrap();
    assert_eq!(owner.status(), 200, "the owner signs in from their own");
}

#[tokio::test]
async fn a_flood_of_frames_is_refused_then_closed() {
    let server = TestServer::start_with(&["--frame-rate", "5"]).await;
    let mut alice = server.user("alice").await;
    for _ in 0..400 {
        alice.send(json!({"action": "myRooms"})).await;
    }
    let mut saw_rate_limited = false;
    loop {
        match alice.next_or_end().await {
            Ok(frame) => {
                if frame["action"] == "error" {
                    assert_eq!(frame["code"], "rate_limited", "{frame}");
                    saw_rate_limited = true;
                }
            }
            Err(ended) => {
                assert_eq!(ended, Ended::Closed(Some(1008)));
                break;
            }
        }
    }
    assert!(saw_rate_limited);
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007_and_binary_gets_an_error() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    alice.send_raw(Message::binary(vec![0xff, 0x00])).await;
    alice.expect_error("bad_request", None).await;
    let bad_text = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    alice.send_raw(Message::Frame(bad_text)).await;
    assert_eq!(alice.expect_end().await, Ended::Closed(Some(1007)));
    // The server is fine.
    let mut bob = server.user("bob").await;
    bob.send(json!({"action": "myRooms"})).await;
    bob.expect("rooms").await;
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_closed() {
    let server = TestServer::start_with(&["--ping-interval-secs", "1"]).await;
    let mut silent = server.user("alice").await;
    // Not reading means not answering pings (the client answers them while reading).
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    // The server sent 1001 and hung up; the client may trip over the hang-up while
    // answering the pings it finds before the close frame.
    let ended = silent.expect_end().await;
    assert!(
        matches!(ended, Ended::Closed(Some(1001)) | Ended::Dropped),
        "{ended:?}"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_room_goes_on() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut slow = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut slow).await;
    let mut carol = server.user("carol").await;
    // Bob is not reading: the two memberChanged frames wait in his queue.
    admit(&mut alice, &mut carol, &room, &mut []).await;

    // Bob reads nothing while 20 MB are said; Alice and Carol keep up.
    let text = "x".repeat(3_900);
    let total = 5_000;
    let chunk = 100;
    for start in (0..total).step_by(chunk) {
        for _ in 0..chunk {
            alice
                .send(json!({"action": "sendMessage", "roomId": room, "message": text}))
                .await;
        }
        for i in start..start + chunk {
            let expected = i + 1;
            assert_eq!(alice.expect("message").await["seq"], expected);
            assert_eq!(carol.expect("message").await["seq"], expected);
        }
    }
    // Bob finds what fitted in his queue and the network buffers, then the close.
    let mut bob_got = 0;
    let ended = loop {
        match slow.next_or_end().await {
            Ok(frame) => {
                if frame["action"] == "memberChanged" {
                    continue;
                }
                bob_got += 1;
                assert_eq!(
                    frame["seq"], bob_got,
                    "in order, without gaps, until the close"
                );
            }
            Err(ended) => break ended,
        }
    };
    // The close frame (4429) only reaches a client that reads within the server's grace
    // period; one that reads nothing at all is simply disconnected.
    assert!(
        matches!(ended, Ended::Closed(Some(4429)) | Ended::Dropped),
        "{ended:?}"
    );
    assert!(bob_got < total, "the slow socket was cut off");

    // He comes back and resumes from the last seq he saw: the newest messages arrive,
    // after a `historyGap` for the rest when he missed more than a catch-up sends.
    let mut bob = server.socket(&slow.token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": bob_got}]}))
        .await;
    bob.expect_catch_up(&room, bob_got as u64, total as u64)
        .await;
    bob.expect_silence().await;
}

#[tokio::test]
async fn behind_a_proxy_failed_logins_are_counted_per_client_address() {
    // One failure per username, ten per address; one trusted proxy in front.
    let server = TestServer::start_with(&["--login-failures", "1", "--trusted-proxies", "1"]).await;
    let login = |name: String, client: &'static str| {
        reqwest::Client::new()
            .post(server.url("/api/login"))
            .header("X-Forwarded-For", format!("198.51.100.1, {client}"))
            .json(&json!({"username": name, "password": "wrong guess"}))
            .send()
    };
    for i in 0..10 {
        let status = login(format!("user{i}"), "203.0.113.7")
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    // That client address is now throttled, whatever the username...
    let throttled = login("someone".into(), "203.0.113.7").await.unwrap();
    assert_eq!(throttled.status(), 429);
    // ...while other users behind the same proxy are not (the forged left entry is the
    // same for both, so it is not what counts).
    let other = login("someone".into(), "203.0.113.8").await.unwrap();
    assert_eq!(other.status(), 401);
}

#[tokio::test]
async fn a_resume_naming_a_room_many_times_replays_it_once() {
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = room_with_member(&mut alice, &mut bob).await;
    for i in 1..=40 {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("m{i}")}))
            .await;
        alice.expect("message").await;
    }
    let mut late = server.socket(&bob.token).await;
    let entries: Vec<_> = (0..500)
        .map(|i| json!({"roomId": room, "afterSeq": 10 + i % 3}))
        .collect();
    late.send(json!({"action": "resume", "rooms": entries}))
        .await;
    // From the smallest afterSeq named (10), each message once, in order.
    for seq in 11..=40 {
        assert_eq!(late.expect("message").await["seq"], seq);
    }
    late.expect_silence().await;

    // Past the cap, refused whole: nothing is replayed.
    let entries: Vec<_> = (0..1_001)
        .map(|_| json!({"roomId": room, "afterSeq": 0}))
        .collect();
    late.send(json!({"action": "resume", "rooms": entries}))
        .await;
    late.expect_error("bad_request", Some("resume")).await;
    late.expect_silence().await;
}

/// Reads from a raw connection until the server closes it (end of file or reset).
async fn closed_by_server(tcp: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(common::PATIENCE, async {
        loop {
            match tcp.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    });
    read.await.unwrap_or(false)
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(&["--header-read-timeout-secs", "1"]).await;
    // Slowloris: headers that never end, a byte at a time.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: knock\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if slow.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    trickle.await;
    assert!(
        closed_by_server(&mut slow).await,
        "half-sent request kept open"
    );
    // A connection that says nothing, and one idle after its request.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "silent connection kept open"
    );
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: knock\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut idle).await,
        "idle keep-alive kept open"
    );
    // The server still answers.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_one() {
    let server = TestServer::start_with(&["--max-connections", "3"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect(&server.ws_url()).await);
    }
    let client = reqwest::Client::new();
    let waiting = tokio::spawn({
        let url = server.url("/healthz");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(common::QUIET).await;
    assert!(!waiting.is_finished(), "a fourth connection was served");
    drop(held);
    let status = tokio::time::timeout(common::PATIENCE, waiting)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_sockets_before_signing_in() {
    let server = TestServer::start_with(&["--max-unauthenticated-per-address", "2"]).await;
    let token = server.register("alice").await;
    let mut first = Client::connect(&server.ws_url()).await;
    let _second = Client::connect(&server.ws_url()).await;
    let refused = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect_err("a third socket waiting to sign in is refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
    // Once one has signed in, another may connect.
    first
        .send(json!({"action": "authenticate", "token": token}))
        .await;
    first.expect("authenticated").await;
    let _third = Client::connect(&server.ws_url()).await;
}

#[tokio::test]
async fn rooms_knocks_and_reads_have_rates_of_their_own() {
    // The per-socket frame rate (50/s) lifted: these are the per-action rates.
    let server = TestServer::start_with(&["--frame-rate", "100000"]).await;
    let mut mallory = server.user("mallory").await;
    // Ten rooms at once are fine; a script creating many more is refused, with nothing
    // created for the refused ones.
    let mut created = 0;
    let mut refused = 0;
    for i in 0..30 {
        mallory
            .send(json!({"action": "createRoom", "roomName": format!("spam {i}")}))
            .await;
        let answer = mallory.next().await;
        match answer["action"].as_str() {
            Some("roomCreated") => created += 1,
            Some("error") => {
                assert_eq!(answer["code"], "rate_limited", "{answer}");
                assert_eq!(answer["requestAction"], "createRoom");
                refused += 1;
            }
            _ => panic!("unexpected {answer}"),
        }
    }
    // The burst of ten, and at most one more refilled (one per five seconds).
    assert!((10..=11).contains(&created), "{created} created");
    assert_eq!(refused, 30 - created);
    mallory.send(json!({"action": "myRooms"})).await;
    assert_eq!(
        mallory.expect("rooms").await["rooms"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Reads: a burst of 100, then refused, and other users are not affected.
    let mut refused_reads = 0;
    for _ in 0..120 {
        mallory.send(json!({"action": "myRooms"})).await;
        let answer = mallory.next().await;
        if answer["action"] == "error" {
            assert_eq!(answer["code"], "rate_limited");
            refused_reads += 1;
        }
    }
    assert!(refused_reads > 0, "120 reads at once, none refused");
    // Knocks: 20 at once (here on a room that does not exist), then refused.
    let mut limited_knocks = 0;
    for _ in 0..25 {
        mallory
            .send(json!({"action": "joinRoom", "subAction": "request",
                "roomId": "6f1c1a8e-0d7b-4c55-9f0b-1d2f3a4b5c6d"}))
            .await;
        let answer = mallory.expect("error").await;
        if answer["code"] == "rate_limited" {
            limited_knocks += 1;
        } else {
            assert_eq!(answer["code"], "room_not_found");
        }
    }
    assert!(limited_knocks >= 4, "{limited_knocks} knocks refused");
    let mut alice = server.user("alice").await;
    alice.send(json!({"action": "myRooms"})).await;
    alice.expect("rooms").await;
}

#[tokio::test]
async fn requests_waiting_in_a_room_and_rooms_per_user_are_capped() {
    let server =
        TestServer::start_with(&["--max-waiting-per-room", "2", "--max-rooms-per-user", "2"]).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Popular").await;
    for name in ["bob", "carol"] {
        let mut knocker = server.user(name).await;
        knocker
            .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
            .await;
        assert_eq!(knocker.expect("joinResponse").await["status"], "pending");
    }
    // A third waiting request is one too many, and no admin hears of it.
    let mut dave = server.user("dave").await;
    dave.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    let refused = dave.expect_error("rate_limited", Some("joinRoom")).await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("already waiting"),
        "{refused}"
    );
    // Alice heard of the two requests only.
    for _ in 0..2 {
        alice.expect("joinRequest").await;
        alice.expect("memberChanged").await;
    }
    alice.expect_silence().await;
    // Alice is in one room; one more is fine, a third is refused and not created.
    alice.create_room("Second").await;
    alice
        .send(json!({"action": "createRoom", "roomName": "Third"}))
        .await;
    let refused = alice.expect_error("rate_limited", Some("createRoom")).await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("leave one first"),
        "{refused}"
    );
    alice.send(json!({"action": "myRooms"})).await;
    let rooms = alice.expect("rooms").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 2);
}

async fn register_from(
    server: &TestServer,
    name: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    // One client for every request: making one per request (its TLS roots) would space
    // a flood of requests out one after another.
    static CLIENT: std::sync::LazyLock<reqwest::Client> =
        std::sync::LazyLock::new(reqwest::Client::new);
    let mut request = CLIENT
        .post(server.url("/api/register"))
        .json(&json!({"username": name, "password": "correct horse battery"}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn one_address_may_register_only_so_many_accounts() {
    // 10 at once, then (at 6 an hour) one every ten minutes.
    let server = TestServer::start_with(&["--register-rate", "6", "--trusted-proxies", "1"]).await;
    for i in 0..10 {
        let response = register_from(&server, &format!("user{i}"), Some("203.0.113.7")).await;
        assert_eq!(response.status(), 201, "registration {i}");
    }
    let refused = register_from(&server, "user10", Some("203.0.113.7")).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["retryAfterSecs"].as_u64().unwrap() > 0);
    // Nothing was made of the refused one; another address is not affected.
    assert_eq!(
        register_from(&server, "user10", Some("198.51.100.1"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_flood_of_registrations_is_refused_quickly_and_loses_nothing() {
    // One hashing thread, two waiting: most of 40 at once are refused at once.
    let server =
        TestServer::start_with(&["--max-hashing", "1", "--max-hashing-waiting", "2"]).await;
    let attempts = (0..40).map(|i| {
        let server = &server;
        async move { (i, register_from(server, &format!("flood{i}"), None).await) }
    });
    let mut created = Vec::new();
    let mut refused = 0;
    for (i, response) in futures_util::future::join_all(attempts).await {
        match response.status().as_u16() {
            201 => created.push(i),
            429 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited");
                refused += 1;
            }
            other => panic!("registration {i}: {other}"),
        }
    }
    assert!(refused > 0, "a full queue refuses");
    assert!(
        created.len() >= 3,
        "the running and waiting ones are done: {created:?}"
    );
    // Every account that was answered 201 exists; the refused names are free.
    for i in 0..40 {
        let login = reqwest::Client::new()
            .post(server.url("/api/login"))
            .json(&json!({"username": format!("flood{i}"), "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(login == 200, created.contains(&i), "flood{i}: {login}");
    }
}

#[tokio::test]
async fn a_client_that_asks_for_history_and_reads_nothing_is_cut_off_by_bytes() {
    // 100 messages of 4,000 control characters, each sent escaped as six bytes: one
    // history page is 2.4 MB. Fewer frames than the 512 a queue holds must still be cut
    // off when their bytes pass the queue's bound (16 MiB).
    let server = TestServer::start_with(&NO_RATE_LIMITS).await;
    let mut alice = server.user("alice").await;
    let room = alice.create_room("Noise").await;
    let noise = "\u{1}".repeat(4_000);
    for seq in 1..=100 {
        alice
            .send(json!({"action": "sendMessage", "roomId": room, "message": noise}))
            .await;
        assert_eq!(alice.expect("message").await["seq"], seq);
    }
    let mut greedy = server.socket(&alice.token).await;
    let pages = 100;
    for _ in 0..pages {
        greedy
            .send(json!({"action": "getHistory", "roomId": room, "limit": 100}))
            .await;
    }
    // Reads nothing while the server answers (ten pages fill the queue's bytes and the
    // network's buffers; all 100 would be 240 MB held for it).
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let mut got = 0;
    let ended = loop {
        match greedy.next_or_end().await {
            Ok(frame) if frame["action"] == "history" => got += 1,
            Ok(_) => {}
            Err(ended) => break ended,
        }
    };
    assert!(
        matches!(ended, Ended::Closed(Some(4429)) | Ended::Dropped),
        "{ended:?}"
    );
    assert!(got < pages, "cut off after {got} of {pages} pages");
    // The server goes on for everyone else.
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "still here"}))
        .await;
    assert_eq!(alice.expect("message").await["seq"], 101);
}
