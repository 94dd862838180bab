//! For the room's admins: the requests waiting for an answer, each with its message and
//! Approve, Reject and Ban (described by the person's name, `aria-describedby`),
//! "Approve all" when two or more wait. Reject and Ban are one click; "Add a reason"
//! opens a box whose text the rejected or banned person is told.

use knock_protocol::{Participant, RoomId};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::components::error_text::ErrorText;
use crate::components::member_list::initial;
use crate::components::notices::{DecideButtons, RequestMessage};
use crate::components::reason_field::ReasonField;
use crate::state::Slot;

#[component]
pub fn JoinRequests(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room = room_id.clone();
    let pending = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&room)
                .filter(|r| r.is_admin)
                .map(|r| r.members.pending().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let count = Memo::new(move |_| pending.with(Vec::len));
    let all_room = room_id.clone();
    view! {
        <Show when=move || { count.get() > 0 }>
            <section class="requests" aria-labelledby="requests-heading">
                <div class="requests-head">
                    <h2 id="requests-heading">
                        "Join requests " <span class="badge badge-alert">{move || count.get()}</span>
                    </h2>
                    {
                        let all_room = all_room.clone();
                        move || {
                            (count.get() >= 2)
                                .then(|| view! { <ApproveAll room_id=all_room.clone() /> })
                        }
                    }
                </div>
                <ErrorText at=Slot::Admin(room_id.clone()) />
                <ul class="request-items">
                    <For
                        each=move || pending.get()
                        key=|p| (p.user_id.clone(), p.reason.clone())
                        children={
                            let room_id = room_id.clone();
                            move |p| view! { <RequestRow room_id=room_id.clone() p /> }
                        }
                    />
                </ul>
            </section>
        </Show>
    }
}

/// One decision for every request waiting in the room.
#[component]
fn ApproveAll(room_id: RoomId) -> impl IntoView {
    let connection = expect_context::<Connection>();
    view! {
        <button
            type="button"
            class="btn btn-small btn-primary"
            on:click=move |_| connection.act(|s| s.approve_all(&room_id))
        >
            "Approve all"
        </button>
    }
}

#[component]
fn RequestRow(room_id: RoomId, p: Participant) -> impl IntoView {
    let user = p.user_id;
    // The buttons keep their short names; the person's name (and message) describe them.
    let name_id = format!("request-{user}");
    let reason_id = format!("request-{user}-reason");
    let described_by = match p.reason {
        Some(_) => format!("{name_id} {reason_id}"),
        None => name_id.clone(),
    };
    let reason = RwSignal::new(String::new());
    let explaining = RwSignal::new(false);
    let field_id = format!("reject-reason-{user}");
    let focus_id = field_id.clone();
    let explain = move |_| {
        explaining.set(true);
        let id = focus_id.clone();
        request_animation_frame(move || crate::browser::focus_id(&id));
    };
    view! {
        <li class="request">
            <span class="avatar" aria-hidden="true">{initial(&user)}</span>
            <span class="member-name" id=name_id dir="auto">
                {user.to_string()}
            </span>
            <DecideButtons
                room_id
                user
                class="request-actions"
                described_by
                reason
            />
            <RequestMessage id=reason_id reason=p.reason />
            <Show
                when=move || explaining.get()
                fallback=move || {
                    view! {
                        <button
                            type="button"
                            class="btn-link request-explain"
                            on:click=explain.clone()
                        >
                            "Add a reason"
                        </button>
                    }
                }
            >
                <ReasonField
                    id=field_id.clone()
                    label="Reason for rejecting"
                    hint="They will see it. Then press Reject or Ban."
                    text=reason
                />
            </Show>
        </li>
    }
}
