//! The `/ws` route: authenticate, then read frames and hand them to the service; what
//! goes back is written by the hub's write threads or the socket's write task
//! ([`super::socket_task`]).

use axum::{
    extract::{
        ConnectInfo, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use knock_protocol::{
    ClientMessage, DecodeError, ServerMessage, close_code, decode_client, limits,
};
use tracing::Instrument;

use super::{
    frames::{CloseReason, Outbound},
    hub::Registration,
    socket_task::{CLOSE_GRACE, Replay, SocketCloseSignal, SocketSink, write_task},
};
use crate::{
    AppState,
    error::ServiceError,
    http, metrics,
    service::{SocketSession, now_ms},
    throttle::{Slot, TokenBucket},
};

/// Frames refused in a row for the rate before the socket is closed (1008).
const FLOOD_STRIKES: u32 = 200;

/// Initial size of a socket's read buffer, and the most read from the kernel at once.
/// Every open socket keeps this much for good (tungstenite never shrinks it): at 4 KiB it
/// was a third of an idle socket's memory. 512 bytes hold a typical chat frame; a larger
/// frame makes the buffer grow to its length and is read in 512-byte steps.
const READ_BUFFER_BYTES: usize = 512;

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Sockets that have not authenticated yet cost memory and a file each: one address
    // may hold only so many (an unknown address behind proxies is not capped here).
    let address = http::client_address(peer.ip(), &headers, state.config.trusted_proxies);
    let slot = match address.map(|address| state.unauthenticated.try_take(address)) {
        Some(None) => {
            metrics::refused(metrics::Refusal::UnauthenticatedPerAddress);
            return ServiceError::TooManyUnauthenticated.into_response();
        }
        Some(Some(slot)) => Some(slot),
        None => None,
    };
    ws.max_message_size(limits::MAX_FRAME_BYTES)
        .max_frame_size(limits::MAX_FRAME_BYTES)
        // tungstenite allocates its read buffer up front and zeroes its free part before
        // every read: at the default 128 KiB that was most of an idle socket's memory and
        // a fifth of the server's instructions under load (docs/benchmarks.md). Chat
        // frames are small; the buffer grows for the rare large one.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!(
                "conn",
                conn = tracing::field::Empty,
                user = tracing::field::Empty
            );
            // A task of its own: axum's upgrade future would keep its own state (the
            // upgrade, the configuration, this closure) beside the socket's for as long as
            // the socket is open.
            tokio::spawn(serve(socket, state, slot).instrument(span));
            std::future::ready(())
        })
}

/// Not `async`: an async fn keeps its arguments for as long as it runs, and the unsplit
/// socket is large.
fn serve(
    socket: WebSocket,
    state: AppState,
    slot: Option<Slot<std::net::IpAddr>>,
) -> impl Future<Output = ()> {
    let (sink, stream) = socket.split();
    serve_split(sink, stream, state, slot)
}

// A socket's task lives as long as the socket, idle most of that time, and is as large as
// its future's largest state: what runs once or rarely (signing in, answering a frame)
// is boxed, so that only what waits for frames stays.
async fn serve_split(
    mut sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    state: AppState,
    slot: Option<Slot<std::net::IpAddr>>,
) {
    let _open = metrics::socket_opened();
    let Some((registration, user_id)) = Box::pin(open(&mut sink, &mut stream, &state, slot)).await
    else {
        return;
    };
    let Registration { id, queue, close } = registration;
    let hub = state.service.hub();
    let writing = tokio::spawn(
        write_task(
            SocketSink::new(sink),
            queue,
            close.clone(),
            Replay::new(state.service.access().clone(), user_id.clone()),
            state.config.ping_interval(),
        )
        .in_current_span(),
    );

    let mut session = SocketSession {
        conn_id: id,
        user_id,
        current_room: None,
    };
    read_loop(&mut stream, &mut session, &state, close).await;
    hub.unregister(id);
    let _ = writing.await;
    // Closing a TCP socket with unread input makes the kernel reset the connection, and
    // the client would lose the close frame (and what came before it): read, and drop,
    // until the client answers the close or the grace period ends.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    tracing::debug!("socket closed");
}

/// Authenticates the socket, registers it with the hub and says hello; `None` when the
/// socket was refused or went away.
async fn open(
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    state: &AppState,
    slot: Option<Slot<std::net::IpAddr>>,
) -> Option<(Registration, knock_protocol::UserId)> {
    let signed_in =
        tokio::time::timeout(state.config.auth_timeout(), authenticate(stream, state)).await;
    let (user_id, session_hash) = match signed_in {
        Ok(Ok(caller)) => (caller.user_id, caller.token_hash),
        Ok(Err(Refusal::Gone)) => return None,
        Ok(Err(Refusal::Error(error, action))) => {
            let frame = error_frame(&error, action);
            refuse(sink, frame, close_code::UNAUTHENTICATED, "unauthenticated").await;
            return None;
        }
        Err(_elapsed) => {
            let error = ServiceError::Unauthenticated;
            let frame = error_frame(&error, None);
            refuse(
                sink,
                frame,
                close_code::AUTH_TIMEOUT,
                "authentication timed out",
            )
            .await;
            return None;
        }
    };

    let hub = state.service.hub().clone();
    if hub.sockets_of(&user_id) >= state.config.max_sockets_per_user {
        metrics::refused(metrics::Refusal::SocketsPerUser);
        let error = ServiceError::TooManySockets;
        let frame = error_frame(&error, Some("authenticate"));
        refuse(sink, frame, close_code::POLICY, "too many sockets").await;
        return None;
    }
    let registration = hub.register(&user_id, &session_hash);
    // No longer waiting to authenticate: given back before the hello, so that a client
    // that opens its next socket on reading it finds the slot free.
    drop(slot);
    let id = registration.id;
    let span = tracing::Span::current();
    span.record("conn", id);
    span.record("user", user_id.as_str());
    tracing::debug!("socket authenticated");

    let hello = ServerMessage::Authenticated {
        user_id: user_id.clone(),
    };
    if sink
        .send(Message::Text(hello.to_json().into()))
        .await
        .is_err()
    {
        hub.unregister(id);
        return None;
    }
    metrics::frame_out();
    Some((registration, user_id))
}

enum Refusal {
    /// The client went away before authenticating.
    Gone,
    Error(ServiceError, Option<&'static str>),
}

/// Waits for the `authenticate` frame; anything else first is refused.
async fn authenticate(
    stream: &mut SplitStream<WebSocket>,
    state: &AppState,
) -> Result<crate::service::Caller, Refusal> {
    loop {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                metrics::frame_in(None);
                return Err(Refusal::Error(ServiceError::Unauthenticated, None));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(Refusal::Gone),
        };
        let decoded = decode_client(&text);
        metrics::frame_in(match &decoded {
            Ok(message) => Some(message.action()),
            Err(DecodeError::BadFields { action, .. }) => Some(action),
            Err(_) => None,
        });
        return match decoded {
            Ok(ClientMessage::Authenticate { token }) => {
                match state.service.authenticate(token.as_str()).await {
                    Ok(signed_in) => Ok(signed_in),
                    Err(error) => {
                        error.log_if_internal("authenticate");
                        Err(Refusal::Error(error, Some("authenticate")))
                    }
                }
            }
            Ok(other) => Err(Refusal::Error(
                ServiceError::Unauthenticated,
                Some(other.action()),
            )),
            Err(DecodeError::BadFields { action, .. }) => {
                Err(Refusal::Error(ServiceError::Unauthenticated, Some(action)))
            }
            Err(_) => Err(Refusal::Error(ServiceError::Unauthenticated, None)),
        };
    }
}

async fn refuse(
    sink: &mut SplitSink<WebSocket, Message>,
    frame: ServerMessage,
    code: u16,
    reason: &'static str,
) {
    if sink
        .send(Message::Text(frame.to_json().into()))
        .await
        .is_ok()
    {
        metrics::frame_out();
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}

fn error_frame(error: &ServiceError, action: Option<&str>) -> ServerMessage {
    error.to_frame(action)
}

async fn read_loop(
    stream: &mut SplitStream<WebSocket>,
    session: &mut SocketSession,
    state: &AppState,
    close: SocketCloseSignal,
) {
    let hub = state.service.hub();
    // The write task pings every interval; a healthy client's pongs arrive well before this.
    let silence_limit = state.config.ping_interval() * 3;
    let frame_rate = state.config.frame_rate();
    let mut frame_budget = TokenBucket::full(frame_rate, now_ms());
    let mut strikes = 0_u32;
    loop {
        let next = tokio::select! {
            biased;
            () = close.changed() => return,
            next = tokio::time::timeout(silence_limit, stream.next()) => next,
        };
        let frame = match next {
            Err(_silent) => {
                tracing::info!("no frames or pongs for too long");
                hub.close(session.conn_id, CloseReason::SILENT);
                return;
            }
            Ok(None | Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Err(error))) => {
                if let Some(reason) = read_failure(&error) {
                    tracing::info!(%error, "refusing a frame");
                    hub.close(session.conn_id, reason);
                } else {
                    tracing::debug!(%error, "socket read failed");
                }
                return;
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(frame))) => frame,
        };
        if frame_budget.try_take(frame_rate, now_ms()) {
            strikes = 0;
        } else {
            strikes += 1;
            metrics::refused(metrics::Refusal::Frame);
            if strikes == 1 {
                let error = ServiceError::RateLimited;
                hub.send(
                    session.conn_id,
                    Outbound::message(&error_frame(&error, None)),
                );
            }
            if strikes >= FLOOD_STRIKES {
                tracing::warn!("closing a flooding socket");
                metrics::refused(metrics::Refusal::FrameFlood);
                hub.close(session.conn_id, CloseReason::FLOOD);
                return;
            }
            continue;
        }
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
                metrics::frame_in(None);
                let error = ServiceError::BadRequest(
                    "binary frames are not supported; send JSON text".into(),
                );
                hub.send(
                    session.conn_id,
                    Outbound::message(&error_frame(&error, None)),
                );
                continue;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        // Boxed: the state of a whole `Service::handle` call would otherwise be part of
        // the socket's task for as long as the socket is open.
        for item in Box::pin(answer(&text, session, state)).await {
            hub.send(session.conn_id, item);
        }
    }
}

/// Decodes and carries out one text frame; what goes back to this socket.
async fn answer(text: &str, session: &mut SocketSession, state: &AppState) -> Vec<Outbound> {
    let (result, action) = match decode_client(text) {
        Ok(message) => {
            let action = message.action();
            (state.service.handle(session, message).await, Some(action))
        }
        Err(DecodeError::UnknownAction { action }) => {
            (Err(ServiceError::UnknownAction(action)), None)
        }
        Err(DecodeError::BadFields { action, reason }) => {
            (Err(ServiceError::BadRequest(reason)), Some(action))
        }
        Err(DecodeError::NotAnAction { reason }) => (
            Err(ServiceError::BadRequest(format!(
                "expected a JSON object with a string \"action\": {reason}"
            ))),
            None,
        ),
    };
    metrics::frame_in(action);
    result.unwrap_or_else(|error| {
        error.log_if_internal(action.unwrap_or("frame"));
        vec![Outbound::message(&error_frame(&error, action))]
    })
}

/// The close to send for a frame the socket layer refused, if the client caused it.
fn read_failure(error: &axum::Error) -> Option<CloseReason> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        match current.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(_)) => return Some(CloseReason::FRAME_TOO_BIG),
            Some(tungstenite::Error::Utf8(_)) => return Some(CloseReason::INVALID_UTF8),
            _ => {}
        }
        source = current.source();
    }
    None
}
