//! Message search: a box over all rooms (in the sidebar) or over the room on screen, and
//! its results grouped by room, each a button that opens the room at the message. The
//! snippet's parts are text nodes, the matches in `<mark>`: never HTML from the server.
//! Arrow keys move between results; Escape closes them.

use knock_protocol::{RoomId, SearchResult};
use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser;
use crate::client::{Chat, Connection};
use crate::state::display_name;

// Leptos props are owned values; the id is cloned into the closures that need it.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn SearchBox(#[prop(optional)] room_id: Option<RoomId>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let input = NodeRef::<html::Input>::new();
    let results = NodeRef::<html::Div>::new();
    let name = if room_id.is_some() {
        "This room"
    } else {
        "All rooms"
    };
    let scope = room_id.clone();
    let shown = Memo::new(move |_| {
        chat.0
            .with(|s| s.search.asked.as_ref().is_some_and(|(_, r)| r == &scope))
    });
    let scope = room_id.clone();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let query = input.get_untracked().map(|i| i.value()).unwrap_or_default();
        connection.act(|s| s.search(&query, scope.clone()));
    };
    let close = move || {
        chat.0.update(|s| s.search.clear());
        if let Some(i) = input.get_untracked() {
            let _ = i.focus();
        }
    };
    let on_input_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            move_focus(results, 1);
        }
        "Escape" if shown.get_untracked() => close(),
        _ => {}
    };
    // The room's box appears on demand (a click on "Search this room"): ready to type.
    if room_id.is_some() {
        Effect::new(move |_| {
            if let Some(i) = input.get() {
                let _ = i.focus();
            }
        });
    }
    let on_results_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            move_focus(results, 1);
        }
        "ArrowUp" => {
            ev.prevent_default();
            if !move_focus(results, -1)
                && let Some(i) = input.get_untracked()
            {
                let _ = i.focus();
            }
        }
        "Escape" => close(),
        _ => {}
    };
    view! {
        <form class="search" role="search" aria-label=name on:submit=on_submit>
            <input
                type="search"
                node_ref=input
                aria-label="Search messages"
                placeholder="Search messages"
                enterkeyhint="search"
                on:keydown=on_input_key
            />
            <button type="submit" class="btn btn-small">"Search"</button>
        </form>
        <Show when=move || shown.get()>
            <div class="search-results" node_ref=results on:keydown=on_results_key>
                <Results on_close=close />
            </div>
        </Show>
    }
}

/// Moves the keyboard focus `step` results from the focused one (the first when none
/// is): false when there is none that way.
fn move_focus(results: NodeRef<html::Div>, step: i32) -> bool {
    let Some(list) = results.get_untracked() else {
        return false;
    };
    let Ok(hits) = list.query_selector_all(".search-hit") else {
        return false;
    };
    let active = document().active_element();
    let current = (0..hits.length()).find(|&i| {
        hits.item(i)
            .is_some_and(|h| active.as_ref().is_some_and(|a| a.is_same_node(Some(&h))))
    });
    let next = match current {
        Some(i) => i64::from(i) + i64::from(step),
        None if step > 0 => 0,
        None => return false,
    };
    let Some(hit) = u32::try_from(next)
        .ok()
        .and_then(|i| hits.item(i))
        .and_then(|h| h.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    hit.focus().is_ok()
}

#[component]
fn Results(on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let groups = Memo::new(move |_| chat.0.with(|s| s.search.by_room()));
    let state = Memo::new(move |_| {
        chat.0
            .with(|s| (s.search.loading, s.search.has_more, s.search.error.clone()))
    });
    let status = move || {
        let (loading, _, error) = state.get();
        if let Some(error) = error {
            view! { <p class="error" role="alert">{error}</p> }.into_any()
        } else if loading {
            view! { <p class="muted">"Searching…"</p> }.into_any()
        } else if groups.with(Vec::is_empty) {
            view! { <p class="muted">"No messages found."</p> }.into_any()
        } else {
            ().into_any()
        }
    };
    view! {
        <section aria-label="Search results">
            <div class="search-results-head">
                <h2>"Search results"</h2>
                <button type="button" class="btn btn-small btn-quiet" on:click=move |_| on_close()>
                    "Close search"
                </button>
            </div>
            <div aria-live="polite">{status}</div>
            <For each=move || groups.get() key=|(room, hits)| (room.clone(), hits.len()) let:group>
                <RoomHits room_id=group.0 hits=group.1 />
            </For>
            <Show when=move || state.with(|(loading, more, _)| *more && !*loading)>
                <button
                    type="button"
                    class="btn btn-small"
                    on:click=move |_| connection.act(crate::state::ChatState::search_more)
                >
                    "More results"
                </button>
            </Show>
        </section>
    }
}

#[component]
fn RoomHits(room_id: RoomId, hits: Vec<SearchResult>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let id = room_id.clone();
    let name = move || {
        chat.0.with(|s| {
            s.room(&id).map_or_else(
                || crate::state::RoomState::display_name_of(&id, None),
                crate::state::RoomState::display_name,
            )
        })
    };
    view! {
        <h3 class="search-room">
            <bdi>{name}</bdi>
        </h3>
        <ul class="search-hits">
            {hits.into_iter().map(|hit| view! { <Hit hit /> }).collect_view()}
        </ul>
    }
}

#[component]
fn Hit(hit: SearchResult) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let (full, iso) = browser::local_date_time(hit.timestamp);
    let day = browser::day_label(hit.timestamp);
    let (room_id, seq) = (hit.room_id.clone(), hit.seq);
    let snippet = hit
        .snippet
        .into_iter()
        .map(|part| {
            if part.is_match {
                view! { <mark>{part.text}</mark> }.into_any()
            } else {
                part.text.into_any()
            }
        })
        .collect_view();
    view! {
        <li>
            <button
                type="button"
                class="search-hit"
                on:click=move |_| connection.act(|s| s.open_result(&room_id, seq))
            >
                <span class="msg-meta">
                    <span class="msg-author" dir="auto">{display_name(&hit.user_id)}</span>
                    " "
                    <time class="msg-time" datetime=iso title=full>{day}</time>
                </span>
                <span class="search-snippet" dir="auto">{snippet}</span>
            </button>
        </li>
    }
}
