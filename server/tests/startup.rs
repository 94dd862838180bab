//! Starting the binary: what `--help` shows and which settings it refuses.

mod common;

use std::process::{Command, Output};

fn knock_server(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_knock-server"));
    command.args(args).env_remove("KNOCK_ALLOWED_ORIGINS");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn help_does_not_print_the_passwords_in_the_environment() {
    let out = knock_server(
        &["--help"],
        &[
            (
                "DATABASE_URL",
                "postgres://knock:s3cret-db@db.internal/knock",
            ),
            ("REDIS_URL", "redis://:s3cret-redis@cache.internal:6379"),
        ],
    );
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("DATABASE_URL") && help.contains("REDIS_URL"),
        "{help}"
    );
    assert!(!help.contains("s3cret"), "{help}");
}

#[test]
fn a_wildcard_origin_is_refused_at_start_with_a_sentence_not_a_panic() {
    for origins in ["*", "https://*.example.com", "chat.example.com"] {
        let out = knock_server(
            &[
                "--allowed-origins",
                origins,
                "--database-url",
                "sqlite::memory:",
                "--addr",
                "127.0.0.1:0",
            ],
            &[],
        );
        assert!(!out.status.success(), "{origins} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not an origin"), "{origins}: {stderr}");
        assert!(stderr.contains("scheme://host[:port]"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let server = common::TestServer::start().await;
    let mut alice = server.user("alice").await;
    alice.create_room("Secrets").await;
    let mut checked = 0;
    for entry in std::fs::read_dir(server.db_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("knock.db") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the database and its WAL exist ({checked} files)"
    );
}
