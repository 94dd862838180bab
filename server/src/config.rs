//! Configuration: command-line flags, each with an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

#[derive(Clone, Debug, Parser)]
#[command(
    name = "knock-server",
    version,
    about = "Knock: group chat with admin-approved rooms"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "KNOCK_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Where Knock keeps its data: `sqlite:PATH` (the file is created on first start).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:knock.db")]
    pub database_url: String,

    /// Browser origins besides the server's own that may call the API and open sockets,
    /// comma separated (for example the S3 site: `https://chat.example.com`).
    #[arg(long, env = "KNOCK_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Folder of the built web client (`cargo leptos build` writes `target/site`).
    #[arg(long, env = "KNOCK_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seconds a new socket has to authenticate before it is closed.
    #[arg(long, env = "KNOCK_AUTH_TIMEOUT_SECS", default_value_t = 10)]
    pub auth_timeout_secs: u64,

    /// Seconds between the server's pings; a socket silent for three intervals is closed.
    #[arg(long, env = "KNOCK_PING_INTERVAL_SECS", default_value_t = 30)]
    pub ping_interval_secs: u64,
}

impl Config {
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs.max(1))
    }

    /// Allowed origins without trailing slashes, empty entries dropped.
    pub fn normalized_origins(&self) -> Vec<String> {
        self.allowed_origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect()
    }
}
