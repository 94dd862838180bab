//! The client side of the wire contract: accounts over HTTP, sockets from several loopback
//! source addresses, and member connections whose reader task records probe latencies.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use futures_util::{
    SinkExt, StreamExt,
    stream::{self, SplitSink},
};
use knock_protocol::{
    ApiError, AuthResponse, ClientMessage, Credentials, ErrorCode, MemberStatus, RoomId,
    ServerMessage, UserId,
};
use tokio::{net::TcpSocket, net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

use crate::{
    hist::{Latency, Sharded},
    sched::{parse_probe, parse_seq},
    util::now_us,
};

pub type Ws = WebSocketStream<TcpStream>;
pub type Sink = SplitSink<Ws, Message>;

/// Password of every load-generator account.
const PASSWORD: &str = "loadgen-password";
/// How long one protocol step may take before the flow counts as broken.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A registered user and a session token.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: UserId,
    pub token: String,
}

/// Registers `count` users named `{prefix}{i}`, `concurrency` at a time (argon2 makes each
/// registration cost the server tens of milliseconds of CPU).
pub async fn register_many(
    http: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Account>> {
    let client = reqwest::Client::new();
    let url = format!("{http}/api/register");
    let accounts: Vec<anyhow::Result<Account>> = stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            let username = format!("{prefix}{i}");
            async move { register(&client, &url, &username).await }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    accounts.into_iter().collect()
}

async fn register(client: &reqwest::Client, url: &str, username: &str) -> anyhow::Result<Account> {
    match post_credentials(client, url, username, reqwest::StatusCode::CREATED).await? {
        Answer::Signed(account) => Ok(account),
        Answer::Refused(after) => {
            bail!("registering {username}: 429 Too Many Requests (retry after {after:?})")
        }
    }
}

/// What the server answered a sign-up or a sign-in.
pub enum Answer {
    /// The account, with a new session token.
    Signed(Account),
    /// 429: try again after this long (`Retry-After`, else the body's `retryAfterSecs`,
    /// else a second).
    Refused(Duration),
}

/// `POST url` with `username` and the load generator's password; `expected` is the status
/// of success (201 for `/api/register`, 200 for `/api/login`). Any other answer but a 429
/// is an error.
pub async fn post_credentials(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    expected: reqwest::StatusCode,
) -> anyhow::Result<Answer> {
    let response = client
        .post(url)
        .json(&Credentials {
            username: username.to_owned(),
            password: PASSWORD.to_owned(),
        })
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    if status == expected {
        let auth: AuthResponse = response.json().await?;
        return Ok(Answer::Signed(Account {
            user_id: auth.user_id,
            token: auth.token,
        }));
    }
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let body = response.text().await.unwrap_or_default();
    let error = serde_json::from_str::<ApiError>(&body).ok();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let secs = header
            .or_else(|| error.and_then(|e| e.error.retry_after_secs))
            .unwrap_or(1);
        return Ok(Answer::Refused(Duration::from_secs(secs)));
    }
    let code = error.map_or(body, |e| e.error.code.to_string());
    bail!("{url} as {username}: {status} {code}");
}

/// Where sockets go and which loopback addresses they come from.
pub struct Net {
    /// Every node sockets go to, the measured server first; one socket each in turn.
    nodes: Vec<SocketAddr>,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
    /// Tungstenite's read buffer, allocated up front for every socket. It is also the most
    /// read at once, and tungstenite zeroes that much before every read: at 16 KiB the
    /// zeroing was a tenth of the generator's CPU in the fan-out (docs/benchmarks.md).
    /// A frame larger than this still arrives whole, in several reads.
    pub read_buffer: usize,
}

impl Net {
    /// Sources 127.0.0.1 .. 127.0.0.`sources`.
    pub fn new(server: SocketAddr, sources: u8) -> Self {
        Self {
            nodes: vec![server],
            sources: (1..=sources.max(1))
                .map(|i| Ipv4Addr::new(127, 0, 0, i))
                .collect(),
            next: AtomicUsize::new(0),
            read_buffer: 2 * 1024,
        }
    }

    /// Spreads sockets over these nodes too (a cluster behind no balancer).
    #[must_use]
    pub fn with_nodes(mut self, others: &[SocketAddr]) -> Self {
        self.nodes.extend_from_slice(others);
        self
    }

    /// Opens a WebSocket to `/ws` from the next source address.
    pub async fn connect(&self) -> anyhow::Result<Ws> {
        self.connect_with(None).await
    }

    /// Like [`Net::connect`], with the socket's kernel receive buffer set (a slow reader).
    pub async fn connect_with(&self, recv_buffer: Option<u32>) -> anyhow::Result<Ws> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let source = self.sources[turn % self.sources.len()];
        let server = self.nodes[turn % self.nodes.len()];
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let stream = socket
            .connect(server)
            .await
            .with_context(|| format!("connecting {source} -> {server}"))?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(0);
        let (ws, _) = client_async_with_config(format!("ws://{server}/ws"), stream, Some(config))
            .await
            .context("WebSocket upgrade")?;
        Ok(ws)
    }

    /// A socket that has authenticated with `token`.
    pub async fn open(&self, token: &str) -> anyhow::Result<Ws> {
        let mut ws = self.connect().await?;
        authenticate(&mut ws, token).await?;
        Ok(ws)
    }
}

pub async fn send<S>(sink: &mut S, message: &ClientMessage) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::text(message.to_json()))
        .await
        .with_context(|| format!("sending {}", message.action()))
}

pub async fn authenticate(ws: &mut Ws, token: &str) -> anyhow::Result<()> {
    send(
        ws,
        &ClientMessage::Authenticate {
            token: token.into(),
        },
    )
    .await?;
    wait_for(ws, STEP_TIMEOUT, |message| match message {
        ServerMessage::Authenticated { .. } => Some(()),
        _ => None,
    })
    .await
    .context("authenticate")
}

/// Reads frames until `want` picks one; an `error` frame, a close or the timeout fails.
pub async fn wait_for<T>(
    ws: &mut Ws,
    timeout: Duration,
    mut want: impl FnMut(ServerMessage) -> Option<T>,
) -> anyhow::Result<T> {
    let read = async {
        loop {
            let frame = ws.next().await.ok_or_else(|| anyhow!("socket ended"))??;
            match frame {
                Message::Text(text) => {
                    let message: ServerMessage = serde_json::from_str(&text)
                        .with_context(|| format!("undecodable frame {text}"))?;
                    if let ServerMessage::Error { code, message, .. } = &message {
                        bail!("server error {code}: {message}");
                    }
                    if let Some(found) = want(message) {
                        return Ok(found);
                    }
                }
                Message::Close(frame) => {
                    bail!("socket closed: {frame:?}");
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| anyhow!("no answer within {timeout:?}"))?
}

/// Probe deliveries of one run: per message the first and last arrival, plus every
/// delivery's latency.
pub struct Probes {
    pub run: u32,
    first: Vec<AtomicU64>,
    last: Vec<AtomicU64>,
    seen: Vec<AtomicU32>,
    all: Sharded,
    delivered: AtomicU64,
}

impl Probes {
    pub fn new(run: u32, count: u64) -> Self {
        let count = usize::try_from(count).expect("probe count fits in memory");
        Self {
            run,
            first: (0..count).map(|_| AtomicU64::new(u64::MAX)).collect(),
            last: (0..count).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..count).map(|_| AtomicU32::new(0)).collect(),
            all: Sharded::new(32),
            delivered: AtomicU64::new(0),
        }
    }

    pub fn record(&self, receiver: usize, k: u64, latency_us: u64) {
        let Some(i) = usize::try_from(k).ok().filter(|i| *i < self.seen.len()) else {
            return;
        };
        self.first[i].fetch_min(latency_us, Ordering::Relaxed);
        self.last[i].fetch_max(latency_us, Ordering::Relaxed);
        self.seen[i].fetch_add(1, Ordering::Relaxed);
        self.all.record(receiver, latency_us);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Latency to the first and to the last recipient of every message that reached all
    /// `recipients`, every delivery's latency, and how many messages fell short.
    pub fn results(&self, recipients: u32) -> ProbeResults {
        let mut first = Latency::new();
        let mut last = Latency::new();
        let mut incomplete = 0;
        for i in 0..self.seen.len() {
            let seen = self.seen[i].load(Ordering::Relaxed);
            if seen > 0 {
                first.record(self.first[i].load(Ordering::Relaxed));
            }
            if seen >= recipients {
                last.record(self.last[i].load(Ordering::Relaxed));
            } else {
                incomplete += 1;
            }
        }
        ProbeResults {
            first,
            last,
            all: self.all.merged(),
            incomplete,
            delivered: self.delivered(),
        }
    }
}

pub struct ProbeResults {
    pub first: Latency,
    pub last: Latency,
    pub all: Latency,
    /// Messages that did not reach every recipient in time.
    pub incomplete: u64,
    pub delivered: u64,
}

/// What a member's reader task reports besides probes.
#[derive(Clone, Debug)]
pub enum Event {
    RoomCreated(RoomId),
    Join(RoomId, MemberStatus),
    Error(ErrorCode, String),
    Closed(Option<u16>),
}

/// State every reader task of a group shares.
pub struct Shared {
    probes: RwLock<Option<Arc<Probes>>>,
    events: mpsc::UnboundedSender<(usize, Event)>,
    pub errors: AtomicU64,
    pub closed: AtomicU64,
    /// `presence` and `typing` frames received (issue 18's workload).
    pub presence: AtomicU64,
    pub typing: AtomicU64,
    /// `readMarker` frames received (issue 18, `--mark-read`).
    pub read_markers: AtomicU64,
    /// Whether readers note the `seq` of every probe they get (only `--mark-read` needs
    /// it; off, the reader does exactly what it did before the option).
    pub track_seqs: AtomicBool,
    /// Per member (by index), the newest `seq` of a probe it got while tracking.
    newest_seq: Box<[AtomicU64]>,
}

impl Shared {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<(usize, Event)>) {
        Self::with_members(0)
    }

    /// Like [`Shared::new`], with room to track the newest `seq` of `members` members.
    pub fn with_members(members: usize) -> (Arc<Self>, mpsc::UnboundedReceiver<(usize, Event)>) {
        let (events, receiver) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                probes: RwLock::new(None),
                events,
                errors: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                presence: AtomicU64::new(0),
                typing: AtomicU64::new(0),
                read_markers: AtomicU64::new(0),
                track_seqs: AtomicBool::new(false),
                newest_seq: (0..members).map(|_| AtomicU64::new(0)).collect(),
            }),
            receiver,
        )
    }

    /// Probes of the run now going on; deliveries of other runs are ignored.
    pub fn set_probes(&self, probes: Option<Arc<Probes>>) {
        *self
            .probes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = probes;
    }

    /// The newest `seq` member `idx` has got while tracking (0: none).
    pub fn newest_seq(&self, idx: usize) -> u64 {
        self.newest_seq
            .get(idx)
            .map_or(0, |seq| seq.load(Ordering::Relaxed))
    }

    fn probes(&self) -> Option<Arc<Probes>> {
        self.probes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A socket in a room: the write half here, the read half in a task.
pub struct Member {
    pub user_id: UserId,
    pub sink: Sink,
    reader: tokio::task::JoinHandle<()>,
}

impl Member {
    pub fn start(idx: usize, user_id: UserId, ws: Ws, shared: Arc<Shared>) -> Self {
        let (sink, mut stream) = ws.split();
        let reader = tokio::spawn(async move {
            let code = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => handle_frame(idx, &text, &shared),
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                }
            };
            shared.closed.fetch_add(1, Ordering::Relaxed);
            let _ = shared.events.send((idx, Event::Closed(code)));
        });
        Self {
            user_id,
            sink,
            reader,
        }
    }

    /// Closes the socket (a close frame, then the reader ends when the server answers).
    pub async fn close(mut self) {
        let _ = self.sink.close().await;
        if tokio::time::timeout(Duration::from_secs(2), &mut self.reader)
            .await
            .is_err()
        {
            self.reader.abort();
        }
    }
}

fn handle_frame(idx: usize, text: &str, shared: &Shared) {
    if let Some((run, k, sent)) = parse_probe(text) {
        if let Some(probes) = shared.probes()
            && probes.run == run
        {
            probes.record(idx, k, now_us().saturating_sub(sent));
        }
        if shared.track_seqs.load(Ordering::Relaxed)
            && let Some(seq) = parse_seq(text)
            && let Some(newest) = shared.newest_seq.get(idx)
        {
            newest.fetch_max(seq, Ordering::Relaxed);
        }
        return;
    }
    let event = match serde_json::from_str::<ServerMessage>(text) {
        Ok(ServerMessage::RoomCreated { room_id, .. }) => Event::RoomCreated(room_id),
        Ok(ServerMessage::JoinResponse {
            room_id, status, ..
        }) => Event::Join(room_id, status),
        Ok(ServerMessage::Presence { .. }) => {
            shared.presence.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok(ServerMessage::Typing { .. }) => {
            shared.typing.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok(ServerMessage::ReadMarker { .. }) => {
            shared.read_markers.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok(ServerMessage::Error { code, message, .. }) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            Event::Error(code, message)
        }
        Ok(_) => return,
        Err(error) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            Event::Error(ErrorCode::BadRequest, format!("undecodable frame: {error}"))
        }
    };
    let _ = shared.events.send((idx, event));
}
