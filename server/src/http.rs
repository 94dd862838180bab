//! HTTP: the account API, health, the WebSocket route, the web client's files, and the
//! Origin and CORS checks in front of them.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, Request, State},
    handler::HandlerWithoutStateExt,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{any, get, post},
};
use knock_protocol::{AuthResponse, Credentials};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
};

/// The page that boots the web client, built into the binary so that it always matches
/// it: served at `/` and for every client-side route (`/room/…`, `/join/…`).
const PAGE_SHELL: &str = include_str!("../../frontend/index.html");

use crate::{AppState, error::ServiceError, ws};

pub fn router(state: AppState) -> Router {
    let allowed: Vec<HeaderValue> = state
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600));

    let api = Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/{*rest}", any(|| async { ServiceError::NotFound }))
        .route("/ws", get(ws::upgrade))
        .layer(middleware::from_fn_with_state(state.clone(), check_origin))
        .layer(cors);

    // The client's files (pkg/, config.json, …); any other path gets the page shell.
    let files = ServeDir::new(&state.config.site_root)
        .append_index_html_on_directories(false)
        .fallback(page_shell.into_service());

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", get(page_shell))
        .merge(api)
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// Browsers send `Origin`; only the server's own origin and the configured ones may use
/// the API or open sockets. Requests without `Origin` (CLIs, bots) pass.
async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| origin_allowed(origin, headers, &state.allowed_origins));
        if !allowed {
            tracing::info!(origin = ?origin, path = %request.uri().path(), "refused origin");
            return ServiceError::ForbiddenOrigin.into_response();
        }
    }
    next.run(request).await
}

fn origin_allowed(origin: &str, headers: &HeaderMap, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|allowed| allowed == origin) {
        return true;
    }
    // The server's own origin: scheme://host[:port] where host[:port] is the Host header.
    let own_host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((own_host, origin_host), (Some(own), Some(host)) if own.eq_ignore_ascii_case(host))
}

async fn page_shell() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(PAGE_SHELL),
    )
}

/// The client's address: the peer's, or, behind `trusted_proxies` proxies, the entry of
/// `X-Forwarded-For` that the outermost trusted proxy wrote (entries further left can be
/// forged by the client). `None` when the header is missing or malformed behind proxies:
/// then only the per-username limit applies.
fn client_address(
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

fn credentials(body: &Bytes) -> Result<Credentials, ServiceError> {
    serde_json::from_slice(body).map_err(|error| {
        ServiceError::BadRequest(format!(
            "expected {{\"username\": \"…\", \"password\": \"…\"}}: {error}"
        ))
    })
}

async fn register(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<AuthResponse>), ServiceError> {
    let signed_in = state.service.register(credentials(&body)?).await?;
    Ok((StatusCode::CREATED, Json(signed_in)))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AuthResponse>, ServiceError> {
    let credentials = credentials(&body)?;
    let address = client_address(peer.ip(), &headers, state.config.trusted_proxies);
    Ok(Json(state.service.login(credentials, address).await?))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ServiceError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(ServiceError::Unauthenticated)?;
    state.service.logout(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn own_origin_is_always_allowed() {
        assert!(origin_allowed(
            "http://127.0.0.1:3000",
            &host("127.0.0.1:3000"),
            &[]
        ));
        assert!(origin_allowed(
            "https://chat.example",
            &host("chat.example"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            &host("127.0.0.1:3000"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:3001",
            &host("127.0.0.1:3000"),
            &[]
        ));
        assert!(!origin_allowed("null", &host("127.0.0.1:3000"), &[]));
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
        assert!(origin_allowed(
            "https://chat.example.com",
            &host("api:3000"),
            &allowed
        ));
        assert!(origin_allowed(
            "https://chat.example.com/",
            &host("api:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            "http://chat.example.com",
            &host("api:3000"),
            &allowed
        ));
    }
}
