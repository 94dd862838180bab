//! Live notifications: join requests for the rooms the user administers (with Approve
//! and Reject, wherever the user is), and the answers to the user's own requests.

use knock_protocol::RoomId;
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::router::Link;
use crate::state::{Notice, NoticeEntry, room_path};

#[component]
pub fn Notices() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let entries = Memo::new(move |_| chat.0.with(|s| s.notices.clone()));
    view! {
        <section class="notices" aria-label="Notifications" aria-live="polite">
            <For each=move || entries.get() key=|entry| entry.id let:entry>
                <NoticeView entry />
            </For>
        </section>
    }
}

#[component]
fn NoticeView(entry: NoticeEntry) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let id = entry.id;
    let room_name = |room_id: &RoomId| {
        let room_id = room_id.clone();
        move || {
            chat.0.with(|s| {
                s.room(&room_id).map_or_else(
                    || room_id.to_string(),
                    crate::state::RoomState::display_name,
                )
            })
        }
    };
    let dismiss = move |_| chat.0.update(|s| s.dismiss(id));
    let body = match entry.notice {
        Notice::JoinRequest { room_id, user_id } => {
            let name = room_name(&room_id);
            let (approve_room, approve_user) = (room_id.clone(), user_id.clone());
            let (reject_room, reject_user) = (room_id.clone(), user_id.clone());
            view! {
                <p class="notice-text">
                    <strong>{user_id.to_string()}</strong>
                    " asks to join "
                    <Link href=room_path(&room_id)>{name}</Link>
                </p>
                <div class="notice-actions">
                    <button
                        type="button"
                        class="btn btn-small btn-primary"
                        on:click=move |_| {
                            connection.act(|s| s.decide(&approve_room, &approve_user, true));
                        }
                    >
                        "Approve"
                    </button>
                    <button
                        type="button"
                        class="btn btn-small btn-danger"
                        on:click=move |_| {
                            connection.act(|s| s.decide(&reject_room, &reject_user, false));
                        }
                    >
                        "Reject"
                    </button>
                </div>
            }
            .into_any()
        }
        Notice::Approved { room_id } => {
            let name = room_name(&room_id);
            view! {
                <p class="notice-text">
                    "You're in! You can now chat in " <Link href=room_path(&room_id)>{name}</Link> "."
                </p>
            }
            .into_any()
        }
        Notice::Rejected { room_id } => {
            let name = room_name(&room_id);
            view! {
                <p class="notice-text">"Your request to join " {name} " was rejected."</p>
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
