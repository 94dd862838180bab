//! A socket's write half and the task that writes to it when the hub's write threads
//! cannot (see [`super::mailbox`]): pings, the close, catch-ups and gaps read from
//! storage, and a client too slow to take frames without waiting.

use std::{
    collections::HashMap,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{Sink, SinkExt, stream::SplitSink};
use knock_protocol::{RoomId, ServerMessage, UserId};

use super::{
    frames::{ChatFrame, CloseReason, Outbound},
    mailbox::{CloseSignal, DirectWrite, Queue},
};
use crate::{access::RoomAccess, domain, metrics, storage::Storage};

/// Catch-up reads the room's log (messages, edits, deletions) from storage in pages of
/// this many entries.
const CATCH_UP_PAGE: u32 = 200;
/// Most queued frames the task writes in a row before the close signal is looked at.
const WRITE_BURST: usize = 256;
/// How long a closing socket gets to take its last frames and the close frame.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A socket task's end of its mailbox.
pub type SocketQueue = Queue<SocketSink>;
/// Tells a socket's read and write tasks that the server wants it closed.
pub(crate) type SocketCloseSignal = CloseSignal<SocketSink>;

/// Per room, the run of `seq`s a socket was sent. Room ids are hashed on every delivery;
/// foldhash is fast and randomly seeded.
type SentRuns = HashMap<RoomId, Sent, foldhash::fast::RandomState>;

/// A socket's write half and what it has been sent.
pub struct SocketSink {
    sink: SplitSink<WebSocket, Message>,
    sent: SentRuns,
}

impl SocketSink {
    pub(crate) fn new(sink: SplitSink<WebSocket, Message>) -> Self {
        Self {
            sink,
            sent: SentRuns::default(),
        }
    }
}

/// What to do with a live chat message, from what this socket was sent of its room.
enum ChatPlan {
    /// Sent already (it was caught up from storage first).
    Skip,
    /// Send it, after the stored messages from this `seq` on that it missed.
    FillGapFrom(u64),
    Send,
}

fn plan(sent: &SentRuns, chat: &ChatFrame) -> ChatPlan {
    match sent.get(&chat.room_id) {
        Some(run) if (run.from..=run.to).contains(&chat.seq) => ChatPlan::Skip,
        Some(run) if chat.seq > run.to + 1 => ChatPlan::FillGapFrom(run.to),
        _ => ChatPlan::Send,
    }
}

impl DirectWrite for SocketSink {
    fn try_feed(&mut self, item: &Outbound) -> bool {
        let frame = match item {
            Outbound::Frame(frame) => frame,
            Outbound::Chat(chat) => match plan(&self.sent, chat) {
                ChatPlan::Skip => return true,
                ChatPlan::FillGapFrom(_) => return false,
                ChatPlan::Send => &chat.frame,
            },
            Outbound::CatchUp { .. } | Outbound::Resync => return false,
        };
        // Nobody is woken when the socket becomes writable: a caller that gets `false`
        // wakes the socket's task, which polls again with its own waker.
        let mut context = Context::from_waker(Waker::noop());
        // Not ready: the previous frame is still waiting for the socket, or the reader
        // holds the socket for a moment.
        if !matches!(
            Pin::new(&mut self.sink).poll_ready(&mut context),
            Poll::Ready(Ok(()))
        ) {
            return false;
        }
        // Only stored by the split half here; errors show on the flush.
        if Pin::new(&mut self.sink)
            .start_send(Message::Text(frame.clone()))
            .is_err()
        {
            return false;
        }
        if let Outbound::Chat(chat) = item {
            record(&mut self.sent, &chat.room_id, chat.seq);
        }
        metrics::frame_out();
        true
    }

    fn try_flush(&mut self) -> bool {
        let mut context = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.sink).poll_flush(&mut context),
            Poll::Ready(Ok(()))
        )
    }
}

/// Which `seq`s of a room this socket has been sent, as one contiguous run.
#[derive(Clone, Copy, Debug)]
struct Sent {
    from: u64,
    to: u64,
}

/// What a socket's catch-ups read with: the room access, asked for this socket's user
/// before a room's stored messages are read, and the storage behind it.
pub(crate) struct Replay {
    access: RoomAccess,
    user_id: UserId,
}

impl Replay {
    pub(crate) fn new(access: RoomAccess, user_id: UserId) -> Self {
        Self { access, user_id }
    }

    /// Whether the user may receive the room now ([`RoomAccess::may_receive`]).
    async fn may_receive(&self, room_id: &RoomId) -> Result<bool, Option<axum::Error>> {
        self.access
            .may_receive(room_id, &self.user_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, room = %room_id, "access check failed");
                None
            })
    }

    fn storage(&self) -> &dyn Storage {
        self.access.storage().as_ref()
    }
}

/// The socket's write task. Between wake-ups its write half is parked in the mailbox for
/// the write threads; it takes it back when they leave it work, to ping, and to close.
pub(crate) async fn write_task(
    sink: SocketSink,
    queue: SocketQueue,
    close: SocketCloseSignal,
    replay: Replay,
    ping_interval: Duration,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    // `Some` while this task holds the write half, `None` while it is parked.
    let mut held = Some(sink);
    let reason = loop {
        // A write to a client that stopped reading can wait forever; a close wins over it.
        let outcome = tokio::select! {
            biased;
            () = close.changed() => break close.reason(),
            outcome = turn(&mut held, &queue, &mut ping, &replay) => outcome,
        };
        match outcome {
            Ok(true) => {}
            // The reader finished (the client closed or went silent).
            Ok(false) => break None,
            Err(error) => {
                if let Some(error) = error {
                    tracing::debug!(%error, "socket write failed");
                }
                break None;
            }
        }
    };
    let half = match held {
        Some(half) => Some(half),
        None => queue.take_write_half().await,
    };
    let Some(SocketSink { mut sink, mut sent }) = half else {
        return;
    };
    if let Some(reason) = reason {
        tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
        let goodbye = async {
            // Frames queued before the close (say, the error that explains it) go first,
            // except for a client too slow to take them.
            if reason != CloseReason::TOO_SLOW {
                while let Some(item) = queue.try_recv() {
                    if write(&mut sink, &mut sent, item, &replay).await.is_err() {
                        return;
                    }
                }
            }
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: reason.code,
                    reason: Utf8Bytes::from_static(reason.reason),
                })))
                .await;
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, Box::pin(goodbye)).await;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
}

/// One turn of the write task: while the write half is parked, waits for work the write
/// threads left or for the next ping; then writes up to a burst of what is queued and
/// parks the write half again, unless more is queued. False once the reader finished.
async fn turn(
    held: &mut Option<SocketSink>,
    queue: &SocketQueue,
    ping: &mut tokio::time::Interval,
    replay: &Replay,
) -> Result<bool, Option<axum::Error>> {
    let mut pinging = false;
    if held.is_none() {
        pinging = tokio::select! {
            biased;
            woken = queue.woken() => {
                if !woken {
                    return Ok(false);
                }
                false
            }
            _ = ping.tick() => true,
        };
        *held = queue.take_write_half().await;
    }
    let Some(SocketSink { sink, sent }) = held.as_mut() else {
        return Ok(false);
    };
    if pinging {
        sink.feed(Message::Ping(axum::body::Bytes::new()))
            .await
            .map_err(Some)?;
    }
    // Boxed (once per wake-up, not per frame): writing may read storage, and that state
    // would otherwise be part of every idle socket's task.
    Box::pin(write_burst(sink, sent, queue, replay)).await?;
    if let Some(half) = held.take()
        && let Err(half) = queue.park(half)
    {
        *held = Some(half);
    }
    Ok(true)
}

/// Writes up to a burst of what is queued, fed unflushed, then flushes (also what the
/// write threads left unflushed): one system call carries many frames.
async fn write_burst(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    queue: &SocketQueue,
    replay: &Replay,
) -> WriteResult {
    for _ in 0..WRITE_BURST {
        let Some(item) = queue.try_recv() else { break };
        write(sink, sent, item, replay).await?;
    }
    sink.flush().await.map_err(Some)
}

async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    item: Outbound,
    replay: &Replay,
) -> WriteResult {
    match item {
        Outbound::Frame(frame) => {
            sink.feed(Message::Text(frame)).await.map_err(Some)?;
            metrics::frame_out();
            Ok(())
        }
        Outbound::Chat(chat) => deliver(sink, sent, &chat, replay).await,
        Outbound::CatchUp { room_id, after_seq } => {
            catch_up(sink, sent, room_id, after_seq, replay).await
        }
        Outbound::Resync => {
            // Every room this socket was sent; `catch_up` asks, room by room, whether the
            // user may still receive it.
            let rooms: Vec<(RoomId, u64)> = sent
                .iter()
                .map(|(room, run)| (room.clone(), run.to))
                .collect();
            for (room_id, last) in rooms {
                catch_up(sink, sent, room_id, last, replay).await?;
            }
            Ok(())
        }
    }
}

type WriteResult = Result<(), Option<axum::Error>>;

/// Sends a live chat message unless this socket has it, filling any gap before it. The
/// message was addressed to those who may receive its room when it was fanned out, and
/// the gap is of the same room: neither is asked about again.
async fn deliver(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    chat: &ChatFrame,
    replay: &Replay,
) -> WriteResult {
    match plan(sent, chat) {
        ChatPlan::Skip => return Ok(()),
        ChatPlan::FillGapFrom(after) => {
            let up_to = chat.seq - 1;
            let start = domain::catch_up_after(after, up_to);
            if start > after {
                skip_gap(sink, sent, &chat.room_id, after, start).await?;
            }
            send_stored(sink, sent, &chat.room_id, start, up_to, replay).await?;
        }
        ChatPlan::Send => {}
    }
    sink.feed(Message::Text(chat.frame.clone()))
        .await
        .map_err(Some)?;
    metrics::frame_out();
    record(sent, &chat.room_id, chat.seq);
    Ok(())
}

/// `resume`: every entry of the room's log (messages, edits, deletions) after `after_seq`
/// that this socket was not sent yet,
/// if the user may receive the room now (asked first, as a resync asks for each room);
/// of a long run only the newest [`knock_protocol::limits::MAX_CATCH_UP`], after a `historyGap`.
async fn catch_up(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    room_id: RoomId,
    after_seq: u64,
    replay: &Replay,
) -> WriteResult {
    if !replay.may_receive(&room_id).await? {
        return Ok(());
    }
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
    let mut capped = false;
    loop {
        // What this socket was sent already is not read again: a `resume` that names a
        // room it is up to date on costs no read at all.
        if let Some(run) = already
            && cursor + 1 >= run.from
        {
            cursor = cursor.max(run.to);
        }
        let page = replay
            .storage()
            .log_after(&room_id, cursor, CATCH_UP_PAGE)
            .await
            .map_err(|error| {
                tracing::error!(%error, room = %room_id, "catch-up read failed");
                None
            })?;
        // A full first page may be the start of a run longer than a catch-up sends: the
        // room's newest `seq` says (a short catch-up, the usual one, costs no extra read).
        if !capped && page.len() == CATCH_UP_PAGE as usize {
            capped = true;
            let newest = newest_seq(replay, &room_id).await?;
            let start = domain::catch_up_after(cursor, newest);
            if start > cursor {
                skip_gap(sink, sent, &room_id, cursor, start).await?;
                cursor = start;
                continue;
            }
        }
        // Asked again for every page: access taken back while a long catch-up runs stops
        // it before the next page goes out.
        if !replay.may_receive(&room_id).await? {
            break;
        }
        let full = page.len() == CATCH_UP_PAGE as usize;
        for entry in page {
            cursor = entry.seq();
            let was_sent = already.is_some_and(|run| (run.from..=run.to).contains(&cursor));
            if !was_sent {
                let frame = entry.into_frame().to_json();
                sink.feed(Message::Text(frame.into())).await.map_err(Some)?;
                metrics::frame_out();
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

/// The `seq` of the room's newest stored message.
async fn newest_seq(replay: &Replay, room_id: &RoomId) -> Result<u64, Option<axum::Error>> {
    let room = replay.storage().room(room_id).await.map_err(|error| {
        tracing::error!(%error, room = %room_id, "catch-up read failed");
        None
    })?;
    Ok(room.map_or(0, |room| room.last_seq))
}

/// Tells the client that the messages with `after < seq <= start` are not sent
/// (`historyGap`: it pages them with `getHistory`); what this socket was sent of the room
/// starts again after them.
async fn skip_gap(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    room_id: &RoomId,
    after: u64,
    start: u64,
) -> WriteResult {
    let frame = ServerMessage::HistoryGap {
        room_id: room_id.clone(),
        after_seq: after,
        before_seq: start + 1,
    }
    .to_json();
    sink.feed(Message::Text(frame.into())).await.map_err(Some)?;
    metrics::frame_out();
    sent.insert(
        room_id.clone(),
        Sent {
            from: start + 1,
            to: start,
        },
    );
    Ok(())
}

/// Sends the room's stored log entries with `after < seq <= up_to`.
async fn send_stored(
    sink: &mut SplitSink<WebSocket, Message>,
    sent: &mut SentRuns,
    room_id: &RoomId,
    after: u64,
    up_to: u64,
    replay: &Replay,
) -> WriteResult {
    let mut cursor = after;
    while cursor < up_to {
        let want = u32::try_from(up_to - cursor)
            .unwrap_or(CATCH_UP_PAGE)
            .min(CATCH_UP_PAGE);
        let page = replay
            .storage()
            .log_after(room_id, cursor, want)
            .await
            .map_err(|error| {
                tracing::error!(%error, room = %room_id, "gap read failed");
                None
            })?;
        if page.is_empty() {
            break;
        }
        for entry in page {
            cursor = entry.seq();
            if cursor > up_to {
                break;
            }
            let frame = entry.into_frame().to_json();
            sink.feed(Message::Text(frame.into())).await.map_err(Some)?;
            metrics::frame_out();
            record(sent, room_id, cursor);
        }
    }
    Ok(())
}

fn record(sent: &mut SentRuns, room_id: &RoomId, seq: u64) {
    // Looked up first: the room id is cloned only the first time a room is seen.
    if let Some(run) = sent.get_mut(room_id) {
        run.to = run.to.max(seq);
    } else {
        sent.insert(room_id.clone(), Sent { from: seq, to: seq });
    }
}
