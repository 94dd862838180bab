//! Prometheus metrics on `--metrics-addr`: scraped after a small conversation, they count
//! what happened; the main address does not serve them.

mod common;

use common::{TestServer, room_with_member};
use serde_json::json;

/// A port nobody listens on now (the server binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The value of one series, named as exposed (`name` or `name{label="value",…}`).
fn value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(rest.trim().parse::<f64>().expect("a number"))
        })
        .unwrap_or_else(|| panic!("no series {series} in:\n{exposition}"))
}

#[tokio::test]
async fn a_scrape_after_a_conversation_counts_it() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    // One room per user at once, then the limit: the second is refused (rate_limited).
    let server = TestServer::start_with(&[
        "--metrics-addr",
        &metrics_addr,
        "--create-room-rate",
        "0.001",
    ])
    .await;
    let metrics_url = format!("http://{metrics_addr}/metrics");

    let (status, before) = get(&metrics_url).await;
    assert_eq!(status, 200);
    // Every series is there from the start, at zero.
    assert_eq!(value(&before, "knock_messages_stored_total"), 0.0);
    assert_eq!(
        value(
            &before,
            r#"knock_rate_limit_refusals_total{kind="create_room"}"#
        ),
        0.0
    );

    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    // Alice creates a room, Bob knocks, Alice approves.
    let room = room_with_member(&mut alice, &mut bob).await;
    const SENT: usize = 3;
    for i in 0..SENT {
        let sender = if i % 2 == 0 { &mut alice } else { &mut bob };
        sender
            .send(json!({"action": "sendMessage", "roomId": room, "message": format!("hello {i}")}))
            .await;
        for client in [&mut alice, &mut bob] {
            assert_eq!(
                client.expect("message").await["message"],
                format!("hello {i}")
            );
        }
    }
    alice
        .send(json!({"action": "createRoom", "roomName": "Second"}))
        .await;
    alice.expect_error("rate_limited", Some("createRoom")).await;

    let (status, text) = get(&metrics_url).await;
    assert_eq!(status, 200);
    let sent = SENT as f64;
    assert_eq!(value(&text, "knock_messages_stored_total"), sent);
    assert!(value(&text, r#"knock_frames_in_total{action="sendMessage"}"#) >= sent);
    assert_eq!(
        value(&text, r#"knock_frames_in_total{action="authenticate"}"#),
        2.0
    );
    assert_eq!(
        value(&text, r#"knock_frames_in_total{action="createRoom"}"#),
        2.0
    );
    assert_eq!(
        value(&text, r#"knock_frames_in_total{action="joinRoom"}"#),
        2.0
    );
    assert_eq!(
        value(&text, r#"knock_frames_in_total{action="unknown"}"#),
        0.0
    );
    // Two sockets open, both authenticated, of two users.
    assert_eq!(value(&text, "knock_sockets_open"), 2.0);
    assert_eq!(value(&text, "knock_sockets_authenticated"), 2.0);
    assert_eq!(value(&text, "knock_users_connected"), 2.0);
    // Each message to both sockets, besides the other frames queued.
    let deliveries = value(&text, "knock_deliveries_total");
    assert!(deliveries >= 2.0 * sent, "{deliveries}");
    // At least what the clients read: the messages on both sockets and the two hellos.
    assert!(value(&text, "knock_frames_out_total") >= 2.0 * sent + 2.0);
    assert_eq!(
        value(
            &text,
            r#"knock_rate_limit_refusals_total{kind="create_room"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&text, r#"knock_rate_limit_refusals_total{kind="message"}"#),
        0.0
    );
    assert_eq!(value(&text, "knock_queue_full_disconnects_total"), 0.0);
    // Every message went through one batch or another: the sizes add up to them.
    assert_eq!(
        value(&text, r#"knock_storage_batch_size_sum{kind="messages"}"#),
        sent
    );
    let batches = value(&text, r#"knock_storage_batch_size_count{kind="messages"}"#);
    assert!((1.0..=sent).contains(&batches), "{batches}");
    assert_eq!(
        value(
            &text,
            r#"knock_storage_batch_duration_seconds_count{kind="messages"}"#
        ),
        batches
    );
    assert_eq!(
        value(
            &text,
            r#"knock_storage_batch_size_bucket{kind="messages",le="1024"}"#
        ),
        batches
    );
    assert!(value(&text, r#"knock_storage_batch_size_sum{kind="memberships"}"#) >= 2.0);
    assert!(text.contains("# TYPE knock_storage_batch_duration_seconds histogram"));
    // Two registrations hashed, none still running; no Redis here.
    assert_eq!(value(&text, "knock_password_hashes_in_flight"), 0.0);
    assert_eq!(
        value(&text, r#"knock_redis_errors_total{op="publish"}"#),
        0.0
    );

    // Not on the main address, and nothing but /metrics on the metrics address.
    let (status, _) = get(&server.url("/metrics")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("http://{metrics_addr}/healthz")).await;
    assert_eq!(status, 404);

    // A socket that goes away is no longer counted.
    drop(bob);
    let mut open = 0.0;
    for _ in 0..100 {
        open = value(&get(&metrics_url).await.1, "knock_sockets_open");
        if open == 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 1.0);
    assert_eq!(
        value(&get(&metrics_url).await.1, "knock_sockets_authenticated"),
        1.0
    );
}
