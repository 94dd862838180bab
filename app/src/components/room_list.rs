//! The user's rooms: approved ones and requests with their status, with badges for
//! waiting join requests (admins) and unread messages.

use knock_protocol::{MemberStatus, RoomId};
use leptos::prelude::*;

use crate::client::Chat;
use crate::router::Link;
use crate::state::room_path;

/// What one row shows; compared to skip re-rendering unchanged rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Row {
    room_id: RoomId,
    name: String,
    status: Option<MemberStatus>,
    is_admin: bool,
    requests: usize,
    unread: u32,
    mentions: u32,
}

#[component]
pub fn RoomList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let rows = Memo::new(move |_| {
        chat.0.with(|s| {
            s.listed_rooms()
                .into_iter()
                .map(|r| Row {
                    room_id: r.room_id.clone(),
                    name: r.display_name(),
                    status: r.status,
                    is_admin: r.is_admin,
                    requests: r.pending_requests(),
                    unread: r.unread,
                    mentions: r.mentions,
                })
                .collect::<Vec<_>>()
        })
    });
    let loaded = move || chat.0.with(|s| s.rooms_loaded);
    view! {
        <nav class="rooms" aria-labelledby="rooms-heading">
            <div class="rooms-head">
                <h2 id="rooms-heading">"Rooms"</h2>
                <Link href="/".into() class="btn btn-small">"New or join"</Link>
            </div>
            <Show
                when=move || !rows.with(Vec::is_empty)
                fallback=move || {
                    view! {
                        <p class="muted rooms-empty">
                            {move || {
                                if loaded() {
                                    "No rooms yet. Create one, or join with an ID."
                                } else {
                                    "Loading your rooms…"
                                }
                            }}
                        </p>
                    }
                }
            >
                <ul class="room-items">
                    <For each=move || rows.get() key=|row| row.clone() let:row>
                        <RoomRow row />
                    </For>
                </ul>
            </Show>
        </nav>
    }
}

#[component]
fn RoomRow(row: Row) -> impl IntoView {
    let status = match row.status {
        Some(MemberStatus::Pending) => Some("Waiting for approval"),
        Some(MemberStatus::Rejected) => Some("Rejected"),
        _ => None,
    };
    let requests = (row.requests > 0).then(|| {
        let label = if row.requests == 1 {
            "1 join request".to_owned()
        } else {
            format!("{} join requests", row.requests)
        };
        view! {
            <span class="badge badge-alert" title=label.clone() aria-label=label>
                {row.requests}
            </span>
        }
    });
    let unread = (row.unread > 0).then(|| {
        let label = format!("{} unread", row.unread);
        view! {
            <span class="badge" title=label.clone() aria-label=label>
                {row.unread}
            </span>
        }
    });
    let mentions = (row.mentions > 0).then(|| {
        let label = if row.mentions == 1 {
            "1 mention".to_owned()
        } else {
            format!("{} mentions", row.mentions)
        };
        view! {
            <span class="badge badge-mention" title=label.clone() aria-label=label>
                "@"
                {row.mentions}
            </span>
        }
    });
    view! {
        <li class="room-item" class:pending=row.status == Some(MemberStatus::Pending)>
            <Link href=room_path(&row.room_id) class="room-link">
                <span class="room-name" dir="auto">
                    {row.name}
                </span>
                {row.is_admin.then(|| view! { <span class="tag">"admin"</span> })}
                {status.map(|s| view! { <span class="room-status">{s}</span> })}
                <span class="room-badges">{requests} {mentions} {unread}</span>
            </Link>
        </li>
    }
}

/// "Requests": every join request waiting in the user's rooms, on one page. Shown to the
/// admins of some room, with how many wait.
#[component]
pub fn RequestsLink() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let admin = Memo::new(move |_| chat.0.with(|s| s.rooms.values().any(|r| r.is_admin)));
    let waiting = Memo::new(move |_| {
        chat.0.with(|s| {
            s.rooms
                .values()
                .map(crate::state::RoomState::pending_requests)
                .sum::<usize>()
        })
    });
    view! {
        <Show when=move || admin.get()>
            <Link href="/requests".into() class="requests-link">
                "Requests"
                {move || {
                    let n = waiting.get();
                    (n > 0)
                        .then(|| {
                            let label = if n == 1 {
                                "1 waiting".to_owned()
                            } else {
                                format!("{n} waiting")
                            };
                            view! {
                                <span class="badge badge-alert" title=label.clone() aria-label=label>
                                    {n}
                                </span>
                            }
                        })
                }}
            </Link>
        </Show>
    }
}
