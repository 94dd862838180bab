//! How the server delivers the web client: the precompressed copies that the build step
//! (`scripts/prepare-site.mjs`) writes, chosen by `Accept-Encoding`, and cache headers
//! (a year for content-hashed files, revalidation for the page shell and config.json).
//! Each test prepares its own site root, the way the build step lays it out.

mod common;

use std::path::Path;

use common::TestServer;
use reqwest::{StatusCode, header::HeaderMap};

const HASHED: &str = "knock.0123456789abcdef.wasm";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A prepared site: a content-hashed file with its .br and .gz copies (their bodies say
/// which one was served), the page shell naming it with its copies, config.json, a
/// favicon.
fn prepare(site: &Path) {
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join(HASHED), "identity wasm").unwrap();
    std::fs::write(pkg.join(format!("{HASHED}.br")), "brotli wasm").unwrap();
    std::fs::write(pkg.join(format!("{HASHED}.gz")), "gzip wasm").unwrap();
    let shell = format!("<!doctype html><title>Knock</title><script>/pkg/{HASHED}</script>");
    std::fs::write(site.join("index.html"), &shell).unwrap();
    std::fs::write(site.join("index.html.br"), "brotli shell").unwrap();
    std::fs::write(site.join("index.html.gz"), "gzip shell").unwrap();
    std::fs::write(site.join("config.json"), r#"{"serverUrl": ""}"#).unwrap();
    std::fs::write(site.join("favicon.svg"), "<svg/>").unwrap();
}

async fn get(
    server: &TestServer,
    path: &str,
    accept_encoding: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(accept) = accept_encoding {
        request = request.header("accept-encoding", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn precompressed_files_by_accept_encoding() {
    let server = TestServer::start().await;
    prepare(&server.db_dir());
    let path = format!("/pkg/{HASHED}");
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), "brotli wasm"),
        (Some("br"), Some("br"), "brotli wasm"),
        (Some("gzip"), Some("gzip"), "gzip wasm"),
        (Some("gzip;q=1, br;q=0"), Some("gzip"), "gzip wasm"),
        (Some("identity"), None, "identity wasm"),
        (None, None, "identity wasm"),
    ] {
        let (status, headers, text) = get(&server, &path, accept).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert_eq!(header(&headers, "content-encoding"), encoding, "{accept:?}");
        assert_eq!(text, body, "{accept:?}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/wasm"),
            "{accept:?}"
        );
        assert_eq!(
            header(&headers, "cache-control"),
            Some(IMMUTABLE),
            "{accept:?}"
        );
        assert_eq!(
            header(&headers, "vary"),
            Some("accept-encoding"),
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn cache_headers_for_the_shell_config_and_assets() {
    let server = TestServer::start().await;
    prepare(&server.db_dir());
    // Every client route gets the prepared shell, revalidated on each load.
    for path in [
        "/",
        "/room/6f1c1a8e-0d7b-4c55-9f0b-1d2f3a4b5c6d",
        "/join/abc",
        "/index.html",
    ] {
        let (status, headers, text) = get(&server, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            header(&headers, "cache-control"),
            Some("no-cache"),
            "{path}"
        );
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(text.contains(&format!("/pkg/{HASHED}")), "{path}: {text}");
        let (_, headers, text) = get(&server, path, Some("gzip, br")).await;
        assert_eq!(header(&headers, "content-encoding"), Some("br"), "{path}");
        assert_eq!(text, "brotli shell", "{path}");
        assert_eq!(
            header(&headers, "cache-control"),
            Some("no-cache"),
            "{path}"
        );
        let (_, headers, text) = get(&server, path, Some("gzip")).await;
        assert_eq!(header(&headers, "content-encoding"), Some("gzip"), "{path}");
        assert_eq!(text, "gzip shell", "{path}");
    }
    let (status, headers, text) = get(&server, "/config.json", Some("gzip, br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(text, r#"{"serverUrl": ""}"#);
    // Unhashed assets: kept a day, so one page load fetches the favicon once.
    let (status, headers, _) = get(&server, "/favicon.svg", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=86400")
    );
    // A file missing under /pkg/ is a 404, never the page shell (and never cached).
    let (status, headers, _) = get(&server, "/pkg/knock.fedcba9876543210.wasm", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ne!(header(&headers, "cache-control"), Some(IMMUTABLE));
}

#[tokio::test]
async fn unprepared_site_gets_the_built_in_shell() {
    // As under `cargo leptos watch`: no index.html, the unhashed files.
    let server = TestServer::start().await;
    let pkg = server.db_dir().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("knock.wasm"), "dev wasm").unwrap();
    let (status, headers, text) = get(&server, "/room/abc", Some("gzip, br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    assert!(text.contains("/pkg/knock.wasm"), "{text}");
    let (status, headers, text) = get(&server, "/pkg/knock.wasm", Some("gzip, br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    assert_eq!(text, "dev wasm");
}
