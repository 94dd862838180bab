//! Sessions and accounts over HTTP, as a user's browsers use them: listing and revoking
//! sessions, signing out everywhere, expiry, changing the password, deleting the account
//! and exporting its data (docs/protocol.md, "HTTP").

mod common;

use common::{Client, Ended, TestServer, admit};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A request with the session `token`, as a browser with user agent `agent` sends it.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Signs in as `name` from a browser calling itself `agent`; the token.
async fn login(
    server: &TestServer,
    name: &str,
    password: &str,
    agent: &str,
) -> Result<String, Value> {
    let response = reqwest::Client::new()
        .post(server.url("/api/login"))
        .header("user-agent", agent)
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap();
    let ok = response.status() == StatusCode::OK;
    let body: Value = response.json().await.unwrap();
    if ok {
        Ok(body["token"].as_str().unwrap().to_owned())
    } else {
        Err(body)
    }
}

async fn sessions(server: &TestServer, token: &str) -> Vec<Value> {
    let (status, body) = call(server, Method::GET, "/api/sessions", token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sessions"].as_array().unwrap().clone()
}

async fn is_signed_in(server: &TestServer, token: &str) -> bool {
    let (status, body) = call(server, Method::GET, "/api/sessions", token, None).await;
    match status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => {
            assert_eq!(body["error"]["code"], "unauthenticated");
            false
        }
        other => panic!("GET /api/sessions: {other} {body}"),
    }
}

/// The socket was closed because its session was signed out.
async fn assert_signed_out(socket: &mut Client) {
    assert_eq!(socket.expect_end().await, Ended::Closed(Some(4401)));
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one() {
    let server = TestServer::start().await;
    server.register("alice").await;
    let phone = login(&server, "alice", PASSWORD, "Phone browser")
        .await
        .unwrap();
    let laptop = login(&server, "alice", PASSWORD, "Laptop browser")
        .await
        .unwrap();
    let mut phone_socket = server.socket(&phone).await;
    let bob = server.register("bob").await;

    let listed = sessions(&server, &laptop).await;
    assert_eq!(
        listed.len(),
        3,
        "registering started a session too: {listed:?}"
    );
    let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["userAgent"], "Laptop browser");
    let phone_entry = listed
        .iter()
        .find(|s| s["userAgent"] == "Phone browser")
        .expect("the phone's session is listed");
    for session in &listed {
        assert!(session["createdAt"].as_i64().unwrap() > 0);
        assert!(session["lastUsedAt"].as_i64().unwrap() >= session["createdAt"].as_i64().unwrap());
        let id = session["sessionId"].as_str().unwrap();
        assert!(
            id.len() >= 16 && id != phone && id != laptop,
            "an id, not a token"
        );
    }
    let phone_id = phone_entry["sessionId"].as_str().unwrap().to_owned();

    // Bob cannot revoke alice's session, and an unknown id is refused.
    let path = format!("/api/sessions/{phone_id}");
    let (status, body) = call(&server, Method::DELETE, &path, &bob, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "session_not_found");
    assert!(is_signed_in(&server, &phone).await);

    // Alice signs her phone out from her laptop: its socket closes, its token is dead.
    let (status, _) = call(&server, Method::DELETE, &path, &laptop, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_signed_out(&mut phone_socket).await;
    assert!(!is_signed_in(&server, &phone).await);
    assert!(is_signed_in(&server, &laptop).await);
    let (status, body) = call(&server, Method::DELETE, &path, &laptop, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("session_not_found"))
    );
    assert_eq!(sessions(&server, &laptop).await.len(), 2);

    // Without a session, nothing.
    for (method, path) in [
        (Method::GET, "/api/sessions"),
        (Method::GET, "/api/export"),
        (Method::POST, "/api/logout"),
        (Method::DELETE, "/api/account"),
    ] {
        let (status, body) = call(&server, method, path, "not-a-token", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_user_only() {
    let server = TestServer::start().await;
    let first = server.register("alice").await;
    let second = login(&server, "alice", PASSWORD, "Other").await.unwrap();
    let mut socket = server.socket(&second).await;
    let bob = server.register("bob").await;

    // Plain sign-out ends only the session it is made with.
    let third = login(&server, "alice", PASSWORD, "Third").await.unwrap();
    let (status, _) = call(&server, Method::POST, "/api/logout", &third, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!is_signed_in(&server, &third).await);
    assert!(is_signed_in(&server, &first).await);

    let (status, _) = call(
        &server,
        Method::POST,
        "/api/logout",
        &first,
        Some(json!({"everywhere": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_signed_out(&mut socket).await;
    assert!(!is_signed_in(&server, &first).await);
    assert!(!is_signed_in(&server, &second).await);
    assert!(
        is_signed_in(&server, &bob).await,
        "other users stay signed in"
    );

    let (status, body) = call(
        &server,
        Method::POST,
        "/api/logout",
        &bob,
        Some(json!({"everywhere": "yes"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        is_signed_in(&server, &bob).await,
        "a bad request changes nothing"
    );
}

#[tokio::test]
async fn sessions_expire_when_unused_and_when_too_old() {
    let server = TestServer::start_with(&[
        "--session-idle",
        "3s",
        "--session-lifetime",
        "7s",
        "--session-sweep-interval",
        "1s",
    ])
    .await;
    let idle = server.register("alice").await;
    let used = server.register("bob").await;
    let mut socket = server.socket(&used).await;

    // An open socket keeps its session in use; an unused one expires.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(!is_signed_in(&server, &idle).await, "unused for 4 s of 3");
    socket.send(json!({"action": "ping"})).await;
    socket.expect("pong").await;
    assert!(
        is_signed_in(&server, &used).await,
        "its socket kept it in use"
    );

    // However used, it ends at its lifetime, and its socket is closed.
    assert_signed_out(&mut socket).await;
    assert!(!is_signed_in(&server, &used).await);
    let mut fresh = Client::connect(&server.ws_url()).await;
    fresh
        .send(json!({"action": "authenticate", "token": used}))
        .await;
    fresh
        .expect_error("unauthenticated", Some("authenticate"))
        .await;
    assert_eq!(fresh.expect_end().await, Ended::Closed(Some(4401)));
}

#[tokio::test]
async fn changing_the_password_signs_out_the_other_sessions() {
    let server = TestServer::start().await;
    let here = server.register("alice").await;
    let elsewhere = login(&server, "alice", PASSWORD, "Other").await.unwrap();
    let mut elsewhere_socket = server.socket(&elsewhere).await;
    let change =
        |current: &str, new: &str| Some(json!({"currentPassword": current, "newPassword": new}));

    let (status, body) = call(
        &server,
        Method::POST,
        "/api/password",
        &here,
        change("wrong password", "a new password"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_credentials"))
    );
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/password",
        &here,
        change(PASSWORD, "short"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_password"))
    );
    let (status, body) = call(
        &server,
        Method::POST,
        "/api/password",
        &here,
        Some(json!({"password": "x"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request"))
    );
    assert!(
        login(&server, "alice", PASSWORD, "x").await.is_ok(),
        "nothing changed yet"
    );

    let (status, _) = call(
        &server,
        Method::POST,
        "/api/password",
        &here,
        change(PASSWORD, "a new password"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_signed_out(&mut elsewhere_socket).await;
    assert!(!is_signed_in(&server, &elsewhere).await);
    assert!(
        is_signed_in(&server, &here).await,
        "the session that changed it stays"
    );
    let old = login(&server, "alice", PASSWORD, "x").await.unwrap_err();
    assert_eq!(old["error"]["code"], "invalid_credentials");
    assert!(login(&server, "alice", "a new password", "x").await.is_ok());
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let server = TestServer::start_with(&["--login-failures", "2"]).await;
    let token = server.register("alice").await;
    let change = Some(json!({"currentPassword": "guess one", "newPassword": "a new password"}));
    for _ in 0..2 {
        let (status, _) = call(
            &server,
            Method::POST,
            "/api/password",
            &token,
            change.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = call(&server, Method::POST, "/api/password", &token, change).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("login_locked"))
    );
    let (status, body) = call(
        &server,
        Method::DELETE,
        "/api/account",
        &token,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked for deletion too: {body}"
    );
    assert!(is_signed_in(&server, &token).await);
}

#[tokio::test]
async fn a_deleted_account_leaves_its_rooms_and_its_words_behind() {
    let server = TestServer::start().await;
    let alice_token = server.register("alice").await;
    let mut alice = server.socket(&alice_token).await;
    let mut bob = server.user("bob").await;
    let mut carol = server.user("carol").await;
    let mut dave = server.user("dave").await;

    // Alice is the only admin of "shared" (bob and carol are members, bob first) and
    // alone in "solo", where dave waits; she waits in dave's room.
    let shared = alice.create_room("shared").await;
    admit(&mut alice, &mut bob, &shared, &mut []).await;
    admit(&mut alice, &mut carol, &shared, &mut [&mut bob]).await;
    let solo = alice.create_room("solo").await;
    dave.send(json!({"action": "joinRoom", "subAction": "request", "roomId": solo}))
        .await;
    dave.expect("joinResponse").await;
    dave.expect("memberChanged").await;
    alice.expect("joinRequest").await;
    alice.expect("memberChanged").await;
    let daves = dave.create_room("dave's").await;
    alice
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": daves}))
        .await;
    alice.expect("joinResponse").await;
    alice.expect("memberChanged").await;
    dave.expect("joinRequest").await;
    dave.expect("memberChanged").await;
    alice
        .send(json!({"action": "sendMessage", "roomId": shared, "message": "remember me"}))
        .await;
    for socket in [&mut alice, &mut bob, &mut carol] {
        socket.expect("message").await;
    }

    let wrong = Some(json!({"password": "not it at all"}));
    let (status, _) = call(&server, Method::DELETE, "/api/account", &alice_token, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/api/account",
        &alice_token,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_signed_out(&mut alice).await;

    // Bob, the longest-standing member, is admin of "shared" now, and alice has left it.
    let promoted = bob.expect("memberChanged").await;
    assert_eq!(
        (&promoted["userId"], &promoted["isAdmin"]),
        (&json!("bob"), &json!(true))
    );
    assert_eq!(carol.expect("memberChanged").await["userId"], "bob");
    let left = json!({"action": "memberChanged", "roomId": shared, "userId": "alice", "status": "left", "isAdmin": false});
    assert_eq!(bob.expect("memberChanged").await, left);
    assert_eq!(carol.expect("memberChanged").await, left);
    // "solo" had no other member: it is gone, and dave, who waited, is told.
    let mut deleted = None;
    let mut withdrawn = None;
    for _ in 0..2 {
        let frame = dave.next().await;
        if frame["action"] == "roomDeleted" {
            deleted = Some(frame);
        } else {
            withdrawn = Some(frame);
        }
    }
    assert_eq!(deleted.unwrap()["roomId"], solo.as_str());
    let withdrawn = withdrawn.unwrap();
    assert_eq!(
        (
            &withdrawn["roomId"],
            &withdrawn["userId"],
            &withdrawn["status"]
        ),
        (&json!(daves), &json!("alice"), &json!("left"))
    );

    // Her words stay, by the placeholder; she is out of the member list.
    bob.send(json!({"action": "getHistory", "roomId": shared}))
        .await;
    let history = bob.expect("history").await;
    assert_eq!(history["messages"][0]["userId"], "~deleted");
    assert_eq!(history["messages"][0]["message"], "remember me");
    bob.send(json!({"action": "getMembers", "roomId": shared}))
        .await;
    let members = bob.expect("roomMembers").await;
    let listed: Vec<&str> = members["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["bob", "carol"]);

    // The account is gone; the name is free again and owns nothing of the old one.
    assert!(login(&server, "alice", PASSWORD, "x").await.is_err());
    assert!(!is_signed_in(&server, &alice_token).await);
    let mut new_alice = server.user("alice").await;
    new_alice.send(json!({"action": "myRooms"})).await;
    assert_eq!(new_alice.expect("rooms").await["rooms"], json!([]));
}

#[tokio::test]
async fn the_export_holds_the_users_own_data() {
    let server = TestServer::start().await;
    let token = server.register("alice").await;
    let mut alice = server.socket(&token).await;
    let mut bob = server.user("bob").await;
    let room = alice.create_room("Book club").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    for (socket, text) in [(&mut alice, "mine"), (&mut bob, "bob's")] {
        socket
            .send(json!({"action": "sendMessage", "roomId": room, "message": text}))
            .await;
    }
    alice.expect("message").await;
    alice.expect("message").await;

    let response = reqwest::Client::new()
        .get(server.url("/api/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["user"]["userId"], "alice");
    assert!(export["user"]["createdAt"].as_i64().unwrap() > 0);
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "only her own: {messages:?}");
    assert_eq!(
        (&messages[0]["message"], &messages[0]["roomId"]),
        (&json!("mine"), &json!(room))
    );
    assert_eq!(export["rooms"][0]["roomName"], "Book club");
    assert_eq!(export["rooms"][0]["isAdmin"], true);
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert!(!export.to_string().contains("argon2"), "no password hash");
    assert!(!export.to_string().contains(&token), "no token");

    let (status, body) = call(&server, Method::GET, "/api/export", &token, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("rate_limited"))
    );
}
