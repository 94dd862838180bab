//! One message of the conversation: its reply quote, author, time, "(edited)", text (or
//! "Message deleted"), and its menu: "Reply", "Edit", "Delete". The menu opens from the
//! "Message actions" button, shown on hover and keyboard focus, or by a long press on
//! touch screens. Text is always rendered as text.

use knock_protocol::{ReplyTo, RoomId};
use leptos::prelude::*;

use crate::browser;
use crate::client::{Chat, Connection};
use crate::components::message_list::Row;
use crate::linkify::{Segment, split_links, split_mentions};
use crate::state::{RoomState, display_name};

/// How long a touch must rest on a message to open its menu, in milliseconds.
const LONG_PRESS_MS: u64 = 500;

// Leptos props are owned values; one view with its menu and edit box, each its own
// component below.
#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)]
#[component]
pub fn MessageRow(room_id: RoomId, row: Row, focus: Memo<Option<u64>>) -> impl IntoView {
    let Row {
        message,
        starts_day,
        mine,
        may_edit,
        may_delete,
        starts_unread,
    } = row;
    let seq = message.seq;
    let focused = move || focus.get() == Some(seq);
    let time = browser::local_time(message.timestamp);
    let (full, iso) = browser::local_date_time(message.timestamp);
    // A list item of its own (an `<ol>` holds only items): the day's name, read in turn.
    let separator = starts_day.then(|| {
        let label = browser::day_label(message.timestamp);
        view! {
            <li class="day-sep">
                <span>{label}</span>
            </li>
        }
    });
    let unread_divider = starts_unread.then(|| {
        view! {
            <li class="unread-divider" role="separator">
                <span>"New messages"</span>
            </li>
        }
    });
    let menu_open = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let deleted = message.deleted;
    let edited = message.edited_at.map(|at| {
        let (when, _) = browser::local_date_time(at);
        view! { <span class="msg-edited" title=format!("Edited {when}")>"(edited)"</span> }
    });
    let text_id = format!("msg-{}", message.message_id);
    let body = if deleted {
        view! { <p class="msg-text msg-deleted">"Message deleted"</p> }.into_any()
    } else {
        let text = message.message.clone();
        let mentions: Vec<String> = message.mentions.iter().map(ToString::to_string).collect();
        let me = expect_context::<crate::client::Session>()
            .user
            .with_untracked(|u| u.as_ref().map(|u| u.user_id.to_string()));
        let text_for_edit = message.message.clone();
        let edit_room = room_id.clone();
        let edit_id = message.message_id.clone();
        view! {
            <Show
                when=move || editing.get()
                fallback={
                    let text_id = text_id.clone();
                    move || {
                        view! {
                            <p class="msg-text" dir="auto" id=text_id.clone()>
                                {message_body(&text, &mentions, me.as_deref())}
                            </p>
                        }
                    }
                }
            >
                <EditBox
                    room_id=edit_room.clone()
                    message_id=edit_id.clone()
                    original=text_for_edit.clone()
                    editing
                />
            </Show>
        }
        .into_any()
    };
    let press_timer = StoredValue::new(None::<leptos::leptos_dom::helpers::TimeoutHandle>);
    // The press opened the menu: the finger now rests on one of its items.
    let pressed_long = StoredValue::new(false);
    let on_touch_start = move |_| {
        pressed_long.set_value(false);
        let timer = set_timeout_with_handle(
            move || {
                pressed_long.set_value(true);
                menu_open.set(true);
            },
            std::time::Duration::from_millis(LONG_PRESS_MS),
        )
        .ok();
        press_timer.set_value(timer);
    };
    let stop_press = move || {
        if let Some(timer) = press_timer.get_value() {
            timer.clear();
        }
        press_timer.set_value(None);
    };
    let on_touch_end = move |ev: leptos::ev::TouchEvent| {
        stop_press();
        // Lifting the finger would also click whatever it rests on: the item the menu
        // just put there ("Delete" as often as not). A cancelled touchend makes no click.
        if pressed_long.get_value() {
            pressed_long.set_value(false);
            ev.prevent_default();
        }
    };
    let menu = (!deleted).then(|| {
        view! {
            <MessageMenu
                room_id=room_id.clone()
                message_id=message.message_id.clone()
                may_edit
                may_delete
                open=menu_open
                editing
                confirming
            />
        }
    });
    let confirm = (!deleted).then(|| {
        let room_id = room_id.clone();
        let message_id = message.message_id.clone();
        view! {
            <Show when=move || confirming.get()>
                <DeleteConfirm
                    room_id=room_id.clone()
                    message_id=message_id.clone()
                    confirming
                />
            </Show>
        }
    });
    view! {
        {separator}
        {unread_divider}
        <li
            class="msg"
            class:mine=mine
            class:focused=focused
            class:deleted=deleted
            class:menu-open=move || menu_open.get()
            aria-current=move || focused().then_some("true")
            data-seq=message.seq
            on:touchstart=on_touch_start
            on:touchend=on_touch_end
            on:touchmove=move |_| stop_press()
        >
            {message.reply_to.map(|quote| view! { <Quote quote /> })}
            <div class="msg-meta">
                <span class="msg-author" dir="auto">
                    {display_name(&message.user_id)}
                </span>
                {mine.then(|| view! { <span class="sr-only">" (you)"</span> })}
                <time class="msg-time" datetime=iso title=full>
                    {time}
                </time>
                {edited}
            </div>
            {body}
            {menu}
            {confirm}
        </li>
    }
}

/// The message a reply answers, as it reads now.
#[component]
pub fn Quote(quote: ReplyTo) -> impl IntoView {
    let text = if quote.deleted {
        view! { <span class="quote-text msg-deleted">"Message deleted"</span> }.into_any()
    } else {
        view! { <span class="quote-text" dir="auto">{quote.excerpt}</span> }.into_any()
    };
    view! {
        <blockquote class="msg-quote">
            <span class="sr-only">"In reply to "</span>
            <span class="quote-author" dir="auto">{display_name(&quote.user_id)}</span>
            ": "
            {text}
        </blockquote>
    }
}

/// "Message actions" and what it opens.
#[component]
fn MessageMenu(
    room_id: RoomId,
    message_id: knock_protocol::MessageId,
    may_edit: bool,
    may_delete: bool,
    open: RwSignal<bool>,
    editing: RwSignal<bool>,
    confirming: RwSignal<bool>,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let chat = expect_context::<Chat>();
    let reply_room = room_id.clone();
    let reply_id = message_id.clone();
    let reply = move |_| {
        open.set(false);
        connection.act(|s| {
            s.start_reply(&reply_room, &reply_id);
            Vec::new()
        });
        crate::browser::focus_id("message");
    };
    // Members may answer; a message of a room the user is no longer in is only read.
    let approved_room = room_id.clone();
    let may_reply = chat
        .0
        .with_untracked(|s| s.room(&approved_room).is_some_and(RoomState::is_approved));
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            open.set(false);
        }
    };
    view! {
        <div class="msg-menu" on:keydown=on_keydown>
            <button
                type="button"
                class="msg-menu-btn"
                aria-label="Message actions"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "⋯"
            </button>
            <Show when=move || open.get()>
                <div class="msg-menu-items" role="group" aria-label="Message actions">
                    {may_reply
                        .then(|| {
                            view! {
                                <button type="button" class="btn btn-small" on:click=reply.clone()>
                                    "Reply"
                                </button>
                            }
                        })}
                    {may_edit
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="btn btn-small"
                                    on:click=move |_| {
                                        open.set(false);
                                        editing.set(true);
                                    }
                                >
                                    "Edit"
                                </button>
                            }
                        })}
                    {may_delete
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="btn btn-small btn-danger"
                                    on:click=move |_| {
                                        open.set(false);
                                        confirming.set(true);
                                    }
                                >
                                    "Delete"
                                </button>
                            }
                        })}
                </div>
            </Show>
        </div>
    }
}

/// Editing in place: Enter saves, Shift+Enter adds a line, Escape cancels.
#[component]
fn EditBox(
    room_id: RoomId,
    message_id: knock_protocol::MessageId,
    original: String,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let text = RwSignal::new(original);
    let error = RwSignal::new(None::<String>);
    let box_ref = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = box_ref.get() {
            let _ = el.focus();
        }
    });
    let save = move || {
        let value = text.get_untracked();
        let mut refused = None;
        connection.act(|s| match s.edit_message(&room_id, &message_id, &value) {
            Ok(commands) => commands,
            Err(reason) => {
                refused = Some(reason);
                Vec::new()
            }
        });
        match refused {
            None => editing.set(false),
            Some(reason) => error.set(Some(reason)),
        }
    };
    let save_on_key = save.clone();
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            save_on_key();
        } else if ev.key() == "Escape" {
            editing.set(false);
        }
    };
    view! {
        <form
            class="msg-edit"
            on:submit=move |ev| {
                ev.prevent_default();
                save();
            }
        >
            <textarea
                class="msg-edit-box"
                aria-label="Edit message"
                node_ref=box_ref
                prop:value=text
                on:input=move |ev| {
                    error.set(None);
                    text.set(event_target_value(&ev));
                }
                on:keydown=on_keydown
            ></textarea>
            <div class="msg-actions">
                <button type="submit" class="btn btn-small btn-primary">"Save"</button>
                <button type="button" class="btn btn-small btn-quiet" on:click=move |_| editing.set(false)>
                    "Cancel"
                </button>
            </div>
            {move || error.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
        </form>
    }
}

/// "Delete this message for everyone?"
#[component]
fn DeleteConfirm(
    room_id: RoomId,
    message_id: knock_protocol::MessageId,
    confirming: RwSignal<bool>,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    view! {
        <div class="msg-confirm" role="group" aria-label="Delete this message?">
            <span>"Delete this message for everyone?"</span>
            <button
                type="button"
                class="btn btn-small btn-danger"
                on:click=move |_| {
                    confirming.set(false);
                    connection.act(|s| s.delete_message(&room_id, &message_id));
                }
            >
                "Delete for everyone"
            </button>
            <button type="button" class="btn btn-small btn-quiet" on:click=move |_| confirming.set(false)>
                "Keep"
            </button>
        </div>
    }
}

/// The message as text nodes, with web links clickable and the mentions the server
/// listed marked (the user's own more strongly).
fn message_body(text: &str, mentions: &[String], me: Option<&str>) -> Vec<AnyView> {
    let names: Vec<&str> = mentions.iter().map(String::as_str).collect();
    split_links(text)
        .into_iter()
        .flat_map(|segment| match segment {
            Segment::Text(t) if !names.is_empty() => split_mentions(t, &names),
            other => vec![other],
        })
        .map(|segment| match segment {
            Segment::Text(t) => t.to_owned().into_any(),
            Segment::Link(url) => view! {
                <a href=url.to_owned() target="_blank" rel="noopener noreferrer nofollow">
                    {url.to_owned()}
                </a>
            }
            .into_any(),
            Segment::Mention(name) => {
                let mine = me.is_some_and(|me| name[1..].eq_ignore_ascii_case(me));
                view! { <span class="mention" class:mention-me=mine>{name.to_owned()}</span> }
                    .into_any()
            }
        })
        .collect()
}
