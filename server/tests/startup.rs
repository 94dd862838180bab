//! Starting the binary: what `--help` shows and which settings it refuses.

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
