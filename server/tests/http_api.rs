//! The HTTP API: accounts, health, Origin and CORS checks, static files.

mod common;

use common::{Client, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(server: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn register_and_login() {
    let server = TestServer::start().await;
    let (status, body) = post(
        &server,
        "/api/register",
        &json!({"username": "Alice", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["userId"], "alice", "user ids are lower case");
    assert!(body["token"].as_str().unwrap().len() >= 32);

    // Unique regardless of case.
    let (status, body) = post(
        &server,
        "/api/register",
        &json!({"username": "ALICE", "password": "another one"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "username_taken");

    let (status, body) = post(
        &server,
        "/api/login",
        &json!({"username": "aLiCe", "password": "correct horse"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["userId"], "alice");

    for wrong in [
        json!({"username": "alice", "password": "wrong horse"}),
        json!({"username": "nobody", "password": "correct horse"}),
        json!({"username": "x", "password": "correct horse"}),
    ] {
        let (status, body) = post(&server, "/api/login", &wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&body, "invalid_credentials");
    }
}

#[tokio::test]
async fn registration_refusals() {
    let server = TestServer::start().await;
    for (body, code) in [
        (
            json!({"username": "al", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"username": "al ice", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"username": "a".repeat(33), "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"username": "alice", "password": "short"}),
            "invalid_password",
        ),
        (
            json!({"username": "alice", "password": "x".repeat(257)}),
            "invalid_password",
        ),
        (json!({"username": "alice"}), "bad_request"),
        (json!("alice"), "bad_request"),
    ] {
        let (status, response) = post(&server, "/api/register", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&response, code);
    }
    // Nothing was created by the refusals.
    let (status, _) = post(
        &server,
        "/api/register",
        &json!({"username": "alice", "password": "long enough"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let server = TestServer::start().await;
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, body) = post(&server, "/api/nothing", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let logout = reqwest::Client::new()
        .post(server.url("/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn foreign_origins_are_refused_and_allowed_ones_pass() {
    let server = TestServer::start_with(&[
        "--allowed-origins",
        "http://static.test:8080,https://chat.example",
    ])
    .await;
    let client = reqwest::Client::new();
    let register = |origin: &'static str, name: &'static str| {
        client
            .post(server.url("/api/register"))
            .header("Origin", origin)
            .json(&json!({"username": name, "password": "long enough"}))
            .send()
    };
    let refused = register("http://evil.test", "mallory").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_error(&refused.json().await.unwrap(), "forbidden_origin");

    let allowed = register("http://static.test:8080", "alice").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::CREATED);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://static.test:8080"
    );

    // The server's own origin is always allowed.
    let own = format!("http://{}", server.addr);
    let response = client
        .post(server.url("/api/register"))
        .header("Origin", own)
        .json(&json!({"username": "bob", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // A preflight from an allowed origin is answered; one from another is not.
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/api/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let ok = preflight("https://chat.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://chat.example"
    );
    let no = preflight("http://evil.test").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());

    // WebSocket upgrades from a foreign origin get 403; allowed ones connect.
    let refused = Client::connect_from_origin(&server.ws_url(), "http://evil.test").await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a foreign origin must not open a socket"),
    }
    let allowed = Client::connect_from_origin(&server.ws_url(), "https://chat.example").await;
    assert!(allowed.is_ok());
    // Clients without Origin (bots, CLIs) are fine.
    let _ = Client::connect(&server.ws_url()).await;
}

#[tokio::test]
async fn client_routes_get_the_page_shell_and_files_are_served() {
    let server = TestServer::start().await;
    // The harness points the site root at the test's own folder.
    std::fs::write(server.db_dir().join("config.json"), r#"{"serverUrl": ""}"#).unwrap();
    for path in [
        "/",
        "/room/6f1c1a8e-0d7b-4c55-9f0b-1d2f3a4b5c6d",
        "/join/abc",
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("<title>Knock</title>"), "{path}");
        assert!(page.contains("/pkg/knock.js"), "{path} boots the client");
    }
    let config = reqwest::get(server.url("/config.json")).await.unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert_eq!(config.text().await.unwrap(), r#"{"serverUrl": ""}"#);
}

#[tokio::test]
async fn an_invite_links_page_is_the_client() {
    let server = TestServer::start().await;
    let mut ada = server.user("ada").await;
    let room = ada.create_room("Book club").await;
    ada.send(json!({"action": "createInvite", "roomId": room}))
        .await;
    let code = ada.expect("invite").await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Codes are URL-safe and have no dot, so static hosts that route paths without one
    // to index.html (docs/deploy-s3.md) serve `/i/<code>` as a client route too.
    assert!(!code.contains('.'), "{code}");
    let response = reqwest::get(server.url(&format!("/i/{code}")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>Knock</title>"));
    assert!(page.contains("/pkg/knock.js"), "the page boots the client");
}

async fn get(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_room_preview_shows_its_name_and_admins_and_nothing_else() {
    let server = TestServer::start().await;
    let mut ada = server.user("ada").await;
    let mut bob = server.user("bob").await;
    let room_id = common::room_with_member(&mut ada, &mut bob).await;
    ada.send(json!({"action": "sendMessage", "roomId": room_id, "message": "secret plans"}))
        .await;
    ada.expect("message").await;

    // No session needed: the page of an invite link shows it before signing in.
    let (status, body) = get(&server, &format!("/api/rooms/{room_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"roomId": room_id, "roomName": "General Chat", "admins": ["ada"]}),
        "no members, no messages"
    );

    let (status, body) = get(&server, "/api/rooms/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "room_not_found");
    let (status, body) = get(&server, "/api/rooms/not-a-room").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "room_not_found");
}

#[tokio::test]
async fn room_previews_are_rate_limited_per_address() {
    let server = TestServer::start().await;
    let mut refused = 0;
    for _ in 0..40 {
        let response = reqwest::get(server.url("/api/rooms/00000000-0000-4000-8000-000000000000"))
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let body: Value = response.json().await.unwrap();
            assert_error(&body, "rate_limited");
            refused += 1;
        } else {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
    }
    assert!(
        refused >= 15,
        "a scan of ids is slowed down: {refused} refused"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = TestServer::start().await;
    for path in ["/", "/join/some-room", "/api/nothing", "/healthz"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: not told of TLS"
        );
    }
    let behind_tls = TestServer::start_with(&["--hsts"]).await;
    let response = reqwest::get(behind_tls.url("/")).await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}
