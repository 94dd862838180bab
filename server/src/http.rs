//! HTTP: the account API, health, the WebSocket route, the web client's files, and the
//! Origin and CORS checks in front of them.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, State},
    handler::Handler,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{any, delete, get, post},
};
use knock_protocol::{
    AccountDeletion, AccountExport, AuthResponse, Credentials, LogoutRequest, PasswordChange,
    SessionList,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// The page that boots the web client with its unhashed file names, built into the
/// binary: served at `/` and for every client-side route (`/room/…`, `/join/…`) when the
/// site root has no index.html of its own, as under `cargo leptos watch`. A prepared
/// release (`scripts/prepare-site.mjs`) has one that names the content-hashed files.
const PAGE_SHELL: &str = include_str!("../../frontend/index.html");

/// Files named after their content (`/pkg/knock.<16 hex digits>.wasm`) never change.
const CACHE_IMMUTABLE: HeaderValue =
    HeaderValue::from_static("public, max-age=31536000, immutable");
/// The page shell, config.json and the client's unhashed files: revalidated on every
/// load (a cheap 304 when unchanged), so a new release or server address shows at once.
const CACHE_REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
/// Other assets (favicon.svg, robots.txt): a day, so a page load fetches them once.
const CACHE_ASSET: HeaderValue = HeaderValue::from_static("public, max-age=86400");

use std::sync::Arc;

use crate::{AppState, error::ServiceError, gateway};

pub fn router(state: AppState) -> Router {
    let allowed: Vec<HeaderValue> = state
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600));

    let api = Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/{session_id}", delete(revoke_session))
        .route("/api/password", post(change_password))
        .route("/api/account", delete(delete_account))
        .route("/api/export", get(export))
        .route("/api/rooms/{room_id}", get(room_preview))
        .route("/api/{*rest}", any(|| async { ServiceError::NotFound }))
        .route("/ws", get(gateway::upgrade))
        .layer(middleware::from_fn_with_state(state.clone(), check_origin))
        .layer(cors);

    // The client's files (pkg/, config.json, …), as .br or .gz when the build step wrote
    // one and the browser accepts it; any other path gets the page shell.
    let files = ServeDir::new(&state.config.site_root)
        .append_index_html_on_directories(false)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(page_shell.with_state(state.clone()));
    let files = Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        // Metrics are served on `--metrics-addr` only: here a scraper pointed at the wrong
        // port gets a 404, not the page shell.
        .route("/metrics", any(|| async { StatusCode::NOT_FOUND }))
        .route("/", get(page_shell))
        .merge(api)
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(SecurityHeaders::new(&state.config)),
            security_headers,
        ))
        .with_state(state)
}

/// The headers every answer carries (docs/security.md): a Content-Security-Policy the
/// client runs under (its scripts from this origin only, WebAssembly compiled, the page's
/// one inline script allowed by its hash, no framing: approving is one click, and a
/// framed page invites clickjacking), no referrer (invite links name rooms), and HSTS when
/// the server is told it is reached over TLS.
struct SecurityHeaders {
    /// The policy up to `connect-src`, which names the request's own host.
    script_policy: String,
    hsts: bool,
}

impl SecurityHeaders {
    fn new(config: &crate::config::Config) -> Self {
        // The page is the site root's index.html (whose script names the hashed files) or
        // the one built in: both inline scripts are allowed.
        let prepared = std::fs::read_to_string(config.site_root.join("index.html")).ok();
        let mut hashes: Vec<String> = [Some(PAGE_SHELL), prepared.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(inline_script)
            .map(|script| format!("'sha256-{}'", script_hash(script)))
            .collect();
        hashes.dedup();
        Self {
            script_policy: format!(
                "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {}; style-src 'self'; \
                 img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
                hashes.join(" ")
            ),
            hsts: config.hsts,
        }
    }
}

/// The text of the page's first inline script, as the browser hashes it.
fn inline_script(page: &str) -> Option<&str> {
    let start = page.find("<script type=\"module\">")? + "<script type=\"module\">".len();
    let length = page[start..].find("</script>")?;
    Some(&page[start..start + length])
}

/// The CSP hash source of a script: base64 of its SHA-256.
fn script_hash(script: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()))
}

async fn security_headers(
    State(policy): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    // The client's socket goes to the host it was served from.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        })
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let connect = host.map_or_else(String::new, |host| format!(" ws://{host} wss://{host}"));
    let csp = format!("{}; connect-src 'self'{connect}", policy.script_policy);
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Browsers send `Origin`; only the server's own origin and the configured ones may use
/// the API or open sockets. Requests without `Origin` (CLIs, bots) pass.
async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own_scheme = own_scheme(headers, state.config.trusted_proxies, state.config.hsts);
        let allowed = origin.to_str().is_ok_and(|origin| {
            origin_allowed(origin, headers, own_scheme, &state.allowed_origins)
        });
        if !allowed {
            tracing::info!(origin = ?origin, path = %request.uri().path(), "refused origin");
            return ServiceError::ForbiddenOrigin.into_response();
        }
    }
    next.run(request).await
}

/// The scheme browsers reach this server with: what the trusted proxy in front says in
/// `X-Forwarded-Proto`, else `https` when the server was told it is reached over TLS
/// (`--hsts`), else `http` (Knock itself speaks plain HTTP).
fn own_scheme(headers: &HeaderMap, trusted_proxies: usize, hsts: bool) -> &str {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
        .filter(|_| trusted_proxies > 0);
    match forwarded {
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => "https",
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => "http",
        _ if hsts => "https",
        _ => "http",
    }
}

fn origin_allowed(origin: &str, headers: &HeaderMap, own_scheme: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    // The allow-list is lower case (`Config::normalized_origins`).
    if allowed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    // The server's own origin: its scheme, and the Host header as host[:port].
    let own_host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    match (own_host, origin.split_once("://")) {
        (Some(own), Some((scheme, host))) => {
            scheme.eq_ignore_ascii_case(own_scheme) && own.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// The page shell: the site root's index.html (precompressed like the other files) when
/// there is one, else the one built in. A missing file under `/pkg/` is a 404, not the
/// page, so that a browser asking for a script or the wasm never gets HTML.
async fn page_shell(State(state): State<AppState>, request: Request) -> Response {
    if request.uri().path().starts_with("/pkg/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut index = ServeFile::new(state.config.site_root.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let mut response = match index.try_call(request).await {
        Ok(response) if response.status() != StatusCode::NOT_FOUND => response.map(Body::new),
        _ => Html(PAGE_SHELL).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, CACHE_REVALIDATE);
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Cache headers for the client's files, by path (see [`cache_control`]); the page shell
/// sets its own. `Vary: Accept-Encoding` because one URL has several encodings.
async fn cache_headers(request: Request, next: Next) -> Response {
    let policy = cache_control(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        headers.entry(header::CACHE_CONTROL).or_insert(policy);
        headers
            .entry(header::VARY)
            .or_insert(HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// How long browsers and CDNs may keep the file at `path`: a year for content-hashed
/// files under `/pkg/`, revalidation for pages, JSON and unhashed client files, a day
/// for other assets.
fn cache_control(path: &str) -> HeaderValue {
    if let Some(name) = path.strip_prefix("/pkg/") {
        return if content_hashed(name) {
            CACHE_IMMUTABLE
        } else {
            CACHE_REVALIDATE
        };
    }
    let extension = std::path::Path::new(path)
        .extension()
        .and_then(|extension| extension.to_str());
    match extension {
        Some(extension)
            if !extension.eq_ignore_ascii_case("html")
                && !extension.eq_ignore_ascii_case("json") =>
        {
            CACHE_ASSET
        }
        _ => CACHE_REVALIDATE,
    }
}

/// The names `scripts/prepare-site.mjs` gives, optionally with `.br` or `.gz`: the
/// stylesheet's `<stem>.<16 hex digits>.<ext>`, and the client's modules in the folder of
/// their build, `<16 hex digits>/<name>.<ext>` (they name each other by relative paths).
fn content_hashed(name: &str) -> bool {
    let is_hash = |s: &str| {
        s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let name = name
        .strip_suffix(".br")
        .or_else(|| name.strip_suffix(".gz"))
        .unwrap_or(name);
    if let Some((build, file)) = name.split_once('/') {
        return is_hash(build) && !file.is_empty() && !file.contains('/') && file.contains('.');
    }
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty() && is_hash(hash)
}

/// The client's address: the peer's, or, behind `trusted_proxies` proxies, the entry of
/// `X-Forwarded-For` that the outermost trusted proxy wrote (entries further left can be
/// forged by the client). `None` when the header is missing or malformed behind proxies:
/// then only the per-username limit applies.
pub(crate) fn client_address(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted_proxies: usize,
) -> Option<std::net::IpAddr> {
    if trusted_proxies == 0 {
        return Some(peer);
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_proxies)
        .and_then(|index| forwarded[index].parse().ok())
}

/// A JSON body, or `bad_request` saying what was expected.
fn json_body<T: serde::de::DeserializeOwned>(
    body: &Bytes,
    expected: &str,
) -> Result<T, ServiceError> {
    serde_json::from_slice(body)
        .map_err(|error| ServiceError::BadRequest(format!("expected {expected}: {error}")))
}

fn credentials(body: &Bytes) -> Result<Credentials, ServiceError> {
    json_body(body, r#"{"username": "…", "password": "…"}"#)
}

/// The browser's `User-Agent`, for the sessions list.
fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .filter(|agent| !agent.is_empty())
}

/// The caller of an API route that needs a session: `Authorization: Bearer TOKEN` of a
/// live session, else `401 unauthenticated`.
struct SignedIn(crate::service::Caller);

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(ServiceError::Unauthenticated)?;
        Ok(Self(state.service.authenticate(token).await?))
    }
}

/// The client's address of a request (see [`client_address`]).
fn address_of(
    state: &AppState,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
) -> Option<std::net::IpAddr> {
    client_address(peer.ip(), headers, state.config.trusted_proxies)
}

async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AuthResponse>), ServiceError> {
    let address = address_of(&state, peer, &headers);
    let signed_in = state
        .service
        .register(credentials(&body)?, address, user_agent(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(signed_in)))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AuthResponse>, ServiceError> {
    let credentials = credentials(&body)?;
    let address = address_of(&state, peer, &headers);
    Ok(Json(
        state
            .service
            .login(credentials, address, user_agent(&headers))
            .await?,
    ))
}

async fn room_preview(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(room_id): axum::extract::Path<String>,
) -> Result<Json<knock_protocol::RoomPreview>, ServiceError> {
    let address = address_of(&state, peer, &headers);
    let room_id = knock_protocol::RoomId::new(room_id);
    Ok(Json(state.service.room_preview(&room_id, address).await?))
}

async fn logout(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<StatusCode, ServiceError> {
    // The body is optional: an empty one signs out this session only.
    let request: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        json_body(&body, r#"{"everywhere": true} or nothing"#)?
    };
    state.service.logout(&caller, request.everywhere).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_sessions(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> Result<Json<SessionList>, ServiceError> {
    Ok(Json(SessionList {
        sessions: state.service.sessions(&caller).await?,
    }))
}

async fn revoke_session(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    axum::extract::Path(session_id): axum::extract::Path<String>,
) -> Result<StatusCode, ServiceError> {
    state.service.revoke_session(&caller, &session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<StatusCode, ServiceError> {
    let change: PasswordChange =
        json_body(&body, r#"{"currentPassword": "…", "newPassword": "…"}"#)?;
    let address = address_of(&state, peer, &headers);
    state
        .service
        .change_password(&caller, change, address)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_account(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<StatusCode, ServiceError> {
    let deletion: AccountDeletion = json_body(&body, r#"{"password": "…"}"#)?;
    let address = address_of(&state, peer, &headers);
    state
        .service
        .delete_account(&caller, deletion.password, address)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn export(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> Result<impl IntoResponse, ServiceError> {
    let export: AccountExport = state.service.export(&caller).await?;
    let disposition = format!(
        "attachment; filename=\"knock-{}.json\"",
        caller.user_id.as_str()
    );
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
        )],
        Json(export),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_static_hosts_headers_allow_the_page_shells_script() {
        let script = super::inline_script(super::PAGE_SHELL).expect("the shell has its script");
        let hash = format!("'sha256-{}'", super::script_hash(script));
        let nginx = include_str!("../../deploy/security-headers.conf");
        assert!(
            nginx.contains(&hash),
            "deploy/security-headers.conf lacks {hash}"
        );
        let s3 = include_str!("../../docs/deploy-s3.md");
        assert!(s3.contains(&hash), "docs/deploy-s3.md lacks {hash}");
    }

    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn cache_policy_by_path() {
        let immutable = "public, max-age=31536000, immutable";
        for (path, expected) in [
            ("/pkg/knock.0123456789abcdef.wasm", immutable),
            ("/pkg/knock.0123456789abcdef.js", immutable),
            ("/pkg/knock.0123456789abcdef.css.br", immutable),
            ("/pkg/knock.wasm", "no-cache"),
            ("/pkg/knock.0123456789ABCDEF.wasm", "no-cache"),
            ("/pkg/knock.0123456789abcde.wasm", "no-cache"),
            ("/pkg/0123456789abcdef.wasm", "no-cache"),
            ("/pkg/sub/knock.0123456789abcdef.js", "no-cache"),
            ("/pkg/0123456789abcdef/knock.wasm", immutable),
            ("/pkg/0123456789abcdef/__wasm_split.js.br", immutable),
            ("/pkg/0123456789abcdef/split_signed_in.wasm.gz", immutable),
            ("/pkg/0123456789abcdef/", "no-cache"),
            ("/pkg/0123456789abcdef/sub/knock.wasm", "no-cache"),
            ("/pkg/0123456789ABCDEF/knock.wasm", "no-cache"),
            ("/pkg/0123456789abcde/knock.wasm", "no-cache"),
            ("/", "no-cache"),
            ("/index.html", "no-cache"),
            ("/config.json", "no-cache"),
            ("/room/6f1c1a8e", "no-cache"),
            ("/favicon.svg", "public, max-age=86400"),
            ("/robots.txt", "public, max-age=86400"),
            ("/knock.0123456789abcdef.js", "public, max-age=86400"),
        ] {
            assert_eq!(cache_control(path), expected, "{path}");
        }
    }

    #[test]
    fn own_origin_is_always_allowed() {
        let plain = |origin: &str, host_header: &str| {
            origin_allowed(origin, &host(host_header), "http", &[])
        };
        assert!(plain("http://127.0.0.1:3000", "127.0.0.1:3000"));
        assert!(plain("HTTP://Chat.Example", "chat.example"));
        assert!(!plain("http://evil.example", "127.0.0.1:3000"));
        assert!(!plain("http://127.0.0.1:3001", "127.0.0.1:3000"));
        assert!(!plain("null", "127.0.0.1:3000"));
        // The scheme counts: a page on the plain-HTTP twin of a TLS site is not the site.
        assert!(!plain("https://chat.example", "chat.example"));
        assert!(origin_allowed(
            "https://chat.example",
            &host("chat.example"),
            "https",
            &[]
        ));
        assert!(!origin_allowed(
            "http://chat.example",
            &host("chat.example"),
            "https",
            &[]
        ));
    }

    #[test]
    fn the_own_scheme_comes_from_a_trusted_proxy_or_the_hsts_flag() {
        let mut headers = host("chat.example");
        assert_eq!(own_scheme(&headers, 0, false), "http");
        assert_eq!(own_scheme(&headers, 0, true), "https");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            own_scheme(&headers, 0, false),
            "http",
            "a client's word is not taken"
        );
        assert_eq!(own_scheme(&headers, 1, false), "https");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert_eq!(own_scheme(&headers, 1, true), "http");
    }

    #[test]
    fn client_address_behind_proxies() {
        let peer: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_address(peer, &headers, 0), Some(peer));
        assert_eq!(client_address(peer, &headers, 1), None);
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        // One trusted proxy appended the last entry; the first was typed by the client.
        assert_eq!(
            client_address(peer, &headers, 1),
            "203.0.113.7".parse().ok()
        );
        assert_eq!(client_address(peer, &headers, 2), "6.6.6.6".parse().ok());
        assert_eq!(client_address(peer, &headers, 3), None);
        assert_eq!(client_address(peer, &headers, 0), Some(peer));
    }

    #[test]
    fn configured_origins_are_allowed() {
        let allowed = vec!["https://chat.example.com".to_owned()];
        let listed = |origin: &str| origin_allowed(origin, &host("api:3000"), "http", &allowed);
        assert!(listed("https://chat.example.com"));
        assert!(listed("https://chat.example.com/"));
        assert!(!listed("http://chat.example.com"));
        // Host names are case-insensitive; browsers send them lower case, people may not.
        assert!(listed("https://Chat.Example.com"));
    }
}
