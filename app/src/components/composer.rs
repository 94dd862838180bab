//! Writing a message: Enter sends, Shift+Enter adds a line, a counter near the limit.
//! The draft survives disconnects, room switches and reloads; messages typed while
//! offline wait in the outbox.

use std::collections::HashMap;

use knock_protocol::{RoomId, UserId, limits};
use leptos::prelude::*;

use crate::browser;
use crate::client::{Chat, ConnStatus, Connection};
use crate::ids::new_client_msg_id;
use crate::state::{display_name, format_thousands, mention_complete};

/// Where drafts are kept; `Connection` forgets them at sign-out (a shared computer
/// must not show the next person what was typed).
pub const DRAFTS_KEY: &str = "knock.drafts";

/// Text typed but not sent, by room (read once when a room's composer opens).
fn drafts() -> HashMap<RoomId, String> {
    browser::storage_get(DRAFTS_KEY)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn keep_draft(room_id: &RoomId, text: &str) {
    let mut all = drafts();
    if text.is_empty() {
        all.remove(room_id);
    } else {
        all.insert(room_id.clone(), text.to_owned());
    }
    match serde_json::to_string(&all) {
        Ok(json) if !all.is_empty() => browser::storage_set(DRAFTS_KEY, &json),
        _ => browser::storage_remove(DRAFTS_KEY),
    }
}

/// The counter shows from this many characters on.
const COUNTER_FROM: usize = limits::MAX_MESSAGE_CHARS - 500;

/// `None` while far from the limit, else `"3,612 / 4,000"`.
pub fn counter_text(chars: usize) -> Option<String> {
    (chars >= COUNTER_FROM).then(|| {
        format!(
            "{} / {}",
            format_thousands(chars),
            format_thousands(limits::MAX_MESSAGE_CHARS)
        )
    })
}

// The box, its keys, the reply it quotes and its errors share the draft's signals.
#[allow(clippy::too_many_lines)]
#[component]
pub fn Composer(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let text = RwSignal::new(drafts().remove(&room_id).unwrap_or_default());
    let local_error = RwSignal::new(None::<String>);
    let chars = Memo::new(move |_| text.with(|t| t.chars().count()));
    let over = move || chars.get() > limits::MAX_MESSAGE_CHARS;
    let failed_room = room_id.clone();
    let reply_room = room_id.clone();
    let cancel_room = room_id.clone();
    let typing_room = room_id.clone();
    let members_room = room_id.clone();
    let server_error = move || chat.0.with(|s| s.composer_error(&failed_room));

    let draft_room = room_id.clone();
    let set_text = move |value: String| {
        local_error.set(None);
        keep_draft(&draft_room, &value);
        text.set(value);
    };
    // Opening a room whose page took the focus with it (the form that created it, a
    // pop-up that let the user in): the next thing to do is write.
    let box_ref = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = box_ref.get() {
            browser::focus_if_lost(&el);
        }
    });
    let set_text_for_send = set_text.clone();
    let set_text_for_pick = set_text.clone();
    let send = move || {
        let value = text.get_untracked();
        let mut refused = None;
        connection.act(
            |s| match s.send_message(&room_id, &value, new_client_msg_id()) {
                Ok(commands) => commands,
                Err(reason) => {
                    refused = Some(reason);
                    Vec::new()
                }
            },
        );
        match refused {
            None => set_text_for_send(String::new()),
            Some(reason) => local_error.set(Some(reason)),
        }
    };
    let send_on_submit = send.clone();
    let replying = Memo::new(move |_| {
        chat.0
            .with(|s| s.room(&reply_room).and_then(|r| r.replying_to.clone()))
    });
    let cancel_reply = move || {
        connection.act(|s| {
            s.cancel_reply(&cancel_room);
            Vec::new()
        });
    };
    let cancel_on_escape = cancel_reply.clone();
    // `@` completion: the caret (in UTF-16 units, as the browser counts), the option
    // highlighted, and whether Escape closed the list until the text changes.
    let caret = RwSignal::new(0_u32);
    let active = RwSignal::new(0_usize);
    let dismissed = RwSignal::new(false);
    let suggest = Memo::new(move |_| {
        if dismissed.get() {
            return None;
        }
        let (at, prefix) = text.with(|t| {
            let end = mention_complete::byte_offset(t, caret.get());
            mention_complete::query(&t[..end])
        })?;
        let names = chat.0.with(|s| {
            s.room(&members_room).map(|r| {
                mention_complete::suggestions(
                    &prefix,
                    r.members.approved().map(|p| &p.user_id),
                    s.me.as_ref(),
                )
            })
        })?;
        (!names.is_empty()).then_some((at, names))
    });
    let pick = Callback::new(move |name: UserId| {
        let name = &name;
        let Some((at, _)) = suggest.get_untracked() else {
            return;
        };
        let current = text.get_untracked();
        let end = mention_complete::byte_offset(&current, caret.get_untracked());
        let (new_text, new_caret) = mention_complete::complete(&current, at, end, name);
        let position = mention_complete::utf16_offset(&new_text, new_caret);
        // The box and its caret change at once, before the next key: a caret put back
        // later lands in the middle of what was typed meanwhile.
        if let Some(el) = box_ref.get_untracked() {
            el.set_value(&new_text);
            let _ = el.set_selection_range(position, position);
            let _ = el.focus();
        }
        set_text_for_pick(new_text);
        caret.set(position);
        active.set(0);
    });
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if let Some((_, names)) = suggest.get_untracked() {
            match ev.key().as_str() {
                "ArrowDown" => {
                    ev.prevent_default();
                    active.update(|a| *a = (*a + 1) % names.len());
                    return;
                }
                "ArrowUp" => {
                    ev.prevent_default();
                    active.update(|a| *a = (*a + names.len() - 1) % names.len());
                    return;
                }
                "Enter" | "Tab" if !ev.shift_key() && !ev.is_composing() => {
                    ev.prevent_default();
                    let choice = names[active.get_untracked().min(names.len() - 1)].clone();
                    pick.run(choice);
                    return;
                }
                "Escape" => {
                    ev.prevent_default();
                    dismissed.set(true);
                    return;
                }
                _ => {}
            }
        }
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        } else if ev.key() == "Escape" && replying.with_untracked(Option::is_some) {
            cancel_on_escape();
        }
    };
    let track_caret = move || {
        if let Some(el) = box_ref.get_untracked() {
            caret.set(el.selection_start().ok().flatten().unwrap_or(0));
        }
    };

    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send_on_submit();
            }
        >
            <label for="message" class="composer-label">"Message"</label>
            {move || {
                replying
                    .get()
                    .map(|quote| {
                        let cancel = cancel_reply.clone();
                        view! {
                            <div class="reply-bar">
                                <span class="reply-bar-text">
                                    "Replying to "
                                    <strong dir="auto">{display_name(&quote.user_id)}</strong>
                                    ": "
                                    <span dir="auto">{quote.excerpt}</span>
                                </span>
                                <button
                                    type="button"
                                    class="btn btn-small btn-quiet"
                                    aria-label="Cancel reply"
                                    on:click=move |_| cancel()
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
            }}
            <div class="composer-row">
                <textarea
                    id="message"
                    node_ref=box_ref
                    rows="1"
                    placeholder="Write a message…"
                    aria-describedby="composer-help"
                    aria-invalid=move || over().to_string()
                    prop:value=text
                    aria-autocomplete="list"
                    aria-controls=move || suggest.with(Option::is_some).then_some("mention-list")
                    aria-activedescendant=move || {
                        suggest.with(|s| s.as_ref().map(|_| format!("mention-{}", active.get())))
                    }
                    on:input=move |ev| {
                        set_text(event_target_value(&ev));
                        track_caret();
                        dismissed.set(false);
                        active.set(0);
                        let now = browser::now_ms();
                        connection.act(|s| s.typed(&typing_room, now));
                    }
                    on:keyup=move |ev: leptos::ev::KeyboardEvent| {
                        if matches!(ev.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                            track_caret();
                        }
                    }
                    on:click=move |_| track_caret()
                    on:keydown=on_keydown
                ></textarea>
                <button type="submit" class="btn btn-primary" disabled=over>
                    "Send"
                </button>
            </div>
            {move || {
                suggest
                    .get()
                    .map(|(_, names)| {
                        view! {
                            <ul class="mention-list" id="mention-list" role="listbox" aria-label="Mention a member">
                                {names
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, name)| {
                                        let chosen = name.clone();
                                        view! {
                                            <li
                                                role="option"
                                                id=format!("mention-{i}")
                                                class:active=move || active.get() == i
                                                aria-selected=move || (active.get() == i).to_string()
                                                on:mousedown=move |ev| {
                                                    ev.prevent_default();
                                                    pick.run(chosen.clone());
                                                }
                                            >
                                                {format!("@{name}")}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                    })
            }}
            <ComposerFoot chars over />
            {move || {
                local_error
                    .get()
                    .or_else(server_error.clone())
                    .map(|text| view! { <p class="error" role="alert">{text}</p> })
            }}
        </form>
    }
}

/// The hint under the box and the counter near the limit.
#[component]
fn ComposerFoot(
    chars: Memo<usize>,
    over: impl Fn() -> bool + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let offline = move || connection.status.get() != ConnStatus::Online;
    view! {
    <div class="composer-foot">
        <span id="composer-help" class="hint">
            {move || {
                if offline() {
                    "Offline: messages you send now go out when the connection is back."
                } else {
                    "Enter to send, Shift+Enter for a new line"
                }
            }}
        </span>
        <span class="counter" class:over=over aria-live="polite">
            {move || counter_text(chars.get())}
        </span>
    </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_appears_near_the_limit() {
        assert_eq!(counter_text(10), None);
        assert_eq!(counter_text(3_499), None);
        assert_eq!(counter_text(3_500).as_deref(), Some("3,500 / 4,000"));
        assert_eq!(counter_text(4_001).as_deref(), Some("4,001 / 4,000"));
    }
}
