//! The contexts every component reads: [`Session`] (who is signed in), [`Chat`] (the
//! state of rooms and messages) and [`Connection`] (the socket, its status, and the one
//! way to act: [`Connection::act`]).
//!
//! The socket is `web_sys::WebSocket`; what to do on each event is decided by
//! [`ChatState`] (tested natively), this module only wires events to it and runs the
//! [`Command`]s it returns. Reconnects use [`Backoff`] with jitter.

use std::future::Future;
use std::time::Duration;

use knock_protocol::{ClientMessage, ServerMessage, UserId, close_code, decode_server};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::browser;
use crate::state::account::Refusal;
use crate::state::backoff::Backoff;
use crate::state::heartbeat;
use crate::state::{Alert, ChatState, Command, Later, SIGNED_OUT_TEXT};

const SESSION_KEY: &str = "knock.session";
/// "on" when the user asked for browser notifications on this device.
const NOTIFY_KEY: &str = "knock.notify";

/// A signed-in user, as kept in `localStorage` across reloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    pub user_id: UserId,
    pub token: String,
}

/// Who is signed in, if anyone.
#[derive(Clone, Copy)]
pub struct Session {
    pub user: RwSignal<Option<SignedIn>>,
    /// A sentence for the sign-in page (e.g. why the user was signed out).
    pub flash: RwSignal<Option<String>>,
}

impl Session {
    /// The signed-in user's token, untracked (for a request).
    pub fn token(self) -> Option<String> {
        self.user
            .with_untracked(|u| u.as_ref().map(|u| u.token.clone()))
    }
}

/// Rooms, members, messages: the client's state.
#[derive(Clone, Copy)]
pub struct Chat(pub RwSignal<ChatState>);

/// The socket's state, as the connection indicator shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConnStatus {
    /// Signed out: no socket.
    Idle,
    /// The first connection after sign-in or page load.
    Connecting,
    /// Authenticated and live.
    Online,
    /// Lost; the next attempt starts at `retry_at` (ms since 1970).
    Reconnecting { attempt: u32, retry_at: f64 },
}

type Handler = Closure<dyn FnMut(web_sys::Event)>;
type Navigator = Box<dyn Fn(&str)>;

/// What only the socket code touches.
struct Driver {
    socket: Option<web_sys::WebSocket>,
    handlers: Vec<Handler>,
    /// Handlers of a closed socket, dropped at the next open (never while running).
    retired: Vec<Handler>,
    /// Events from older sockets are ignored.
    generation: u64,
    backoff: Backoff,
    timer: Option<leptos::leptos_dom::helpers::TimeoutHandle>,
    /// Wakes the outbox when a message waits for the rate.
    outbox_timer: Option<leptos::leptos_dom::helpers::TimeoutHandle>,
    authenticated: bool,
    /// What the current socket last did, for [`heartbeat::check`] (ms since 1970).
    times: heartbeat::Times,
    /// A request that ends the session is under way ([`Connection::leave_with`]): the
    /// server closing the socket for it is expected, not a sign-out by someone else.
    leaving: bool,
    /// The browser's events are followed ([`Connection::begin`], once per page load).
    following: bool,
}

/// The WebSocket connection and the actions that go through it.
#[derive(Clone, Copy)]
pub struct Connection {
    pub status: RwSignal<ConnStatus>,
    /// The browser says it has a network (`navigator.onLine`, `online`/`offline`).
    pub network: RwSignal<bool>,
    /// The user wants browser notifications while the tab is hidden (and the browser
    /// allows them).
    pub notify: RwSignal<bool>,
    session: Session,
    chat: Chat,
    driver: StoredValue<Driver, LocalStorage>,
    navigate: StoredValue<Navigator, LocalStorage>,
}

/// Creates and provides the three contexts; call once, inside the router. Nothing
/// connects until the signed-in pages call [`Connection::begin`].
pub fn provide_client(navigate: impl Fn(&str) + 'static) -> Connection {
    let stored = browser::storage_get(SESSION_KEY)
        .and_then(|text| serde_json::from_str::<SignedIn>(&text).ok());
    let session = Session {
        user: RwSignal::new(stored),
        flash: RwSignal::new(None),
    };
    let chat = Chat(RwSignal::new(ChatState::default()));
    let connection = Connection {
        status: RwSignal::new(ConnStatus::Idle),
        network: RwSignal::new(browser::network_up()),
        notify: RwSignal::new(
            browser::storage_get(NOTIFY_KEY).as_deref() == Some("on")
                && browser::notifications_allowed(),
        ),
        session,
        chat,
        driver: StoredValue::new_local(Driver {
            socket: None,
            handlers: Vec::new(),
            retired: Vec::new(),
            generation: 0,
            backoff: Backoff::default(),
            timer: None,
            outbox_timer: None,
            authenticated: false,
            times: heartbeat::Times::default(),
            leaving: false,
            following: false,
        }),
        navigate: StoredValue::new_local(Box::new(navigate)),
    };
    provide_context(session);
    provide_context(chat);
    provide_context(connection);
    connection
}

impl Connection {
    /// Someone is signed in and their pages are up: connect, and (once per page load)
    /// follow what the browser says about the network, focus, visibility and other tabs.
    ///
    /// This lives with the signed-in pages rather than in [`provide_client`] so that the
    /// socket code is part of their separately loaded module, not the sign-in page's
    /// (docs/client-figures.md, "Code splitting").
    pub fn begin(self) {
        self.network.set(browser::network_up());
        let hidden = browser::page_hidden();
        self.act(|s| s.set_page_hidden(hidden));
        self.start();
        let following = self
            .driver
            .try_update_value(|d| std::mem::replace(&mut d.following, true))
            .unwrap_or(true);
        if following {
            return;
        }
        // Notice a socket that died without a close.
        let _ = leptos::leptos_dom::helpers::set_interval_with_handle(
            move || self.heartbeat(),
            Duration::from_millis(u64::from(heartbeat::CHECK_EVERY_MS)),
        );
        // Back online, or back to the tab: do not wait for the backoff timer.
        let retry_soon = move || {
            if matches!(self.status.get_untracked(), ConnStatus::Reconnecting { .. }) {
                self.retry_now();
            }
        };
        let _ = window_event_listener_untyped("online", move |_| {
            self.network.set(true);
            retry_soon();
        });
        let _ = window_event_listener_untyped("focus", move |_| retry_soon());
        // Read markers move only while the page is in sight.
        browser::on_visibility_change(move || {
            let hidden = browser::page_hidden();
            self.act(|s| s.set_page_hidden(hidden));
        });
        // The network is gone: a socket can look open for a minute after that, so give it
        // up now; messages wait in the outbox and the header says "Offline".
        let _ = window_event_listener_untyped("offline", move |_| {
            self.network.set(false);
            if self.driver.with_value(|d| d.socket.is_some()) {
                self.closed(1006);
            }
        });
        // Signed out in another tab: follow.
        let _ = window_event_listener_untyped("storage", move |ev| {
            let Some(ev) = ev.dyn_ref::<web_sys::StorageEvent>() else {
                return;
            };
            if ev.key().as_deref() == Some(SESSION_KEY)
                && ev.new_value().is_none()
                && self.session.user.with_untracked(Option::is_some)
            {
                self.end_session(None);
            }
        });
    }

    /// Applies a user intent to the state and runs what it asks for.
    ///
    /// It writes `chat`, which wakes everything that reads it: never call it from an
    /// effect that reads `chat`, or the effect wakes itself up again after every run and
    /// the tab spins at full CPU (how invite links to one's own room froze the page).
    /// React to state with a `Memo` and act on what the memo says, or act on events.
    pub fn act(self, intent: impl FnOnce(&mut ChatState) -> Vec<Command>) {
        let now = browser::now_ms();
        let commands = self
            .chat
            .0
            .try_update(|state| {
                let mut commands = intent(state);
                commands.extend(state.pump_outbox(now));
                commands
            })
            .unwrap_or_default();
        self.run(commands);
    }

    fn run(self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Send(frame) => self.send(&frame),
                Command::Navigate(path) => self.navigate.with_value(|nav| nav(&path)),
                Command::SessionExpired => self.session_ended(),
                Command::Alert(alert) => self.alert(&alert),
                Command::Later(delay, later) => {
                    let _ = set_timeout_with_handle(
                        move || {
                            self.act(|s| {
                                match &later {
                                    Later::TypingEnds {
                                        room_id,
                                        user_id,
                                        token,
                                    } => s.typing_expired(room_id, user_id, *token),
                                }
                                Vec::new()
                            });
                        },
                        delay,
                    );
                }
                Command::WakeAfter(delay) => {
                    let timer =
                        set_timeout_with_handle(move || self.act(|_| Vec::new()), delay).ok();
                    self.driver.update_value(|d| {
                        if let Some(old) = std::mem::replace(&mut d.outbox_timer, timer) {
                            old.clear();
                        }
                    });
                }
            }
        }
    }

    /// Shows `alert` as a browser notification, when the user asked for them and the tab
    /// is out of sight (in sight, the page itself shows what happened).
    fn alert(self, alert: &Alert) {
        if !self.notify.get_untracked()
            || !browser::page_hidden()
            || !browser::notifications_allowed()
        {
            return;
        }
        let path = alert.path.clone();
        browser::show_notification(&alert.title, &alert.body, &alert.tag, move || {
            self.navigate.with_value(|nav| nav(&path));
        });
    }

    /// Turns browser notifications on (asking the browser's permission, from a click) or
    /// off; whether they are on afterwards.
    pub async fn set_notify(self, on: bool) -> bool {
        let on = on && browser::ask_for_notifications().await;
        browser::storage_set(NOTIFY_KEY, if on { "on" } else { "off" });
        let _ = self.notify.try_set(on);
        on
    }

    fn send(self, frame: &ClientMessage) {
        let is_auth = matches!(frame, ClientMessage::Authenticate { .. });
        let is_ping = matches!(frame, ClientMessage::Ping);
        self.driver.update_value(|d| {
            if let Some(socket) = &d.socket
                && (d.authenticated || is_auth)
                && socket.ready_state() == web_sys::WebSocket::OPEN
                && socket.send_with_str(&frame.to_json()).is_ok()
            {
                let now = browser::now_ms();
                d.times.last_sent = now;
                if is_ping {
                    d.times.ping_sent = Some(now);
                }
            }
        });
    }

    /// Signed in: remember the session and connect.
    pub fn sign_in(self, signed_in: SignedIn) {
        browser::storage_set(
            SESSION_KEY,
            &serde_json::to_string(&signed_in).expect("session serializes"),
        );
        self.session.flash.set(None);
        self.session.user.set(Some(signed_in));
    }

    /// Sign out: revoke the token on the server, forget everything here.
    pub fn sign_out(self) {
        let token = self
            .session
            .user
            .with_untracked(|u| u.as_ref().map(|u| u.token.clone()));
        self.end_session(None);
        if let Some(token) = token {
            spawn_local(async move { browser::logout(&token).await });
        }
    }

    /// The server no longer accepts the token: back to sign-in, saying so; or, while a
    /// request that ends the session is under way, only close the socket and let its
    /// answer decide.
    fn session_ended(self) {
        if self.driver.with_value(|d| d.leaving) {
            self.stop();
        } else {
            self.end_session(Some(SIGNED_OUT_TEXT.into()));
        }
    }

    /// Runs `request`, which ends this session when it succeeds (signing out everywhere,
    /// deleting the account): then back to sign-in with `farewell`. The server closes
    /// this device's socket (4401) before it answers; that close only stops the socket
    /// meanwhile, and if the request fails after all the socket opens again.
    pub async fn leave_with(
        self,
        request: impl Future<Output = Result<(), Refusal>>,
        farewell: &str,
    ) -> Result<(), Refusal> {
        self.driver.update_value(|d| d.leaving = true);
        let result = request.await;
        let _ = self.driver.try_update_value(|d| d.leaving = false);
        match &result {
            Ok(()) => self.end_session(Some(farewell.to_owned())),
            Err(refusal) if refusal.is(knock_protocol::ErrorCode::Unauthenticated) => {
                self.end_session(Some(SIGNED_OUT_TEXT.into()));
            }
            Err(_) => {
                if self.session.user.with_untracked(Option::is_some)
                    && self.status.get_untracked() == ConnStatus::Idle
                {
                    self.start();
                }
            }
        }
        result
    }

    /// The token was refused by an account request: back to sign-in, saying so.
    pub fn token_refused(self) {
        self.end_session(Some(SIGNED_OUT_TEXT.into()));
    }

    fn end_session(self, flash: Option<String>) {
        self.stop();
        browser::storage_remove(SESSION_KEY);
        browser::storage_remove(crate::components::composer::DRAFTS_KEY);
        self.chat.0.set(ChatState::default());
        self.session.flash.set(flash);
        self.session.user.set(None);
        self.navigate.with_value(|nav| nav("/"));
    }

    /// Opens a socket unless one is open or opening.
    fn start(self) {
        let busy = self.driver.with_value(|d| d.socket.is_some());
        if busy {
            return;
        }
        if self.status.get_untracked() == ConnStatus::Idle {
            self.status.set(ConnStatus::Connecting);
        }
        spawn_local(async move {
            let endpoints = browser::endpoints().await;
            if self.session.user.with_untracked(Option::is_some) {
                self.open(endpoints.ws_url());
            }
        });
    }

    /// Reconnect at once (the user pressed "Retry now", or the network came back).
    pub fn retry_now(self) {
        let timer = self.driver.try_update_value(|d| d.timer.take()).flatten();
        if let Some(timer) = timer {
            timer.clear();
        }
        self.status.update(|s| {
            if let ConnStatus::Reconnecting { retry_at, .. } = s {
                *retry_at = browser::now_ms();
            }
        });
        self.start();
    }

    fn open(self, url: &str) {
        let already = self.driver.with_value(|d| d.socket.is_some());
        if already {
            return;
        }
        let Ok(socket) = web_sys::WebSocket::new(url) else {
            self.schedule_reconnect();
            return;
        };
        let generation = self
            .driver
            .try_update_value(|d| {
                d.generation += 1;
                d.retired.clear();
                d.generation
            })
            .unwrap_or_default();

        let on_open: Handler = Closure::new(move |_: web_sys::Event| {
            if !self.is_current(generation) {
                return;
            }
            if let Some(token) = self
                .session
                .user
                .with_untracked(|u| u.as_ref().map(|u| u.token.clone()))
            {
                self.send(&ClientMessage::Authenticate {
                    token: token.into(),
                });
            }
        });
        let on_message: Handler = Closure::new(move |ev: web_sys::Event| {
            if !self.is_current(generation) {
                return;
            }
            let Some(text) = ev
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|m| m.data().as_string())
            else {
                return;
            };
            self.driver
                .update_value(|d| d.times.last_frame = browser::now_ms());
            if let Ok(frame) = decode_server(&text) {
                self.receive(frame);
            }
        });
        let on_close: Handler = Closure::new(move |ev: web_sys::Event| {
            if !self.is_current(generation) {
                return;
            }
            let code = ev
                .dyn_ref::<web_sys::CloseEvent>()
                .map_or(1006, web_sys::CloseEvent::code);
            self.closed(code);
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.driver.update_value(|d| {
            d.socket = Some(socket);
            d.handlers = vec![on_open, on_message, on_close];
            d.authenticated = false;
            let now = browser::now_ms();
            d.times = heartbeat::Times {
                last_frame: now,
                last_sent: now,
                ping_sent: None,
            };
        });
    }

    /// Pings a quiet socket; gives up one that stays silent (see `state::heartbeat`).
    fn heartbeat(self) {
        let Some((authenticated, times)) =
            self.driver.try_with_value(|d| (d.authenticated, d.times))
        else {
            return;
        };
        if !authenticated {
            return;
        }
        match heartbeat::check(browser::now_ms(), times) {
            heartbeat::Beat::Healthy => {}
            heartbeat::Beat::Ping => self.send(&ClientMessage::Ping),
            heartbeat::Beat::Dead => self.closed(1006),
        }
    }

    fn is_current(self, generation: u64) -> bool {
        self.driver
            .with_value(|d| d.generation == generation && d.socket.is_some())
    }

    fn receive(self, frame: ServerMessage) {
        if matches!(frame, ServerMessage::Authenticated { .. }) {
            self.driver.update_value(|d| {
                d.authenticated = true;
                d.backoff.reset();
            });
            self.status.set(ConnStatus::Online);
        }
        self.act(|state| state.apply(frame));
    }

    fn closed(self, code: u16) {
        self.detach();
        self.chat.0.update(ChatState::on_disconnected);
        if code == close_code::UNAUTHENTICATED {
            self.session_ended();
            return;
        }
        if self.session.user.with_untracked(Option::is_some) {
            self.schedule_reconnect();
        }
    }

    /// Forgets the socket; its handlers are dropped later, not while one runs.
    fn detach(self) {
        let socket = self.driver.try_update_value(|d| {
            d.authenticated = false;
            let handlers = std::mem::take(&mut d.handlers);
            d.retired.extend(handlers);
            d.socket.take()
        });
        if let Some(Some(socket)) = socket {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
    }

    fn schedule_reconnect(self) {
        let delay = self
            .driver
            .try_update_value(|d| d.backoff.next_delay(browser::random()))
            .unwrap_or(Duration::from_secs(1));
        let attempt = self.driver.with_value(|d| d.backoff.attempt());
        self.status.set(ConnStatus::Reconnecting {
            attempt,
            retry_at: browser::now_ms() + delay.as_secs_f64() * 1000.0,
        });
        let timer = set_timeout_with_handle(move || self.start(), delay).ok();
        self.driver.update_value(|d| {
            if let Some(old) = std::mem::replace(&mut d.timer, timer) {
                old.clear();
            }
        });
    }

    /// Closes the socket for good (sign-out).
    fn stop(self) {
        self.detach();
        self.driver.update_value(|d| {
            d.generation += 1;
            d.backoff.reset();
            if let Some(timer) = d.timer.take() {
                timer.clear();
            }
        });
        self.chat.0.update(ChatState::on_disconnected);
        self.status.set(ConnStatus::Idle);
    }

    /// Whether a socket is authenticated right now.
    pub fn is_online(self) -> bool {
        self.status.get() == ConnStatus::Online
    }
}
