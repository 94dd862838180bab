//! Where the server is: read at startup from `/config.json` beside `index.html`, so a
//! static export points at any server without a rebuild.
//!
//! `{"serverUrl": ""}` (or no file at all) means the page's own origin.

use serde::Deserialize;

/// The deploy-time settings in `config.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployConfig {
    #[serde(default)]
    pub server_url: String,
}

/// The server's HTTP base and WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    http_base: String,
    ws_url: String,
}

impl Endpoints {
    /// Derives the endpoints from the configured server URL and the page's origin.
    pub fn new(server_url: &str, page_origin: &str) -> Self {
        let server_url = server_url.trim();
        let base = if server_url.is_empty() {
            page_origin
        } else {
            server_url
        };
        let http_base = base.trim_end_matches('/').to_owned();
        let ws_base = if let Some(rest) = http_base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = http_base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            // Already ws(s):// or something unusual: use it as it is.
            http_base.clone()
        };
        Self {
            ws_url: format!("{ws_base}/ws"),
            http_base,
        }
    }

    /// The URL of an HTTP API route, e.g. `api("login")`.
    pub fn api(&self, route: &str) -> String {
        format!("{}/api/{route}", self.http_base)
    }

    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }
}

/// Reads `config.json`; any failure (no file, bad JSON) means "same origin".
pub fn parse_config(text: &str) -> DeployConfig {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_same_origin() {
        let e = Endpoints::new("", "http://127.0.0.1:3000");
        assert_eq!(e.ws_url(), "ws://127.0.0.1:3000/ws");
        assert_eq!(e.api("login"), "http://127.0.0.1:3000/api/login");
    }

    #[test]
    fn https_becomes_wss_and_slashes_are_trimmed() {
        let e = Endpoints::new(" https://chat.example.org/ ", "http://static.example.org");
        assert_eq!(e.ws_url(), "wss://chat.example.org/ws");
        assert_eq!(e.api("register"), "https://chat.example.org/api/register");
    }

    #[test]
    fn path_prefix_is_kept() {
        let e = Endpoints::new("http://h:8080/knock", "x");
        assert_eq!(e.ws_url(), "ws://h:8080/knock/ws");
        assert_eq!(e.api("logout"), "http://h:8080/knock/api/logout");
    }

    #[test]
    fn parses_config_json_leniently() {
        assert_eq!(
            parse_config(r#"{"serverUrl":"http://127.0.0.1:3000"}"#).server_url,
            "http://127.0.0.1:3000"
        );
        assert_eq!(parse_config("{}"), DeployConfig::default());
        assert_eq!(parse_config("<html>"), DeployConfig::default());
    }
}
