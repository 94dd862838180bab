//! Test harness: the real `knock-server` binary in a child process, with its own SQLite
//! file, talked to over real HTTP and real `WebSocket`s.
#![allow(dead_code)] // Each test file uses a different part of the harness.

pub mod postgres;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::CloseFrame},
};

/// How long a test waits for a frame that should come.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a test listens to conclude that a frame does not come.
pub const QUIET: Duration = Duration::from_millis(400);

/// Flags that lift the per-user and per-socket rates, for tests that send a lot.
pub const NO_RATE_LIMITS: [&str; 14] = [
    "--message-rate",
    "100000",
    "--message-burst",
    "100000",
    "--frame-rate",
    "100000",
    "--create-room-rate",
    "100000",
    "--knock-rate",
    "100000",
    "--read-rate",
    "100000",
    "--search-rate",
    "100000",
];

pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    database_url: String,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra_args: &[&str]) -> Self {
        Self::start_on(None, extra_args).await
    }

    /// A server on the given database (a fresh SQLite file when `None`).
    pub async fn start_on(database_url: Option<&str>, extra_args: &[&str]) -> Self {
        Self::start_with_env(database_url, extra_args, &[]).await
    }

    /// As [`Self::start_on`], with these environment variables set for the server.
    pub async fn start_with_env(
        database_url: Option<&str>,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = database_url.map_or_else(
            || format!("sqlite:{}", dir.path().join("knock.db").display()),
            str::to_owned,
        );
        let extra_args: Vec<String> = extra_args.iter().map(|s| (*s).to_owned()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let (child, addr) = spawn("127.0.0.1:0", &database_url, dir.path(), &extra_args, &env);
        let server = Self {
            child: Some(child),
            addr,
            database_url,
            extra_args,
            env,
            dir,
        };
        server.wait_healthy().await;
        server
    }

    /// Kills the process (SIGKILL when `hard`, else SIGTERM and wait) and starts it again
    /// on the same address and database.
    pub async fn restart(&mut self, hard: bool) {
        self.stop(hard);
        let (child, addr) = spawn(
            &self.addr.to_string(),
            &self.database_url,
            self.dir.path(),
            &self.extra_args,
            &self.env,
        );
        assert_eq!(addr, self.addr);
        self.child = Some(child);
        self.wait_healthy().await;
    }

    pub fn stop(&mut self, hard: bool) {
        if let Some(mut child) = self.child.take() {
            if hard {
                child.kill().expect("kill");
            } else {
                let pid = child.id().to_string();
                Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()
                    .expect("kill -TERM");
            }
            let status = child.wait().expect("wait");
            if !hard {
                assert!(status.success(), "graceful shutdown exits 0, got {status}");
            }
        }
    }

    /// The test's own folder: the database lives here, and it is the server's site root.
    pub fn db_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(self.url("/healthz")).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become healthy");
    }

    /// Registers `name` with a fixed password; returns the token.
    pub async fn register(&self, name: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/register"))
            .json(&json!({"username": name, "password": "correct horse battery"}))
            .send()
            .await
            .expect("register request");
        assert_eq!(response.status(), 201, "register {name}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// A signed-up user with an authenticated socket.
    pub async fn user(&self, name: &str) -> Client {
        let token = self.register(name).await;
        self.socket(&token).await
    }

    /// Another authenticated socket with this token.
    pub async fn socket(&self, token: &str) -> Client {
        let mut client = Client::connect(&self.ws_url()).await;
        client.token = token.to_owned();
        client
            .send(json!({"action": "authenticate", "token": token}))
            .await;
        let hello = client.expect("authenticated").await;
        hello["userId"]
            .as_str()
            .unwrap()
            .clone_into(&mut client.user_id);
        client
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(
    addr: &str,
    database_url: &str,
    site_root: &std::path::Path,
    extra_args: &[String],
    env: &[(String, String)],
) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_knock-server"))
        .args(["--addr", addr])
        .arg("--database-url")
        .arg(database_url)
        .arg("--site-root")
        .arg(site_root)
        .args(extra_args)
        .env("RUST_LOG", "info")
        .env_remove("KNOCK_ALLOWED_ORIGINS")
        // Every test user registers from 127.0.0.1, often many at once; a test of these
        // limits passes the flags, which win over the environment.
        .env("KNOCK_REGISTER_RATE", "100000000")
        .env("KNOCK_MAX_HASHING_WAITING", "100000")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start knock-server");
    // The log says where it listens; everything it logs is passed on to the test output.
    let stderr = child.stderr.take().unwrap();
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = found.send(rest.trim().to_owned());
            }
            eprintln!("[server] {line}");
        }
    });
    let addr = address
        .recv_timeout(Duration::from_secs(30))
        .expect("server logs its address")
        .parse()
        .expect("address parses");
    (child, addr)
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub user_id: String,
    pub token: String,
    /// Whether `presence` frames are read like the others. Off by default: they come when
    /// a room's members connect and disconnect, which tests of other things do at will
    /// (`tests/presence.rs` turns them on).
    pub sees_presence: bool,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(Option<u16>),
    Dropped,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = connect_async(url).await.expect("websocket connects");
        Self {
            ws,
            user_id: String::new(),
            token: String::new(),
            sees_presence: false,
        }
    }

    /// Connects with an `Origin` header, as a browser would; the handshake's error if refused.
    pub async fn connect_from_origin(url: &str, origin: &str) -> Result<Self, tungstenite::Error> {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        let (ws, _) = connect_async(request).await?;
        Ok(Self {
            ws,
            user_id: String::new(),
            token: String::new(),
            sees_presence: false,
        })
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send frame");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send frame");
    }

    /// The next JSON frame.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("socket still open")
                .expect("frame reads");
            match message {
                Message::Text(text) if self.skipped(&text) => {}
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must have this `action`.
    pub async fn expect(&mut self, action: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["action"], action, "unexpected frame {frame}");
        frame
    }

    /// The next frame, which must be the error `code` (answering `request_action`).
    pub async fn expect_error(&mut self, code: &str, request_action: Option<&str>) -> Value {
        let frame = self.expect("error").await;
        assert_eq!(frame["code"], code, "{frame}");
        assert!(
            frame["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{frame}"
        );
        match request_action {
            Some(action) => assert_eq!(frame["requestAction"], action, "{frame}"),
            None => assert!(frame.get("requestAction").is_none(), "{frame}"),
        }
        frame
    }

    /// Asserts that no frame arrives for a while.
    pub async fn expect_silence(&mut self) {
        let quiet = tokio::time::sleep(QUIET);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                () = &mut quiet => return,
                next = self.ws.next() => match next {
                    Some(Ok(Message::Text(text))) if self.skipped(&text) => {}
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(message)) => panic!("expected no frame, got {message:?}"),
                    Some(Err(_)) | None => return,
                },
            }
        }
    }

    /// A `presence` frame, for a client that does not see them.
    fn skipped(&self, text: &str) -> bool {
        !self.sees_presence && text.starts_with(r#"{"action":"presence","#)
    }

    /// The next JSON frame, or how the socket ended.
    pub async fn next_or_end(&mut self) -> Result<Value, Ended> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame or the end arrives in time")
            {
                Some(Ok(Message::Text(text))) if self.skipped(&text) => {}
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Ended::Closed(
                        frame.map(|CloseFrame { code, .. }| code.into()),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// Reads until the socket ends; the close code the server sent, if any.
    pub async fn expect_end(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("socket ends in time")
            {
                Some(Ok(Message::Close(frame))) => {
                    return Ended::Closed(frame.map(|CloseFrame { code, .. }| code.into()));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }

    /// Expects the catch-up of `room` from `after_seq` through `newest`: a `historyGap`
    /// first when more are missing than a catch-up sends, then each message it sends once,
    /// in order. Returns the first `seq` sent.
    pub async fn expect_catch_up(&mut self, room: &str, after_seq: u64, newest: u64) -> u64 {
        let mut first = after_seq + 1;
        if newest - after_seq > knock_protocol::limits::MAX_CATCH_UP {
            let gap = self.expect("historyGap").await;
            first = newest - knock_protocol::limits::MAX_CATCH_UP + 1;
            assert_eq!(
                (&gap["roomId"], &gap["afterSeq"], &gap["beforeSeq"]),
                (&json!(room), &json!(after_seq), &json!(first)),
                "{gap}"
            );
        }
        for seq in first..=newest {
            let message = self.expect("message").await;
            assert_eq!(
                (&message["roomId"], &message["seq"]),
                (&json!(room), &json!(seq))
            );
        }
        first
    }

    pub async fn create_room(&mut self, name: &str) -> String {
        self.send(json!({"action": "createRoom", "roomName": name}))
            .await;
        let created = self.expect("roomCreated").await;
        assert_eq!(created["roomName"], name);
        created["roomId"].as_str().unwrap().to_owned()
    }
}

/// `member` asks to join `room` and `admin` lets them in; every frame this sends to the
/// two (and the `memberChanged` frames to the room's other members in `others`) is
/// checked and drained.
pub async fn admit(
    admin: &mut Client,
    member: &mut Client,
    room: &str,
    others: &mut [&mut Client],
) {
    member
        .send(json!({"action": "joinRoom", "subAction": "request", "roomId": room}))
        .await;
    assert_eq!(member.expect("joinResponse").await["status"], "pending");
    member.expect("memberChanged").await;
    assert_eq!(
        admin.expect("joinRequest").await["userId"],
        member.user_id.as_str()
    );
    admin.expect("memberChanged").await;
    for other in others.iter_mut() {
        assert_eq!(other.expect("memberChanged").await["status"], "pending");
    }
    admin
        .send(json!({"action": "joinRoom", "subAction": "approve", "roomId": room, "targetUserId": member.user_id}))
        .await;
    assert_eq!(member.expect("joinResponse").await["status"], "approved");
    member.expect("memberChanged").await;
    admin.expect("memberChanged").await;
    for other in others.iter_mut() {
        assert_eq!(other.expect("memberChanged").await["status"], "approved");
    }
}

/// `admin` creates a room and lets `member` in; both sockets are drained afterwards.
pub async fn room_with_member(admin: &mut Client, member: &mut Client) -> String {
    let room = admin.create_room("General Chat").await;
    admit(admin, member, &room, &mut []).await;
    room
}
