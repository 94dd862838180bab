//! A PostgreSQL database of its own for each test, on the local server (or
//! `KNOCK_TEST_POSTGRES_URL`). The tests fail, never skip, when there is no server.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The PostgreSQL server for the tests: `KNOCK_TEST_POSTGRES_URL`, else the local one.
fn postgres_server_url() -> String {
    std::env::var("KNOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// `url` naming the database `database` instead of its own.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |scheme_end| scheme_end + 3);
    let server = base[authority..]
        .find('/')
        .map_or(base, |slash| &base[..authority + slash]);
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A database of its own for one test, `knock_test_<unix seconds>_<random>`, dropped when
/// this is dropped. Databases of killed runs are dropped by later runs once stale.
pub struct PostgresDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    const PREFIX: &str = "knock_test_";
    /// Older test databases are left over from killed runs (no test runs this long).
    const STALE_AFTER_SECS: u64 = 6 * 3600;

    pub async fn create() -> Self {
        let server_url = postgres_server_url();
        let mut server = PgConnection::connect(&server_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "the PostgreSQL tests need a server (KNOCK_TEST_POSTGRES_URL, by default \
                     postgres://root@127.0.0.1:5432/test): {error}"
                )
            });
        Self::drop_stale(&mut server).await;
        let name = format!(
            "{}{}_{}",
            Self::PREFIX,
            unix_seconds(),
            uuid::Uuid::new_v4().simple()
        );
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut server)
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        server.close().await.expect("close the server connection");
        Self {
            url: with_database(&server_url, &name),
            server_url,
            name,
        }
    }

    /// Best effort: another run may be dropping the same database.
    async fn drop_stale(server: &mut PgConnection) {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                .bind(Self::PREFIX)
                .fetch_all(&mut *server)
                .await
                .expect("list test databases");
        let now = unix_seconds();
        for name in names {
            let created = name[Self::PREFIX.len()..]
                .split('_')
                .next()
                .and_then(|seconds| seconds.parse::<u64>().ok());
            let ours = name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
            if ours
                && created
                    .is_some_and(|created| now.saturating_sub(created) > Self::STALE_AFTER_SECS)
            {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut *server)
                    .await;
            }
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // The test's runtime cannot block on itself here: a thread with a runtime of its
        // own. `WITH (FORCE)` closes the connections the test's pools may still hold.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    let mut server = PgConnection::connect(&server_url).await?;
                    sqlx::raw_sql(&drop_sql).execute(&mut server).await?;
                    server.close().await
                })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("cannot drop test database {}: {error}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}
