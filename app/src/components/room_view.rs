//! A room's page: its header with the copy buttons, "Leave room" and "Delete room", then
//! by the user's standing either the conversation (messages, composer, members, join
//! requests), a "waiting for approval" panel with "Withdraw request", the rejection with
//! its reason, or why the room cannot be shown. Knocking from here can carry a message.

use knock_protocol::{MemberStatus, RoomId};
use leptos::prelude::*;

use crate::browser;
use crate::client::{Chat, Connection};
use crate::components::composer::Composer;
use crate::components::copy_button::CopyButton;
use crate::components::error_text::ErrorText;
use crate::components::invite_links::InviteLinks;
use crate::components::join_requests::JoinRequests;
use crate::components::member_list::MemberList;
use crate::components::message_list::MessageList;
use crate::components::reason_field::ReasonField;
use crate::components::room_actions::{Confirm, RoomButtons, RoomConfirm};
use crate::components::search::SearchBox;
use crate::components::typing::TypingIndicator;
use crate::router::Link;
use crate::state::Slot;

#[component]
pub fn RoomPage(room_id: RoomId) -> impl IntoView {
    view! { <RoomView room_id /> }
}

/// What the page needs to know about the room to pick a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Standing {
    name: String,
    status: Option<MemberStatus>,
    is_admin: bool,
}

#[component]
fn RoomView(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();

    let open_id = room_id.clone();
    Effect::new(move |_| connection.act(|s| s.open_room(&open_id)));
    let close_id = room_id.clone();
    on_cleanup(move || {
        chat.0.update(|s| {
            if s.viewing.as_ref() == Some(&close_id) {
                s.close_room();
            }
        });
    });

    let id = room_id.clone();
    let standing = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&id).map_or_else(
                || Standing {
                    name: crate::state::RoomState::display_name_of(&id, None),
                    status: None,
                    is_admin: false,
                },
                |r| Standing {
                    name: r.display_name(),
                    status: r.status,
                    is_admin: r.is_admin,
                },
            )
        })
    });
    let id = room_id.clone();
    let invite = Signal::derive(move || format!("{}/join/{id}", browser::page_origin()));
    let id_text = Signal::derive({
        let id = room_id.clone();
        move || id.to_string()
    });
    let status = Memo::new(move |_| standing.with(|s| s.status));
    let is_admin = Memo::new(move |_| standing.with(|s| s.is_admin));
    let confirm = RwSignal::new(Confirm::Closed);
    // The room's search box, shown on demand: on a phone it would take the conversation's
    // room.
    let searching = RwSignal::new(false);
    let toggle_search = move |_| {
        if searching.get_untracked() {
            chat.0.update(|s| {
                if s.search
                    .asked
                    .as_ref()
                    .is_some_and(|(_, room)| room.is_some())
                {
                    s.search.clear();
                }
            });
        }
        searching.update(|open| *open = !*open);
    };

    let body = {
        let room_id = room_id.clone();
        move || match status.get() {
            Some(MemberStatus::Approved) => {
                view! { <Conversation room_id=room_id.clone() searching /> }.into_any()
            }
            Some(MemberStatus::Pending) => view! { <Waiting room_id=room_id.clone() /> }.into_any(),
            Some(MemberStatus::Rejected) => {
                view! { <Rejected room_id=room_id.clone() /> }.into_any()
            }
            _ => view! { <NotInRoom room_id=room_id.clone() /> }.into_any(),
        }
    };
    let (buttons_room, confirm_room) = (room_id.clone(), room_id.clone());

    view! {
        <div class="room">
            <header class="room-head">
                <Link href="/".into() class="back-link" label="Back to rooms">"‹ Rooms"</Link>
                <h1 class="room-title">
                    <bdi>{move || standing.with(|s| s.name.clone())}</bdi>
                    <Show when=move || standing.with(|s| s.is_admin)>
                        <span class="tag">"admin"</span>
                    </Show>
                </h1>
                <Show when=move || status.get() == Some(MemberStatus::Approved)>
                    <div class="room-tools">
                        // An icon: on a phone the header's buttons must stay in two rows.
                        <button
                            type="button"
                            class="btn btn-small btn-icon"
                            aria-label="Search this room"
                            title="Search this room"
                            aria-expanded=move || searching.get().to_string()
                            on:click=toggle_search
                        >
                            <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
                                <circle cx="6.5" cy="6.5" r="4.5" fill="none" stroke="currentColor" stroke-width="2" />
                                <path d="M10 10l4 4" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                            </svg>
                        </button>
                        <CopyButton label="Copy room ID" text=id_text />
                        <CopyButton label="Copy invite link" text=invite />
                        <RoomButtons room_id=buttons_room.clone() confirm is_admin />
                    </div>
                </Show>
                <RoomConfirm room_id=confirm_room confirm status is_admin />
            </header>
            {body}
        </div>
    }
}

#[component]
fn Conversation(room_id: RoomId, searching: RwSignal<bool>) -> impl IntoView {
    let search_id = room_id.clone();
    let wide = web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w >= 900.0);
    view! {
        <div class="room-body">
            <section class="chat" aria-label="Conversation">
                <Show when=move || searching.get()>
                    <SearchBox room_id=search_id.clone() />
                </Show>
                <MessageList room_id=room_id.clone() />
                <TypingIndicator room_id=room_id.clone() />
                <Composer room_id=room_id.clone() />
            </section>
            <aside class="room-side" aria-label="Requests and members">
                <JoinRequests room_id=room_id.clone() />
                <InviteLinks room_id=room_id.clone() />
                <MemberList room_id=room_id open=wide />
            </aside>
        </div>
    }
}

/// The user's request waits for an admin; they may take it back.
#[component]
fn Waiting(room_id: RoomId) -> impl IntoView {
    let connection = expect_context::<Connection>();
    view! {
        <section class="panel waiting" aria-live="polite">
            <div class="spinner" aria-hidden="true"></div>
            <h2>"Waiting for approval"</h2>
            <p>
                "Your request to join is with the room's admins. This page opens the conversation as soon as they let you in; there is no need to reload."
            </p>
            <ErrorText at=Slot::Standing(room_id.clone()) />
            <button
                type="button"
                class="btn"
                on:click=move |_| connection.act(|s| s.withdraw_request(&room_id))
            >
                "Withdraw request"
            </button>
        </section>
    }
}

/// The admins said no, maybe with a reason; the user may knock again (after the
/// server's cooldown, which its error says).
#[component]
fn Rejected(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let id = room_id.clone();
    let reason = move || {
        chat.0
            .with(|s| s.room(&id).and_then(|r| r.rejection.clone()))
    };
    view! {
        <section class="panel">
            <h2>"Your request was rejected"</h2>
            <p>"The room's admins did not let you in. You may ask again."</p>
            {move || reason().map(|r| view! { <p class="reason">"Reason: " <bdi>{r}</bdi></p> })}
            <ErrorText at=Slot::Room(room_id.clone()) />
            <KnockForm room_id button="Ask again" />
        </section>
    }
}

/// Knocking from the room's page, with an optional message to the admins.
#[component]
fn KnockForm(room_id: RoomId, button: &'static str) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let message = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        connection.act(|s| message.with_untracked(|m| s.request_join(room_id.as_str(), m)));
    };
    view! {
        <form class="knock" on:submit=on_submit>
            <ReasonField
                id="knock-message".into()
                label="Message to the admins"
                hint="Optional."
                text=message
            />
            <button type="submit" class="btn btn-primary">{button}</button>
        </form>
    }
}

/// The user has no standing in the room: not loaded yet, not a member, or no such room.
#[component]
fn NotInRoom(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let slot = Slot::Room(room_id.clone());
    let error = move || chat.0.with(|s| s.error(&slot));
    let loaded = move || chat.0.with(|s| s.rooms_loaded);
    let id = room_id.clone();
    let exists = move || chat.0.with(|s| s.room(&id).is_none_or(|r| !r.not_found));
    view! {
        <section class="panel">
            {move || match error() {
                Some(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
                None if loaded() => view! { <p>"You are not a member of this room."</p> }.into_any(),
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            }}
            <Show when=move || loaded() && exists()>
                <p>"Its admins can let you in if you ask."</p>
                <KnockForm room_id=room_id.clone() button="Ask to join" />
            </Show>
        </section>
    }
}
