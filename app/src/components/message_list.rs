//! The conversation: the newest page first, older pages when scrolling up, live
//! messages at the bottom. The view follows new messages unless the user scrolled up,
//! then a "New messages" button appears. Text is always rendered as text, each message
//! and author in its own direction (`dir="auto"`: a right-to-left text or an override
//! character cannot reorder the line around it).

use knock_protocol::{ChatMessage, ClientMsgId, MessageId, RoomId, UserId};
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::browser;
use crate::client::{Chat, Connection, Session};
use crate::components::message_row::{MessageRow, Quote};
use crate::state::message_actions::{may_delete, may_edit};
use crate::state::outbox::{Outgoing, OutgoingState};
use crate::state::timeline::PageKind;

/// How close to the bottom counts as "at the bottom", in pixels.
const FOLLOW_SLACK: i32 = 64;
/// How close to the top starts loading the previous page, in pixels.
const LOAD_OLDER_AT: i32 = 160;

/// One rendered message, with the day separator shown before it (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "what one row shows, each drawn apart"
)]
pub struct Row {
    pub message: ChatMessage,
    pub starts_day: bool,
    pub mine: bool,
    /// "Edit" and "Delete" in its menu (`state::message_actions`' rules).
    pub may_edit: bool,
    pub may_delete: bool,
    /// The first message after the read marker the room was opened with: the "New
    /// messages" divider goes before it.
    pub starts_unread: bool,
}

/// What a row is drawn from: a change to any of it draws the row again.
type RowKey = (
    MessageId,
    bool,
    bool,
    bool,
    Option<i64>,
    bool,
    Option<(String, bool)>,
);

impl Row {
    fn key(&self) -> RowKey {
        let m = &self.message;
        (
            m.message_id.clone(),
            self.starts_day,
            self.starts_unread,
            self.may_delete,
            m.edited_at,
            m.deleted,
            m.reply_to.as_ref().map(|r| (r.excerpt.clone(), r.deleted)),
        )
    }
}

/// Where the list was after the last render, to keep the view steady.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    oldest: Option<u64>,
    newest: u64,
    outgoing: usize,
    height: i32,
}

// Leptos props are owned values; the id is cloned into the closures that need it.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn MessageList(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let session = expect_context::<Session>();
    let me: Option<UserId> = session
        .user
        .with_untracked(|u| u.as_ref().map(|u| u.user_id.clone()));

    let rows = message_rows(chat, room_id.clone(), me.clone());
    let id = room_id.clone();
    let outgoing = Memo::new(move |_| {
        chat.0
            .with(|s| s.outbox.for_room(&id).cloned().collect::<Vec<_>>())
    });
    let id = room_id.clone();
    let announcement = move || chat.0.with(|s| s.announcement.clone());

    let list_ref = NodeRef::<html::Div>::new();
    let at_bottom = StoredValue::new(true);
    let last_top = StoredValue::new(0);
    let unseen = RwSignal::new(false);
    let seen = StoredValue::new(Seen::default());

    let scroll_to_bottom = move || scroll_to_end(list_ref, at_bottom, unseen);

    let focus_id = room_id.clone();
    let focus = Memo::new(move |_| {
        chat.0
            .with(|s| s.room(&focus_id).and_then(|r| r.timeline.focus))
    });
    follow_new_messages(rows, outgoing, list_ref, at_bottom, unseen, seen, focus);
    keep_bottom_on_resize(list_ref, at_bottom);

    let load_id = room_id.clone();
    let on_scroll = move |_| {
        let Some(el) = list_ref.get_untracked() else {
            return;
        };
        let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < FOLLOW_SLACK;
        // Only scrolling up leaves the bottom: messages added below between following
        // them and this event do not (a burst of them would otherwise stop the following).
        let top = el.scroll_top();
        let up = top < last_top.get_value();
        last_top.set_value(top);
        at_bottom.set_value(bottom || (at_bottom.get_value() && !up));
        if bottom {
            unseen.set(false);
        }
        if el.scroll_top() < LOAD_OLDER_AT {
            connection.act(|s| s.load_older(&load_id));
        }
        if el.scroll_height() - el.scroll_top() - el.client_height() < LOAD_OLDER_AT {
            connection.act(|s| s.load_newer(&load_id));
        }
        seen.update_value(|s| s.height = el.scroll_height());
    };

    let me_name = me.map(|u| u.to_string()).unwrap_or_default();
    let rows_room = id.clone();
    view! {
        <div class="messages-wrap">
            <div
                class="messages-scroll"
                node_ref=list_ref
                on:scroll=on_scroll
                tabindex="0"
                role="region"
                aria-label="Messages"
            >
                <HistoryEdge room_id=id.clone() empty=Signal::derive(move || {
                    rows.with(Vec::is_empty) && outgoing.with(Vec::is_empty)
                }) />
                <ol class="messages">
                    <For each=move || rows.get() key=Row::key let:row>
                        <MessageRow room_id=rows_room.clone() row focus />
                    </For>
                    <For
                        each=move || outgoing.get()
                        key=|o| (o.client_msg_id.clone(), o.state.clone())
                        let:item
                    >
                        <OutgoingRow item me=me_name.clone() />
                    </For>
                </ol>
            </div>
            <Show when=move || unseen.get()>
                <button type="button" class="new-below" on:click=move |_| scroll_to_bottom()>
                    "New messages ↓"
                </button>
            </Show>
            <div class="sr-only" aria-live="polite" aria-atomic="true" data-room=id.to_string()>
                {announcement}
            </div>
        </div>
    }
}

fn scroll_to_end(
    list_ref: NodeRef<html::Div>,
    at_bottom: StoredValue<bool>,
    unseen: RwSignal<bool>,
) {
    if let Some(el) = list_ref.get_untracked() {
        el.set_scroll_top(el.scroll_height());
    }
    at_bottom.set_value(true);
    unseen.set(false);
}

/// The list changed size (a panel above it grew, the window or the keyboard changed):
/// a reader at the newest message stays there.
fn keep_bottom_on_resize(list_ref: NodeRef<html::Div>, at_bottom: StoredValue<bool>) {
    type Observer = (web_sys::ResizeObserver, Closure<dyn FnMut()>);
    let observer = StoredValue::new_local(None::<Observer>);
    Effect::new(move |_| {
        let Some(el) = list_ref.get() else {
            return;
        };
        let target = el.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || {
            if at_bottom.try_get_value().unwrap_or(false) {
                target.set_scroll_top(target.scroll_height());
            }
        });
        if let Ok(o) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
            o.observe(&el);
            observer.set_value(Some((o, on_resize)));
        }
    });
    on_cleanup(move || {
        observer.update_value(|o| {
            if let Some((o, _)) = o.take() {
                o.disconnect();
            }
        });
    });
}

/// After each change: keep the reading position when older messages arrive on top,
/// follow new ones at the bottom unless the user scrolled up (then flag them).
/// A search result opened in the room is brought to the middle of the view once.
fn follow_new_messages(
    rows: Memo<Vec<Row>>,
    outgoing: Memo<Vec<Outgoing>>,
    list_ref: NodeRef<html::Div>,
    at_bottom: StoredValue<bool>,
    unseen: RwSignal<bool>,
    seen: StoredValue<Seen>,
    focus: Memo<Option<u64>>,
) {
    let shown_focus = StoredValue::new(None::<u64>);
    Effect::new(move |_| {
        let focus = focus.get();
        let oldest = rows.with(|r| r.first().map(|r| r.message.seq));
        let newest = rows.with(|r| r.last().map_or(0, |r| r.message.seq));
        let newest_mine = rows.with(|r| r.last().is_some_and(|r| r.mine));
        let outgoing_len = outgoing.with(Vec::len);
        // Measure once the DOM shows the change.
        request_animation_frame(move || {
            let Some(el) = list_ref.get_untracked() else {
                return;
            };
            let before = seen.get_value();
            let height = el.scroll_height();
            let grew_on_top = before.oldest.is_some() && oldest < before.oldest;
            let new_at_bottom = newest > before.newest || outgoing_len > before.outgoing;
            let focused = focus
                .filter(|seq| shown_focus.get_value() != Some(*seq))
                .and_then(|seq| {
                    el.query_selector(&format!("[data-seq=\"{seq}\"]"))
                        .ok()
                        .flatten()
                        .and_then(|row| row.dyn_into::<web_sys::HtmlElement>().ok())
                        .map(|row| (seq, row))
                });
            if let Some((seq, row)) = focused {
                el.set_scroll_top(
                    row.offset_top() - (el.client_height() - row.offset_height()) / 2,
                );
                at_bottom.set_value(false);
                shown_focus.set_value(Some(seq));
            } else if new_at_bottom {
                // All new, or all replaced (a catch-up that skipped ahead): the newest.
                let first_load = (before.newest == 0 && before.outgoing == 0)
                    || oldest.is_some_and(|o| o > before.newest);
                if first_load
                    || at_bottom.get_value()
                    || outgoing_len > before.outgoing
                    || newest_mine
                {
                    scroll_to_end(list_ref, at_bottom, unseen);
                } else {
                    unseen.set(true);
                }
            } else if grew_on_top {
                el.set_scroll_top(el.scroll_top() + height - before.height);
            }
            seen.set_value(Seen {
                oldest,
                newest,
                outgoing: outgoing_len,
                height: el.scroll_height(),
            });
        });
    });
}

/// The room's messages as rows, with day separators, own messages marked.
fn message_rows(chat: Chat, room_id: RoomId, me: Option<UserId>) -> Memo<Vec<Row>> {
    Memo::new(move |_| {
        chat.0.with(|s| {
            let Some(room) = s.room(&room_id) else {
                return Vec::new();
            };
            let mut previous_day = None;
            let mut divider = room.divider_after;
            room.timeline
                .messages()
                .map(|m| {
                    let day = browser::local_day_key(m.timestamp);
                    let starts_day = previous_day != Some(day);
                    previous_day = Some(day);
                    let mine = me.as_ref() == Some(&m.user_id);
                    let starts_unread = divider.is_some_and(|after| m.seq > after && !mine);
                    if starts_unread {
                        divider = None;
                    }
                    Row {
                        mine,
                        message: m.clone(),
                        starts_day,
                        may_edit: may_edit(m, me.as_ref()),
                        may_delete: may_delete(m, me.as_ref(), room.is_admin),
                        starts_unread,
                    }
                })
                .collect::<Vec<_>>()
        })
    })
}

/// The top of the list: loading, "Load older messages", or the room's beginning.
#[component]
fn HistoryEdge(room_id: RoomId, #[prop(into)] empty: Signal<bool>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let id = room_id.clone();
    let paging = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&id).map_or((false, false, false), |r| {
                (
                    r.timeline.loaded,
                    r.timeline.has_more,
                    r.timeline.pending_pages.contains(&PageKind::Older),
                )
            })
        })
    });
    let load_older = move |_| connection.act(|s| s.load_older(&room_id));
    view! {
        <div class="history-edge">
            {move || {
                let (loaded, has_more, loading) = paging.get();
                if !loaded {
                    view! { <p class="muted">"Loading messages…"</p> }.into_any()
                } else if loading {
                    view! { <p class="muted">"Loading older messages…"</p> }.into_any()
                } else if has_more {
                    view! {
                        <button type="button" class="btn btn-link" on:click=load_older.clone()>
                            "Load older messages"
                        </button>
                    }
                    .into_any()
                } else if empty.get() {
                    view! { <p class="muted empty-room">"No messages yet. Say hello!"</p> }
                        .into_any()
                } else {
                    view! { <p class="muted">"This is the beginning of the room."</p> }.into_any()
                }
            }}
        </div>
    }
}

#[component]
fn OutgoingRow(item: Outgoing, me: String) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let Outgoing {
        client_msg_id,
        text,
        state,
        reply_to,
        ..
    } = item;
    let failed = match &state {
        OutgoingState::Failed(reason) => Some(reason.clone()),
        _ => None,
    };
    // A queued message waits for its turn (seconds at most) or for the connection.
    let status = move || match state {
        OutgoingState::Queued if !connection.is_online() => "Waiting for connection…",
        OutgoingState::Queued | OutgoingState::InFlight => "Sending…",
        OutgoingState::Failed(_) => "Not sent",
    };
    let actions = failed.map(|reason| {
        let retry_id: ClientMsgId = client_msg_id.clone();
        let discard_id = client_msg_id.clone();
        view! {
            <p class="error" role="alert">{reason}</p>
            <div class="msg-actions">
                <button
                    type="button"
                    class="btn btn-small"
                    on:click=move |_| connection.act(|s| s.retry_message(&retry_id))
                >
                    "Retry"
                </button>
                <button
                    type="button"
                    class="btn btn-small btn-quiet"
                    on:click=move |_| {
                        connection.act(|s| s.discard_message(&discard_id));
                    }
                >
                    "Discard"
                </button>
            </div>
        }
    });
    let is_failed = actions.is_some();
    view! {
        <li class="msg mine outgoing" class:failed=is_failed>
            {reply_to.map(|quote| view! { <Quote quote /> })}
            <div class="msg-meta">
                <span class="msg-author" dir="auto">
                    {me}
                </span>
                <span class="msg-state">{status}</span>
            </div>
            <p class="msg-text" dir="auto">
                {text}
            </p>
            {actions}
        </li>
    }
}
