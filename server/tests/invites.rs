//! Invite links an admin controls (docs/protocol.md, issue 18), over real sockets against
//! the real binary: making, listing and revoking links, looking one up from its page,
//! knocking with one (uses counted, the admins told which link), invite-only rooms, and a
//! revoke that holds on another node at once.

mod common;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{Client, TestServer, admit, postgres::PostgresDatabase};
use serde_json::{Value, json};

/// `admin` makes a link for `room`; the `invite` frame it gets back.
async fn create_invite(admin: &mut Client, room: &str, fields: Value) -> Value {
    let mut frame = json!({"action": "createInvite", "roomId": room});
    for (key, value) in fields.as_object().unwrap() {
        frame[key] = value.clone();
    }
    admin.send(frame).await;
    let invite = admin.expect("invite").await;
    assert_eq!(invite["roomId"], room);
    invite
}

fn code_of(invite: &Value) -> String {
    invite["code"].as_str().unwrap().to_owned()
}

async fn list_invites(admin: &mut Client, room: &str) -> Vec<Value> {
    admin
        .send(json!({"action": "listInvites", "roomId": room}))
        .await;
    let list = admin.expect("invites").await;
    assert_eq!(list["roomId"], room);
    list["invites"].as_array().unwrap().clone()
}

async fn knock_with(user: &mut Client, code: &str) {
    user.send(json!({"action": "joinRoom", "subAction": "request", "inviteCode": code}))
        .await;
}

async fn members(client: &mut Client, room: &str) -> Value {
    client
        .send(json!({"action": "getMembers", "roomId": room}))
        .await;
    client.expect("roomMembers").await
}

/// The rows of `client`'s member list of `room`.
async fn rows(client: &mut Client, room: &str) -> Vec<Value> {
    members(client, room).await["participants"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_link_with_one_use_lets_one_knock_through_and_tells_the_admins_which() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let mut dave = server.user("dave").await;
    let room = alice.create_room("Book club").await;
    // A second admin sees links made by the first.
    admit(&mut alice, &mut dave, &room, &mut []).await;
    alice
        .send(json!({"action": "setRole", "roomId": room, "targetUserId": "dave", "role": "admin"}))
        .await;
    alice.expect("memberChanged").await;
    dave.expect("memberChanged").await;

    let invite = create_invite(
        &mut alice,
        &room,
        json!({"label": "  Newsletter  ", "maxUses": 1, "expiresInSecs": 3600}),
    )
    .await;
    assert_eq!(invite["label"], "Newsletter");
    assert_eq!(invite["maxUses"], 1);
    assert_eq!(invite["uses"], 0);
    assert!(invite["expiresAt"].as_i64().unwrap() > invite["createdAt"].as_i64().unwrap());
    let code = code_of(&invite);
    assert!(code.len() >= 16, "{code}");
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{code}"
    );
    assert_eq!(dave.expect("invite").await, invite);

    // Bob follows the link: the page shows the room's name, nothing more.
    bob.send(json!({"action": "lookupInvite", "code": code}))
        .await;
    let info = bob.expect("inviteInfo").await;
    assert_eq!(
        info,
        json!({"action": "inviteInfo", "code": code, "roomId": room, "roomName": "Book club"})
    );

    bob.send(
        json!({"action": "joinRoom", "subAction": "request", "inviteCode": code,
        "reason": "Read your newsletter"}),
    )
    .await;
    assert_eq!(bob.expect("joinResponse").await["status"], "pending");
    bob.expect("memberChanged").await;
    for admin in [&mut alice, &mut dave] {
        let request = admin.expect("joinRequest").await;
        assert_eq!(request["userId"], "bob");
        assert_eq!(request["roomId"], room);
        assert_eq!(
            request["invite"],
            json!({"code": code, "label": "Newsletter"})
        );
        admin.expect("memberChanged").await;
    }
    // The pending row names the link after a reload, to admins only.
    let bob_row = rows(&mut alice, &room)
        .await
        .into_iter()
        .find(|row| row["userId"] == "bob");
    let bob_row = bob_row.unwrap();
    assert_eq!(bob_row["status"], "pending");
    assert_eq!(
        bob_row["invite"],
        json!({"code": code, "label": "Newsletter"})
    );
    alice
        .send(
            json!({"action": "setRole", "roomId": room, "targetUserId": "dave", "role": "member"}),
        )
        .await;
    alice.expect("memberChanged").await;
    dave.expect("memberChanged").await;
    let seen_by_member = rows(&mut dave, &room).await;
    assert!(seen_by_member.iter().all(|row| row.get("invite").is_none()));

    let listed = list_invites(&mut alice, &room).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["code"], code);
    assert_eq!(listed[0]["uses"], 1);

    // Bob asking again changes nothing and uses nothing.
    knock_with(&mut bob, &code).await;
    assert_eq!(bob.expect("joinResponse").await["status"], "pending");
    assert_eq!(list_invites(&mut alice, &room).await[0]["uses"], 1);

    // Carol finds it used up, whether she looks it up or knocks; nothing is stored.
    carol
        .send(json!({"action": "lookupInvite", "code": code}))
        .await;
    carol
        .expect_error("invite_used_up", Some("lookupInvite"))
        .await;
    knock_with(&mut carol, &code).await;
    carol.expect_error("invite_used_up", Some("joinRoom")).await;
    alice.expect_silence().await;
    let after = rows(&mut alice, &room).await;
    assert!(!after.iter().any(|row| row["userId"] == "carol"));

    // Approval clears the link from the row.
    alice
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": "bob"}))
        .await;
    alice.expect("memberChanged").await;
    let after = rows(&mut alice, &room).await;
    assert!(
        after.iter().all(|row| row.get("invite").is_none()),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_revoked_link_stops_working_and_the_admins_are_told() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut alice_tab = server.socket(&alice.token).await;
    let mut bob = server.user("bob").await;
    let room = alice.create_room("Garden").await;
    alice_tab.expect("roomCreated").await;
    let invite = create_invite(&mut alice, &room, json!({})).await;
    assert!(invite.get("label").is_none() && invite.get("maxUses").is_none());
    assert!(invite.get("expiresAt").is_none());
    let code = code_of(&invite);
    alice_tab.expect("invite").await;

    alice
        .send(json!({"action": "revokeInvite", "roomId": room, "code": code}))
        .await;
    let revoked = json!({"action": "inviteRevoked", "roomId": room, "code": code});
    assert_eq!(alice.expect("inviteRevoked").await, revoked);
    assert_eq!(alice_tab.expect("inviteRevoked").await, revoked);
    assert_eq!(list_invites(&mut alice, &room).await, Vec::<Value>::new());

    bob.send(json!({"action": "lookupInvite", "code": code}))
        .await;
    bob.expect_error("invite_revoked", Some("lookupInvite"))
        .await;
    knock_with(&mut bob, &code).await;
    bob.expect_error("invite_revoked", Some("joinRoom")).await;
    // Revoking twice, or a code nobody made.
    alice
        .send(json!({"action": "revokeInvite", "roomId": room, "code": code}))
        .await;
    alice
        .expect_error("invite_not_found", Some("revokeInvite"))
        .await;
    bob.send(json!({"action": "lookupInvite", "code": "NoSuchCode0123456789ab"}))
        .await;
    bob.expect_error("invite_not_found", Some("lookupInvite"))
        .await;
    knock_with(&mut bob, "not a code!").await;
    bob.expect_error("invite_not_found", Some("joinRoom")).await;
    alice_tab.expect_silence().await;
}

#[tokio::test]
async fn expired_links_are_listed_but_refuse_knocks() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let room = alice.create_room("Garden").await;
    let invite = create_invite(&mut alice, &room, json!({"expiresInSecs": 1})).await;
    let code = code_of(&invite);
    // The link's time is up once expiresAt has passed (server clock).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    knock_with(&mut bob, &code).await;
    bob.expect_error("invite_expired", Some("joinRoom")).await;
    let listed = list_invites(&mut alice, &room).await;
    assert_eq!(listed.len(), 1, "expired links stay listed until revoked");
    assert_eq!(listed[0]["uses"], 0);
}

#[tokio::test]
async fn an_invite_only_room_takes_knocks_by_link_only() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let room = alice.create_room("Quiet room").await;
    admit(&mut alice, &mut carol, &room, &mut []).await;
    assert!(
        members(&mut alice, &room).await.get("inviteOnly").is_none(),
        "rooms are open unless an admin says otherwise"
    );

    alice
        .send(json!({"action": "setRoomSettings", "roomId": room, "inviteOnly": true}))
        .await;
    let settings = json!({"action": "roomSettings", "roomId": room, "inviteOnly": true});
    assert_eq!(alice.expect("roomSettings").await, settings);
    assert_eq!(carol.expect("roomSettings").await, settings);
    assert_eq!(members(&mut alice, &room).await["inviteOnly"], true);

    bob.send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    bob.expect_error("invite_only", Some("joinRoom")).await;
    alice.expect_silence().await;

    let code = code_of(&create_invite(&mut alice, &room, json!({"label": "Friends"})).await);
    // Room and code together must agree.
    bob.send(
        json!({"action": "joinRoom", "subAction": "request", "roomId": room,
        "inviteCode": code}),
    )
    .await;
    assert_eq!(bob.expect("joinResponse").await["status"], "pending");
    let request = alice.expect("joinRequest").await;
    assert_eq!(request["invite"]["label"], "Friends");
    alice.expect("memberChanged").await;

    alice
        .send(json!({"action": "setRoomSettings", "roomId": room, "inviteOnly": false}))
        .await;
    assert_eq!(alice.expect("roomSettings").await["inviteOnly"], false);
}

#[tokio::test]
async fn only_admins_manage_links_and_bans_win_over_links() {
    let server = TestServer::start().await;
    let mut alice = server.user("alice").await;
    let mut bob = server.user("bob").await;
    let mut eve = server.user("eve").await;
    let room = alice.create_room("Garden").await;
    let other_room = alice.create_room("Elsewhere").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    let invite = create_invite(&mut alice, &room, json!({"maxUses": 5})).await;
    let code = code_of(&invite);

    for (frame, action) in [
        (
            json!({"action": "createInvite", "roomId": room}),
            "createInvite",
        ),
        (
            json!({"action": "listInvites", "roomId": room}),
            "listInvites",
        ),
        (
            json!({"action": "revokeInvite", "roomId": room, "code": code}),
            "revokeInvite",
        ),
        (
            json!({"action": "setRoomSettings", "roomId": room, "inviteOnly": true}),
            "setRoomSettings",
        ),
    ] {
        bob.send(frame.clone()).await;
        bob.expect_error("not_admin", Some(action)).await;
        eve.send(frame).await;
        eve.expect_error("not_admin", Some(action)).await;
    }

    // Bad terms are refused with the limit, and nothing is made.
    for fields in [
        json!({"maxUses": 0}),
        json!({"expiresInSecs": 0}),
        json!({"label": "x".repeat(101)}),
    ] {
        let mut frame = json!({"action": "createInvite", "roomId": room});
        for (key, value) in fields.as_object().unwrap() {
            frame[key] = value.clone();
        }
        alice.send(frame).await;
        alice
            .expect_error("invalid_invite", Some("createInvite"))
            .await;
    }
    assert_eq!(list_invites(&mut alice, &room).await.len(), 1);

    // A code of one room does not open another.
    eve.send(
        json!({"action": "joinRoom", "subAction": "request", "roomId": other_room,
        "inviteCode": code}),
    )
    .await;
    eve.expect_error("invite_not_found", Some("joinRoom")).await;

    // A banned user's knock with a working link is refused, and no use is counted.
    alice
        .send(json!({"action": "banMember", "roomId": room, "targetUserId": "eve"}))
        .await;
    alice.expect("memberChanged").await;
    eve.expect("memberChanged").await;
    knock_with(&mut eve, &code).await;
    eve.expect_error("banned", Some("joinRoom")).await;
    alice.expect_silence().await;
    assert_eq!(list_invites(&mut alice, &room).await[0]["uses"], 0);
}

/// A `redis-server` of the test's own on a free port (as `cluster.rs` has).
struct Redis(Child, u16);

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Redis is installed on this machine)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self(child, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn across_nodes_a_revoke_holds_at_once_and_one_knock_wins_a_last_use() {
    let database = PostgresDatabase::create().await;
    let redis = Redis::start();
    let redis_url = format!("redis://127.0.0.1:{}", redis.1);
    let mut args = vec!["--redis-url", &redis_url];
    args.extend(common::NO_RATE_LIMITS);
    let one = TestServer::start_on(Some(&database.url), &args).await;
    let two = TestServer::start_on(Some(&database.url), &args).await;
    let mut alice = one.user("alice").await;
    let mut alice_on_two = two.socket(&alice.token).await;
    let room = alice.create_room("Across nodes").await;
    alice_on_two.expect("roomCreated").await;

    // Creation reaches the admin's socket on the other node.
    let code = code_of(&create_invite(&mut alice, &room, json!({})).await);
    assert_eq!(alice_on_two.expect("invite").await["code"], code);
    alice
        .send(json!({"action": "revokeInvite", "roomId": room, "code": code}))
        .await;
    alice.expect("inviteRevoked").await;
    // Answered on node 1: node 2 refuses the code at once.
    let mut bob = two.user("bob").await;
    knock_with(&mut bob, &code).await;
    bob.expect_error("invite_revoked", Some("joinRoom")).await;
    assert_eq!(alice_on_two.expect("inviteRevoked").await["code"], code);

    // Two knocks on a link with one use, one on each node, at once: one wins.
    let code = code_of(&create_invite(&mut alice, &room, json!({"maxUses": 1})).await);
    alice_on_two.expect("invite").await;
    let mut carol = one.user("carol").await;
    knock_with(&mut carol, &code).await;
    knock_with(&mut bob, &code).await;
    let mut outcomes = Vec::new();
    for knocker in [&mut carol, &mut bob] {
        let answer = knocker.next().await;
        outcomes.push(match answer["action"].as_str() {
            Some("joinResponse") => "pending".to_owned(),
            _ => answer["code"].as_str().unwrap().to_owned(),
        });
    }
    outcomes.sort();
    assert_eq!(outcomes, ["invite_used_up", "pending"], "{outcomes:?}");
    // The admin's sockets heard of the one request: its `joinRequest` and `memberChanged`.
    for socket in [&mut alice, &mut alice_on_two] {
        socket.expect("joinRequest").await;
        socket.expect("memberChanged").await;
    }
    assert_eq!(list_invites(&mut alice, &room).await[0]["uses"], 1);
    let requests = rows(&mut alice_on_two, &room)
        .await
        .iter()
        .filter(|row| row["status"] == "pending")
        .count();
    assert_eq!(requests, 1);
}
