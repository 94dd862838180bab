//! Several Knock nodes sharing PostgreSQL and Redis: real processes, a real Redis of the
//! test's own (so it can be restarted), the machine's PostgreSQL.

mod common;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{Client, TestServer, admit, postgres::PostgresDatabase};
use serde_json::json;

/// A `redis-server` of the test's own on a free port; restartable on that port.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.spawn();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Redis is installed on this machine)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Cluster {
    nodes: Vec<TestServer>,
    redis: Redis,
    _database: PostgresDatabase,
}

impl Cluster {
    async fn start(size: usize) -> Self {
        let database = PostgresDatabase::create().await;
        let redis = Redis::start();
        let redis_url = redis.url();
        let mut args = vec!["--redis-url", &redis_url];
        args.extend(common::NO_RATE_LIMITS);
        let mut nodes = Vec::new();
        for _ in 0..size {
            nodes.push(TestServer::start_on(Some(&database.url), &args).await);
        }
        Self {
            nodes,
            redis,
            _database: database,
        }
    }
}

async fn say(from: &mut Client, room: &str, text: &str) {
    from.send(json!({"action": "sendMessage", "roomId": room, "message": text}))
        .await;
}

#[tokio::test]
async fn users_on_three_nodes_share_one_room() {
    let cluster = Cluster::start(3).await;
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let mut alice = a.user("alice").await;
    let mut bob = b.user("bob").await;
    let mut carol = c.user("carol").await;
    let room = alice.create_room("Across nodes").await;

    // The admin on node A approves a requester on node B, then one on node C.
    admit(&mut alice, &mut bob, &room, &mut []).await;
    admit(&mut alice, &mut carol, &room, &mut [&mut bob]).await;

    // Everyone sees everyone's messages once, in one order.
    say(&mut bob, &room, "from B").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        let message = client.expect("message").await;
        assert_eq!(
            (message["seq"].as_u64(), message["message"].as_str()),
            (Some(1), Some("from B"))
        );
    }
    say(&mut carol, &room, "from C").await;
    say(&mut alice, &room, "from A").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        let first = client.expect("message").await;
        let second = client.expect("message").await;
        assert_eq!(
            (first["seq"].as_u64(), second["seq"].as_u64()),
            (Some(2), Some(3))
        );
        client.expect_silence().await;
    }

    // Members listed on any node are the same.
    carol
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    let members = carol.expect("roomMembers").await;
    assert_eq!(members["participants"].as_array().unwrap().len(), 3);

    // Signing out on node A closes that session's sockets on node C too.
    let mut alice_on_c = c.socket(&alice.token).await;
    let response = reqwest::Client::new()
        .post(a.url("/api/logout"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        alice_on_c.expect_end().await,
        common::Ended::Closed(Some(4401))
    );
}

#[tokio::test]
async fn clients_of_a_killed_node_resume_on_another_with_nothing_lost() {
    let mut cluster = Cluster::start(3).await;
    let mut alice = cluster.nodes[0].user("alice").await;
    let mut bob = cluster.nodes[1].user("bob").await;
    let room = alice.create_room("Failover").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    say(&mut alice, &room, "before").await;
    alice.expect("message").await;
    assert_eq!(bob.expect("message").await["seq"], 1);

    // Node B dies without a word; Alice keeps talking on node A.
    cluster.nodes[1].stop(true);
    // Alice's second tab, on node C, shows when C has had both messages: until then they
    // could reach Bob's new socket there live, before his `resume` (allowed, but not the
    // order this test checks). It may get "before" too: C loads the room's members from
    // storage at its first message of the room and can still be at it when the tab opens.
    let mut alice_on_c = cluster.nodes[2].socket(&alice.token).await;
    for text in ["while B was down 1", "while B was down 2"] {
        say(&mut alice, &room, text).await;
        alice.expect("message").await;
    }
    let mut seen_on_c = Vec::new();
    while seen_on_c.last() != Some(&json!(3)) {
        seen_on_c.push(alice_on_c.expect("message").await["seq"].clone());
    }
    assert!(
        seen_on_c == [json!(2), json!(3)] || seen_on_c == [json!(1), json!(2), json!(3)],
        "{seen_on_c:?}"
    );

    // Bob's client reconnects to node C and resumes from the last seq it had.
    let mut bob = cluster.nodes[2].socket(&bob.token).await;
    bob.send(json!({"action": "resume", "rooms": [{"roomId": room, "afterSeq": 1}]}))
        .await;
    assert_eq!(bob.expect("message").await["seq"], 2);
    assert_eq!(bob.expect("message").await["seq"], 3);
    say(&mut alice, &room, "after").await;
    assert_eq!(bob.expect("message").await["seq"], 4);
    bob.expect_silence().await;
}

#[tokio::test]
async fn delivery_recovers_after_redis_restarts_mid_conversation() {
    let mut cluster = Cluster::start(2).await;
    let mut alice = cluster.nodes[0].user("alice").await;
    let mut bob = cluster.nodes[1].user("bob").await;
    let room = alice.create_room("Blip").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    say(&mut alice, &room, "one").await;
    alice.expect("message").await;
    assert_eq!(bob.expect("message").await["seq"], 1);

    // Redis goes away: messages are still stored and reach the sender's own node...
    cluster.redis.kill();
    for text in ["two", "three"] {
        say(&mut alice, &room, text).await;
        alice.expect("message").await;
    }
    // ...and once Redis is back, node B catches Bob up from the database by seq.
    cluster.redis.spawn();
    assert_eq!(bob.expect("message").await["seq"], 2);
    assert_eq!(bob.expect("message").await["seq"], 3);

    // Live delivery goes on, and nothing arrives twice.
    say(&mut alice, &room, "four").await;
    assert_eq!(alice.expect("message").await["seq"], 4);
    assert_eq!(bob.expect("message").await["seq"], 4);
    bob.expect_silence().await;
}
