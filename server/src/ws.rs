//! The WebSocket gateway: authenticate, then read frames and hand them to the service,
//! while a writer task drains the socket's queue.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    response::Response,
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use knock_protocol::{
    ClientMessage, DecodeError, ErrorCode, RoomId, ServerMessage, close_code, decode_client, limits,
};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::{
    AppState,
    error::ServiceError,
    hub::{ChatFrame, CloseReason, Outbound, Registration},
    service::SocketSession,
    storage::Storage,
};

/// Catch-up reads from storage in pages of this many messages.
const CATCH_UP_PAGE: u32 = 200;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(limits::MAX_FRAME_BYTES)
        .max_frame_size(limits::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!(
                "conn",
                conn = tracing::field::Empty,
                user = tracing::field::Empty
            );
            serve(socket, state).instrument(span)
        })
}

async fn serve(socket: WebSocket, state: AppState) {
    let (mut sink, mut stream) = socket.split();
    let signed_in = tokio::time::timeout(
        state.config.auth_timeout(),
        authenticate(&mut stream, &state),
    )
    .await;
    let (user_id, session_hash) = match signed_in {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(Refusal::Gone)) => return,
        Ok(Err(Refusal::Error(error, action))) => {
            let frame = error_frame(&error, action);
            refuse(
                &mut sink,
                frame,
                close_code::UNAUTHENTICATED,
                "unauthenticated",
            )
            .await;
            return;
        }
        Err(_elapsed) => {
            let error = ServiceError::Unauthenticated;
            let frame = error_frame(&error, None);
            refuse(
                &mut sink,
                frame,
                close_code::AUTH_TIMEOUT,
                "authentication timed out",
            )
            .await;
            return;
        }
    };

    let hub = state.service.hub().clone();
    let Registration { id, queue, close } = hub.register(&user_id, &session_hash);
    let span = tracing::Span::current();
    span.record("conn", id);
    span.record("user", user_id.as_str());
    tracing::info!("socket authenticated");

    let hello = ServerMessage::Authenticated {
        user_id: user_id.clone(),
    };
    if sink
        .send(Message::Text(hello.to_json().into()))
        .await
        .is_err()
    {
        hub.unregister(id);
        return;
    }
    let writer = tokio::spawn(
        write_loop(
            sink,
            queue,
            close.clone(),
            state.service.storage().clone(),
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
    let _ = writer.await;
    tracing::info!("socket closed");
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
) -> Result<(knock_protocol::UserId, String), Refusal> {
    loop {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                return Err(Refusal::Error(ServiceError::Unauthenticated, None));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(Refusal::Gone),
        };
        return match decode_client(&text) {
            Ok(ClientMessage::Authenticate { token }) => {
                match state.service.authenticate(&token).await {
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
    let _ = sink.send(Message::Text(frame.to_json().into())).await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}

fn error_frame(error: &ServiceError, action: Option<&str>) -> ServerMessage {
    ServerMessage::error(error.code(), error.client_message(), action)
}

async fn read_loop(
    stream: &mut SplitStream<WebSocket>,
    session: &mut SocketSession,
    state: &AppState,
    mut close: watch::Receiver<Option<CloseReason>>,
) {
    let hub = state.service.hub();
    // The writer pings every interval; a healthy client's pongs arrive well before this.
    let silence_limit = state.config.ping_interval() * 3;
    loop {
        let next = tokio::select! {
            biased;
            _ = close.changed() => return,
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
                if is_too_big(&error) {
                    tracing::info!("frame over the size limit");
                    hub.close(session.conn_id, CloseReason::FRAME_TOO_BIG);
                } else {
                    tracing::debug!(%error, "socket read failed");
                }
                return;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
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
        let reply = match decode_client(&text) {
            Ok(message) => {
                let action = message.action();
                state
                    .service
                    .handle(session, message)
                    .await
                    .map_err(|error| (error, Some(action)))
            }
            Err(DecodeError::UnknownAction { action }) => {
                let frame = ServerMessage::error(
                    ErrorCode::UnknownAction,
                    format!("unknown action {action:?}"),
                    None,
                );
                hub.send(session.conn_id, Outbound::message(&frame));
                continue;
            }
            Err(DecodeError::BadFields { action, reason }) => {
                Err((ServiceError::BadRequest(reason), Some(action)))
            }
            Err(DecodeError::NotAnAction { reason }) => Err((
                ServiceError::BadRequest(format!(
                    "expected a JSON object with a string \"action\": {reason}"
                )),
                None,
            )),
        };
        match reply {
            Ok(items) => {
                for item in items {
                    hub.send(session.conn_id, item);
                }
            }
            Err((error, action)) => {
                error.log_if_internal(action.unwrap_or("frame"));
                hub.send(
                    session.conn_id,
                    Outbound::message(&error_frame(&error, action)),
                );
            }
        }
    }
}

fn is_too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tungstenite::Error::Capacity(_)) = current.downcast_ref::<tungstenite::Error>()
        {
            return true;
        }
        source = current.source();
    }
    false
}

/// Which `seq`s of a room this socket has been sent, as one contiguous run.
#[derive(Clone, Copy, Debug)]
struct Sent {
    from: u64,
    to: u64,
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outbound>,
    mut close: watch::Receiver<Option<CloseReason>>,
    storage: Arc<dyn Storage>,
    ping_interval: Duration,
) {
    let mut sent: HashMap<RoomId, Sent> = HashMap::new();
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    let reason = loop {
        let outcome = tokio::select! {
            biased;
            _ = close.changed() => break *close.borrow(),
            item = queue.recv() => match item {
                // The reader finished (the client closed or went silent).
                None => break None,
                Some(Outbound::Frame(frame)) => sink.send(Message::Text(frame)).await.map_err(Some),
                Some(Outbound::Chat(chat)) => deliver(&mut sink, &mut sent, &chat, storage.as_ref()).await,
                Some(Outbound::CatchUp { room_id, after_seq }) => {
                    catch_up(&mut sink, &mut sent, room_id, after_seq, storage.as_ref()).await
                }
            },
            _ = ping.tick() => sink.send(Message::Ping(axum::body::Bytes::new())).await.map_err(Some),
        };
        if let Err(error) = outcome {
            if let Some(error) = error {
                tracing::debug!(%error, "socket write failed");
            }
            break None;
        }
    };
    if let Some(reason) = reason {
        tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: reason.code,
                reason: Utf8Bytes::from_static(reason.reason),
            })))
            .await;
    }
    let _ = sink.close().await;
}

type WriteResult = Result<(), Option<axum::Error>>;

/// Sends a live chat message unless this socket has it, filling any gap before it.
async fn deliver(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut HashMap<RoomId, Sent>,
    chat: &ChatFrame,
    storage: &dyn Storage,
) -> WriteResult {
    match sent.get(&chat.room_id).copied() {
        Some(run) if chat.seq <= run.to && chat.seq >= run.from => return Ok(()),
        Some(run) if chat.seq > run.to + 1 => {
            send_stored(sink, sent, &chat.room_id, run.to, chat.seq - 1, storage).await?;
        }
        _ => {}
    }
    sink.send(Message::Text(chat.frame.clone()))
        .await
        .map_err(Some)?;
    record(sent, &chat.room_id, chat.seq);
    Ok(())
}

/// `resume`: every stored message after `after_seq` that this socket was not sent yet.
async fn catch_up(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut HashMap<RoomId, Sent>,
    room_id: RoomId,
    after_seq: u64,
    storage: &dyn Storage,
) -> WriteResult {
    // The client has everything up to `after_seq`; live messages this socket was already
    // sent are not sent twice.
    let already = sent.insert(
        room_id.clone(),
        Sent {
            from: 1,
            to: after_seq,
        },
    );
    let mut cursor = after_seq;
    loop {
        let page = storage
            .messages_after(&room_id, cursor, CATCH_UP_PAGE)
            .await
            .map_err(|error| {
                tracing::error!(%error, room = %room_id, "catch-up read failed");
                None
            })?;
        let full = page.len() == CATCH_UP_PAGE as usize;
        for message in page {
            cursor = message.seq;
            let was_sent = already.is_some_and(|run| (run.from..=run.to).contains(&message.seq));
            if !was_sent {
                let frame = ServerMessage::Message(message).to_json();
                sink.send(Message::Text(frame.into())).await.map_err(Some)?;
            }
            record(sent, &room_id, cursor);
        }
        if !full {
            break;
        }
    }
    if let Some(run) = already {
        record(sent, &room_id, run.to.max(cursor));
    }
    Ok(())
}

/// Sends stored messages with `after < seq <= up_to`.
async fn send_stored(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut HashMap<RoomId, Sent>,
    room_id: &RoomId,
    after: u64,
    up_to: u64,
    storage: &dyn Storage,
) -> WriteResult {
    let mut cursor = after;
    while cursor < up_to {
        let want = u32::try_from(up_to - cursor)
            .unwrap_or(CATCH_UP_PAGE)
            .min(CATCH_UP_PAGE);
        let page = storage
            .messages_after(room_id, cursor, want)
            .await
            .map_err(|error| {
                tracing::error!(%error, room = %room_id, "gap read failed");
                None
            })?;
        if page.is_empty() {
            break;
        }
        for message in page {
            cursor = message.seq;
            if cursor > up_to {
                break;
            }
            let frame = ServerMessage::Message(message).to_json();
            sink.send(Message::Text(frame.into())).await.map_err(Some)?;
            record(sent, room_id, cursor);
        }
    }
    Ok(())
}

fn record(sent: &mut HashMap<RoomId, Sent>, room_id: &RoomId, seq: u64) {
    sent.entry(room_id.clone())
        .and_modify(|run| run.to = run.to.max(seq))
        .or_insert(Sent { from: seq, to: seq });
}
