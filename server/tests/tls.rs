//! TLS to PostgreSQL and to Redis, and Redis with a password or an ACL user: the real
//! binary against the machine's PostgreSQL (`ssl = on`, as on CI) and `redis-server`
//! processes of the test's own, with certificates the test makes. Nothing is skipped: a
//! missing prerequisite fails with a sentence naming it.

mod common;

use std::{
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{TestServer, admit, postgres::PostgresDatabase};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A CA of the test's own and a server certificate it signed for 127.0.0.1 and localhost,
/// as PEM files in a folder of their own.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("Knock test CA {}", uuid::Uuid::new_v4()),
        );
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Self { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The environment in which this CA is the only one of the system (rustls-native-certs
    /// reads these two variables before /etc/ssl/certs). Debian links its snakeoil
    /// certificate, PostgreSQL's here, into /etc/ssl/certs, so with the machine's store every
    /// check of PostgreSQL's certificate would pass and `sslrootcert` would prove nothing.
    fn as_the_system_store(&self) -> [(&'static str, String); 2] {
        [
            ("SSL_CERT_FILE", self.file("ca.pem")),
            ("SSL_CERT_DIR", String::new()),
        ]
    }
}

/// `env` as the harness takes it.
fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own on a free port, over TLS with `pki`'s certificate
/// (and nothing else) when given; `config` adds configuration (`--requirepass`, `--user`).
struct Redis {
    port: u16,
    child: Child,
    _log_dir: tempfile::TempDir,
}

impl Redis {
    fn start(tls: Option<&Pki>, config: &[&str]) -> Self {
        let port = free_port();
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log = log_dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match tls {
            None => {
                command.args(["--port", &port.to_string()]);
            }
            Some(pki) => {
                command
                    .args(["--port", "0", "--tls-port", &port.to_string()])
                    .args(["--tls-cert-file", &pki.file("server.pem")])
                    .args(["--tls-key-file", &pki.file("server.key")])
                    .args(["--tls-ca-cert-file", &pki.file("ca.pem")])
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        let mut child = command
            .args(config)
            .args(["--logfile", &log.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("these tests need redis-server (built with TLS, as Debian's is) on PATH");
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "redis-server {} exited ({status}); a build without TLS refuses --tls-port: \
                     {stderr}{log}",
                    if tls.is_some() { "with TLS" } else { "" }
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    port,
                    child,
                    _log_dir: log_dir,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on port {port} within 5 s");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args`, which must make it stop with an error before it serves;
/// what it printed (its log and the error).
fn refused_at_start(args: &[&str]) -> String {
    refused_at_start_with_env(args, &[])
}

fn refused_at_start_with_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_knock-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .env_remove("KNOCK_ALLOWED_ORIGINS")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("KNOCK_REDIS_CA_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start knock-server");
    let pid = child.id();
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = output.recv_timeout(Duration::from_secs(60)) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("knock-server {args:?} was still running after 60 s: it should have refused");
    };
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "knock-server {args:?} exited 0: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Whether this connection to PostgreSQL is encrypted, as the server sees it.
async fn uses_tls(connection: &mut PgConnection) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(connection)
        .await
        .expect("pg_stat_ssl")
}

/// A Knock server on `url` (the test database `database`, reached over TLS), with `env`,
/// serves a register, login and room round trip, and every connection it holds to the
/// database is encrypted, as PostgreSQL sees them.
async fn serves_over_tls(database: &PostgresDatabase, url: &str, env: &[(&str, &str)]) {
    let server = TestServer::start_with_env(Some(url), &[], env).await;
    let mut alice = server.user("alice").await;
    alice.create_room("Encrypted").await;
    let login: Value = reqwest::Client::new()
        .post(server.url("/api/login"))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = server.socket(login["token"].as_str().unwrap()).await;
    assert_eq!(again.user_id, alice.user_id);

    // A connection of the test's own in the clear, to the same database: PostgreSQL takes
    // both, so it is the URL that asked for TLS.
    let mut observer = PgConnection::connect(&with_params(&database.url, "sslmode=disable"))
        .await
        .unwrap();
    assert!(!uses_tls(&mut observer).await);
    let servers: Vec<bool> = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_all(&mut observer)
    .await
    .unwrap();
    assert!(!servers.is_empty(), "the server holds connections");
    assert!(
        servers.iter().all(|ssl| *ssl),
        "every connection of the server is encrypted: {servers:?}"
    );
    observer.close().await.unwrap();

    // sqlx, connecting with the same URL as the server, gets TLS.
    let mut same = PgConnection::connect(url).await.unwrap();
    assert!(uses_tls(&mut same).await);
    same.close().await.unwrap();
}

#[tokio::test]
async fn sslmode_require_encrypts_every_connection_to_postgresql() {
    let database = PostgresDatabase::create().await;
    let url = with_params(&database.url, "sslmode=require");
    serves_over_tls(&database, &url, &[]).await;
}

/// `database` over `verify-full` at `host`, trusting `root`; the user is given the password
/// `password` (trust authentication ignores it, but it must never be printed).
fn verify_full_url(database: &PostgresDatabase, host: &str, root: &str, password: &str) -> String {
    let url = database
        .url
        .replacen("@127.0.0.1:", &format!(":{password}@{host}:"), 1);
    assert!(
        url.contains(host),
        "these tests need PostgreSQL at 127.0.0.1: {}",
        database.url
    );
    with_params(&url, &format!("sslmode=verify-full&sslrootcert={root}"))
}

/// PostgreSQL's own certificate file (`ssl_cert_file`), which on these machines is Debian's
/// self-signed snakeoil certificate, made out to `localhost`.
async fn postgres_certificate(database: &PostgresDatabase) -> String {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let cert_file: String = sqlx::query_scalar("SELECT current_setting('ssl_cert_file')")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert!(
        std::fs::read(&cert_file).is_ok(),
        "these tests need PostgreSQL's certificate {cert_file} readable, as Debian's snakeoil is"
    );
    cert_file
}

/// The server's system store holds one CA of the test's own, so that only `sslrootcert`
/// can make PostgreSQL's certificate trusted.
#[tokio::test]
async fn sslmode_verify_full_accepts_the_certificate_its_root_signed() {
    let database = PostgresDatabase::create().await;
    let cert_file = postgres_certificate(&database).await;
    let url = verify_full_url(&database, "localhost", &cert_file, "s3cret-pg");
    if let Err(error) = PgConnection::connect(&url).await {
        panic!(
            "this test needs PostgreSQL's certificate {cert_file} to be made out to \
             localhost (Debian's snakeoil certificate on these machines): {error}"
        );
    }
    let system = Pki::new().as_the_system_store();
    serves_over_tls(&database, &url, &env_refs(&system)).await;
}

#[tokio::test]
async fn sslmode_verify_full_with_another_root_or_host_is_refused_at_start() {
    let database = PostgresDatabase::create().await;
    let cert_file = postgres_certificate(&database).await;
    let system = Pki::new().as_the_system_store();
    let other = Pki::new();
    let other_root = other.ca().display().to_string();
    for (url, expected) in [
        // A root that did not sign PostgreSQL's certificate.
        (
            verify_full_url(&database, "localhost", &other_root, "s3cret-pg"),
            "UnknownIssuer",
        ),
        // The right root, but the certificate names localhost, not 127.0.0.1.
        (
            verify_full_url(&database, "127.0.0.1", &cert_file, "s3cret-pg"),
            "not valid for name \"127.0.0.1\"",
        ),
    ] {
        let stderr = refused_at_start_with_env(&["--database-url", &url], &env_refs(&system));
        assert!(stderr.contains("cannot open the database"), "{stderr}");
        assert!(stderr.contains("sslmode=verify-full"), "{stderr}");
        assert!(stderr.contains("invalid peer certificate"), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

/// Two nodes on one PostgreSQL database and the Redis at `redis_args`: a message sent on
/// one reaches a member on the other.
async fn two_nodes_deliver_through(redis_args: &[&str]) {
    let database = PostgresDatabase::create().await;
    let a = TestServer::start_on(Some(&database.url), redis_args).await;
    let b = TestServer::start_on(Some(&database.url), redis_args).await;
    let mut alice = a.user("alice").await;
    let mut bob = b.user("bob").await;
    let room = alice.create_room("Across nodes").await;
    admit(&mut alice, &mut bob, &room, &mut []).await;
    alice
        .send(json!({"action": "sendMessage", "roomId": room, "message": "through Redis"}))
        .await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.expect("message").await["message"], "through Redis");
    }
    bob.send(json!({"action": "sendMessage", "roomId": room, "message": "and back"}))
        .await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.expect("message").await["message"], "and back");
    }
}

#[tokio::test]
async fn two_nodes_deliver_through_a_redis_with_a_password() {
    let redis = Redis::start(None, &["--requirepass", "s3cret-redis"]);
    let url = format!("redis://:s3cret-redis@127.0.0.1:{}", redis.port);
    two_nodes_deliver_through(&["--redis-url", &url]).await;
}

/// Redis over TLS only, as a user with only what Knock needs (docs/deploy.md), the default
/// user off, the certificate checked against the test's CA.
#[tokio::test]
async fn two_nodes_deliver_through_redis_over_tls_as_an_acl_user() {
    let pki = Pki::new();
    let redis = Redis::start(
        Some(&pki),
        &[
            "--user",
            "default",
            "off",
            "--user",
            "knock",
            "on",
            ">s3cret-redis",
            "resetchannels",
            "&knock:*",
            "resetkeys",
            "~knock:login:*",
            "-@all",
            "+publish",
            "+subscribe",
            "+unsubscribe",
            "+ping",
            "+evalsha",
            "+script|load",
            "+incr",
            "+decr",
            "+pexpire",
            "+pttl",
            "+get",
            "+del",
        ],
    );
    let url = format!("rediss://knock:s3cret-redis@127.0.0.1:{}", redis.port);
    let ca = pki.ca().display().to_string();
    two_nodes_deliver_through(&["--redis-url", &url, "--redis-ca-file", &ca]).await;
}

#[test]
fn a_redis_that_refuses_the_node_stops_it_at_start_without_printing_the_password() {
    let with_password = Redis::start(None, &["--requirepass", "s3cret-right"]);
    let pki = Pki::new();
    let over_tls = Redis::start(Some(&pki), &["--requirepass", "s3cret-right"]);
    let other = Pki::new();
    let plain = |auth: &str| format!("redis://{auth}127.0.0.1:{}", with_password.port);
    let tls = |auth: &str| format!("rediss://{auth}127.0.0.1:{}", over_tls.port);
    let cases: [(String, Option<PathBuf>, &str); 6] = [
        (
            plain(":s3cret-wrong@"),
            None,
            "Password authentication failed",
        ),
        (
            plain("knock:s3cret-wrong@"),
            None,
            "Password authentication failed",
        ),
        (plain(""), None, "NOAUTH"),
        // The system's CAs, and then another CA, did not sign the test's certificate.
        (tls(":s3cret-right@"), None, "UnknownIssuer"),
        (tls(":s3cret-right@"), Some(other.ca()), "UnknownIssuer"),
        (
            format!("{}/#insecure", tls(":s3cret-right@")),
            None,
            "#insecure (no certificate check) is not supported",
        ),
    ];
    for (url, ca, expected) in &cases {
        let mut args = vec!["--database-url", "sqlite::memory:", "--redis-url", url];
        let ca = ca.as_deref().map(Path::display).map(|ca| ca.to_string());
        if let Some(ca) = &ca {
            args.extend(["--redis-ca-file", ca]);
        }
        let stderr = refused_at_start(&args);
        // Named by its URL, the user name and password left out.
        let shown = match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) => format!("{}://***{}", &url[..scheme], &url[at..]),
            _ => url.clone(),
        };
        assert!(stderr.contains(&shown), "{shown}: {stderr}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{url}: {stderr}");
    }

    // The CA file is for TLS only; a missing one is named.
    let stderr = refused_at_start(&[
        "--database-url",
        "sqlite::memory:",
        "--redis-url",
        &plain(":s3cret-right@"),
        "--redis-ca-file",
        &pki.ca().display().to_string(),
    ]);
    assert!(stderr.contains("use a rediss:// URL"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let stderr = refused_at_start(&[
        "--database-url",
        "sqlite::memory:",
        "--redis-url",
        &tls(":s3cret-right@"),
        "--redis-ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert!(
        stderr.contains("cannot read the Redis CA file /nonexistent/ca.pem"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
