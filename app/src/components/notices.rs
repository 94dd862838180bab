//! Live notifications: join requests for the rooms the user administers (with Approve
//! and Reject, wherever the user is), the answers to the user's own requests, and rooms
//! that left the user's view (left, removed, banned, deleted).
//!
//! Join requests never stack: one request is one notice ("bob asks to join Book club");
//! two or more are one banner ("3 people ask to join") that opens the list, newest
//! first, with "Dismiss all". Each Approve, Reject and Ban keeps its short name and is
//! described by the sentence that names the person (`aria-describedby`).
//!
//! Names and reasons are isolated (`<bdi>`, `dir="auto"`): a right-to-left one must not
//! reorder the sentence around it.

use knock_protocol::{RoomId, UserId};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::router::Link;
use crate::state::notices::people_ask_to_join;
use crate::state::{ChatState, Notice, NoticeEntry, gone_words, room_path};

#[component]
pub fn Notices() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let requests = Memo::new(move |_| {
        chat.0.with(|s| {
            s.join_request_notices()
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let others = Memo::new(move |_| {
        chat.0
            .with(|s| s.other_notices().into_iter().cloned().collect::<Vec<_>>())
    });
    view! {
        <section class="notices" aria-label="Notifications" aria-live="polite">
            <RequestsBanner requests />
            <For each=move || others.get() key=|entry| entry.id let:entry>
                <NoticeView entry />
            </For>
        </section>
    }
}

/// All live join requests in one place: the notice itself for one, else the banner.
#[component]
fn RequestsBanner(requests: Memo<Vec<NoticeEntry>>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let open = RwSignal::new(false);
    let count = Memo::new(move |_| requests.with(Vec::len));
    let single = Memo::new(move |_| requests.with(|r| (r.len() == 1).then(|| r[0].clone())));
    Effect::new(move |_| {
        if count.get() < 2 {
            open.set(false);
        }
    });
    let dismiss_all = move |_| {
        chat.0.update(ChatState::dismiss_join_requests);
    };
    view! {
        {move || single.get().map(|entry| view! { <NoticeView entry /> })}
        <Show when=move || { count.get() >= 2 }>
            <div class="notice notice-requests">
                <button
                    type="button"
                    class="notice-summary"
                    aria-expanded=move || open.get().to_string()
                    aria-controls="notice-request-list"
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    {move || people_ask_to_join(count.get())}
                    <span class="chevron" aria-hidden="true"></span>
                </button>
                <button type="button" class="btn btn-small btn-quiet" on:click=dismiss_all>
                    "Dismiss all"
                </button>
                // Not announced: it opens on the user's own click.
                <ul
                    id="notice-request-list"
                    class="notice-list"
                    aria-label="Join requests, newest first"
                    aria-live="off"
                    hidden=move || !open.get()
                >
                    <For each=move || requests.get() key=|entry| entry.id let:entry>
                        {match entry.notice {
                            Notice::JoinRequest { room_id, user_id, reason } => {
                                view! { <RequestItem id=entry.id room_id user_id reason /> }
                                    .into_any()
                            }
                            _ => ().into_any(),
                        }}
                    </For>
                </ul>
            </div>
        </Show>
    }
}

/// One request in the opened banner.
#[component]
fn RequestItem(id: u64, room_id: RoomId, user_id: UserId, reason: Option<String>) -> impl IntoView {
    view! {
        <li class="notice-item">
            <JoinRequestText id room_id user_id reason />
        </li>
    }
}

/// "bob asks to join Book club" and their message, with Approve and Reject described by
/// them: a single notice and a row of the opened banner alike.
#[component]
fn JoinRequestText(
    id: u64,
    room_id: RoomId,
    user_id: UserId,
    reason: Option<String>,
) -> impl IntoView {
    let text_id = format!("notice-{id}-text");
    let reason_id = format!("notice-{id}-reason");
    let described_by = match reason {
        Some(_) => format!("{text_id} {reason_id}"),
        None => text_id.clone(),
    };
    let name = room_name(&room_id);
    view! {
        <p class="notice-text" id=text_id>
            <strong dir="auto">{user_id.to_string()}</strong>
            " asks to join "
            <Link href=room_path(&room_id)>
                <bdi>{name}</bdi>
            </Link>
        </p>
        <RequestMessage id=reason_id reason />
        <DecideButtons room_id user=user_id described_by />
    }
}

/// The message a knock came with, as its sender wrote it (in its own direction).
#[component]
pub fn RequestMessage(id: String, reason: Option<String>) -> impl IntoView {
    reason.map(|text| view! { <p class="reason" id=id dir="auto">{text}</p> })
}

/// Approve, Reject and Ban, named as such and described by `described_by` (whom they
/// answer). Reject and Ban send `reason` when given (the request panel's box), else
/// none. Ban stops a knocker for good (until unbanned) without letting them in first.
#[component]
pub fn DecideButtons(
    room_id: RoomId,
    user: UserId,
    /// The wrapper's class: where the buttons sit.
    #[prop(default = "notice-actions")]
    class: &'static str,
    described_by: String,
    #[prop(optional)] reason: Option<RwSignal<String>>,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let (approve_room, approve_user) = (room_id.clone(), [user.clone()]);
    let (reject_room, reject_user) = (room_id.clone(), [user.clone()]);
    let typed = move || reason.map(|r| r.get_untracked()).unwrap_or_default();
    let reject = move |_| {
        let reason = typed();
        connection.act(|s| s.decide(&reject_room, &reject_user, false, &reason));
    };
    let ban = move |_| {
        let reason = typed();
        connection.act(|s| s.ban_request(&room_id, &user, &reason));
    };
    // Decided: the request goes, and the focus with it; the next thing to do is write
    // (or, with no room open, the page).
    on_cleanup(|| request_animation_frame(crate::browser::focus_next_step));
    view! {
        <span class=class>
            <button
                type="button"
                class="btn btn-small btn-primary"
                aria-describedby=described_by.clone()
                on:click=move |_| connection.act(|s| s.decide(&approve_room, &approve_user, true, ""))
            >
                "Approve"
            </button>
            <button
                type="button"
                class="btn btn-small btn-danger"
                aria-describedby=described_by.clone()
                on:click=reject
            >
                "Reject"
            </button>
            <button
                type="button"
                class="btn btn-small btn-quiet"
                aria-describedby=described_by
                on:click=ban
            >
                "Ban"
            </button>
        </span>
    }
}

/// The room's name as the client knows it, kept current.
fn room_name(room_id: &RoomId) -> impl Fn() -> String + Send + Sync + 'static {
    let chat = expect_context::<Chat>();
    let room_id = room_id.clone();
    move || {
        chat.0.with(|s| {
            s.room(&room_id).map_or_else(
                || room_id.to_string(),
                crate::state::RoomState::display_name,
            )
        })
    }
}

/// " Reason: …", isolated, after a sentence that has one.
#[component]
fn Reason(reason: Option<String>) -> impl IntoView {
    reason.map(|r| view! { " Reason: " <bdi>{r}</bdi> })
}

#[component]
fn NoticeView(entry: NoticeEntry) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let id = entry.id;
    let dismiss = move |_| chat.0.update(|s| s.dismiss(id));
    let body = match entry.notice {
        Notice::JoinRequest {
            room_id,
            user_id,
            reason,
        } => view! { <JoinRequestText id room_id user_id reason /> }.into_any(),
        Notice::Approved { room_id } => {
            let name = room_name(&room_id);
            view! {
                <p class="notice-text">
                    "You're in! You can now chat in "
                    <Link href=room_path(&room_id)>
                        <bdi>{name}</bdi>
                    </Link> "."
                </p>
            }
            .into_any()
        }
        Notice::Rejected { room_id, reason } => {
            let name = room_name(&room_id);
            view! {
                <p class="notice-text">
                    "Your request to join " <bdi>{name}</bdi> " was rejected." <Reason reason />
                </p>
            }
            .into_any()
        }
        Notice::Gone {
            room_name,
            why,
            reason,
            ..
        } => {
            let (before, after) = gone_words(why);
            view! {
                <p class="notice-text">
                    {before} <bdi>{room_name}</bdi> {after} <Reason reason />
                </p>
            }
            .into_any()
        }
    };
    view! {
        <div class="notice">
            {body}
            <button type="button" class="notice-close" aria-label="Dismiss notification" on:click=dismiss>
                "×"
            </button>
        </div>
    }
}
