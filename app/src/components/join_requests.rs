//! For the room's admin: the requests waiting for an answer, with Approve and Reject
//! (each described by the person's name, `aria-describedby`).

use knock_protocol::{RoomId, UserId};
use leptos::prelude::*;

use crate::client::Chat;
use crate::components::member_list::initial;
use crate::components::notices::DecideButtons;
use crate::state::Slot;

#[component]
pub fn JoinRequests(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room = room_id.clone();
    let pending = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&room)
                .filter(|r| r.is_admin)
                .map(|r| {
                    r.members
                        .pending()
                        .map(|p| p.user_id.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let slot = Slot::Admin(room_id.clone());
    let error = move || chat.0.with(|s| s.error(&slot));
    view! {
        <Show when=move || !pending.with(Vec::is_empty)>
            <section class="requests" aria-labelledby="requests-heading">
                <h2 id="requests-heading">
                    "Join requests " <span class="badge badge-alert">{move || pending.with(Vec::len)}</span>
                </h2>
                {
                    let error = error.clone();
                    move || error().map(|text| view! { <p class="error" role="alert">{text}</p> })
                }
                <ul class="request-items">
                    <For
                        each=move || pending.get()
                        key=|user| user.clone()
                        children={
                            let room_id = room_id.clone();
                            move |user| view! { <RequestRow room_id=room_id.clone() user /> }
                        }
                    />
                </ul>
            </section>
        </Show>
    }
}

#[component]
fn RequestRow(room_id: RoomId, user: UserId) -> impl IntoView {
    // The buttons keep their short names; the person's name is their description.
    let name_id = format!("request-{user}");
    view! {
        <li class="request">
            <span class="avatar" aria-hidden="true">{initial(&user)}</span>
            <span class="member-name" id=name_id.clone()>{user.to_string()}</span>
            <DecideButtons room_id user class="request-actions" described_by=name_id />
        </li>
    }
}
