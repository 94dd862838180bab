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

/// The value of one series, named as exposed (`name` or `name{label="value",…}`); every
/// series read here counts something, so it is a whole number.
fn value(exposition: &str, series: &str) -> u64 {
    exposition
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(rest.trim().parse::<u64>().expect("a whole number"))
        })
        .unwrap_or_else(|| panic!("no series {series} in:\n{exposition}"))
}

/// A server with metrics on a port of their own; the metrics URL.
async fn server_with_metrics(extra_args: &[&str]) -> (TestServer, String) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--metrics-addr", &metrics_addr];
    args.extend_from_slice(extra_args);
    let server = TestServer::start_with(&args).await;
    (server, format!("http://{metrics_addr}/metrics"))
}

const SENT: u64 = 3;

#[tokio::test]
async fn a_scrape_after_a_conversation_counts_it() {
    // One room per user at once, then the limit: the second is refused (rate_limited).
    let (server, metrics_url) = server_with_metrics(&["--create-room-rate", "0.001"]).await;
    let (status, before) = get(&metrics_url).await;
    assert_eq!(status, 200);
    // Every series is there from the start, at zero.
    assert_eq!(value(&before, "knock_messages_stored_total"), 0);
    let create_room_refusals = r#"knock_rate_limit_refusals_total{kind="create_room"}"#;
    assert_eq!(value(&before, create_room_refusals), 0);

    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    // Alice creates a room, Bob knocks, Alice approves.
    let room = room_with_member(&mut alice, &mut bob).await;
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
    assert_eq!(value(&text, "knock_messages_stored_total"), SENT);
    assert!(value(&text, r#"knock_frames_in_total{action="sendMessage"}"#) >= SENT);
    for (action, frames) in [
        ("authenticate", 2),
        ("createRoom", 2),
        ("joinRoom", 2),
        ("unknown", 0),
    ] {
        let series = format!(r#"knock_frames_in_total{{action="{action}"}}"#);
        assert_eq!(value(&text, &series), frames, "{series}");
    }
    // Two sockets open, both authenticated, of two users.
    assert_eq!(value(&text, "knock_sockets_open"), 2);
    assert_eq!(value(&text, "knock_sockets_authenticated"), 2);
    assert_eq!(value(&text, "knock_users_connected"), 2);
    // Each message to both sockets, besides the other frames queued.
    assert!(value(&text, "knock_deliveries_total") >= 2 * SENT);
    // At least what the clients read: the messages on both sockets and the two hellos.
    assert!(value(&text, "knock_frames_out_total") >= 2 * SENT + 2);
    assert_eq!(value(&text, create_room_refusals), 1);
    assert_eq!(
        value(&text, r#"knock_rate_limit_refusals_total{kind="message"}"#),
        0
    );
    assert_eq!(value(&text, "knock_queue_full_disconnects_total"), 0);
    // Two registrations hashed, none still running; no Redis here.
    assert_eq!(value(&text, "knock_password_hashes_in_flight"), 0);
    assert_eq!(value(&text, r#"knock_redis_errors_total{op="publish"}"#), 0);
    assert_batches_add_up(&text);
}

/// Every message went through one batch or another: the sizes add up to them.
fn assert_batches_add_up(text: &str) {
    assert_eq!(
        value(text, r#"knock_storage_batch_size_sum{kind="messages"}"#),
        SENT
    );
    let batches = value(text, r#"knock_storage_batch_size_count{kind="messages"}"#);
    assert!((1..=SENT).contains(&batches), "{batches}");
    for series in [
        r#"knock_storage_batch_duration_seconds_count{kind="messages"}"#,
        r#"knock_storage_batch_size_bucket{kind="messages",le="1024"}"#,
    ] {
        assert_eq!(value(text, series), batches, "{series}");
    }
    // The knock and the approval.
    assert!(value(text, r#"knock_storage_batch_size_sum{kind="memberships"}"#) >= 2);
    assert!(text.contains("# TYPE knock_storage_batch_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let (server, metrics_url) = server_with_metrics(&[]).await;
    assert_eq!(get(&metrics_url).await.0, 200);
    // Not on the main address (not even as the page shell), and nothing but /metrics on
    // the metrics address.
    assert_eq!(get(&server.url("/metrics")).await.0, 404);
    let healthz = metrics_url.replace("/metrics", "/healthz");
    assert_eq!(get(&healthz).await.0, 404);

    // Off by default: the main address still has none.
    let plain = TestServer::start().await;
    assert_eq!(get(&plain.url("/metrics")).await.0, 404);
}

#[tokio::test]
async fn the_socket_gauges_follow_sockets_that_close() {
    let (server, metrics_url) = server_with_metrics(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    assert_eq!(value(&get(&metrics_url).await.1, "knock_sockets_open"), 2);
    drop(bob);
    let mut text = String::new();
    for _ in 0..100 {
        text = get(&metrics_url).await.1;
        if value(&text, "knock_sockets_open") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(value(&text, "knock_sockets_open"), 1);
    assert_eq!(value(&text, "knock_sockets_authenticated"), 1);
    assert_eq!(value(&text, "knock_users_connected"), 1);
    drop(alice);
}
