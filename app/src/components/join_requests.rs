//! For the room's admins: the requests waiting (in the room, and for all their rooms on
//! the Requests page) for an answer, each with its message and
//! Approve, Reject and Ban (described by the person's name, `aria-describedby`),
//! "Approve all" when two or more wait. Reject and Ban are one click; "Add a reason"
//! opens a box whose text the rejected or banned person is told.

use knock_protocol::{Participant, RoomId};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::components::error_text::ErrorText;
use crate::components::member_list::initial;
use crate::components::notices::{DecideButtons, RequestMessage};
use crate::components::notify_toggle::NotifyToggle;
use crate::components::reason_field::ReasonField;
use crate::router::Link;
use crate::state::{Slot, room_path};

#[component]
pub fn JoinRequests(
    room_id: RoomId,
    /// On the Requests page: headed by the room's name, linked to it.
    #[prop(optional)]
    with_room_name: bool,
) -> impl IntoView {
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
    let heading_id = if with_room_name {
        format!("requests-heading-{room_id}")
    } else {
        "requests-heading".to_owned()
    };
    let name_room = room_id.clone();
    let title = move || {
        if with_room_name {
            let name = chat.0.with(|s| {
                s.room(&name_room)
                    .map(crate::state::RoomState::display_name)
                    .unwrap_or_default()
            });
            view! {
                <Link href=room_path(&name_room) class="requests-room">
                    <span dir="auto">{name}</span>
                </Link>
            }
            .into_any()
        } else {
            "Join requests".into_any()
        }
    };
    view! {
        <Show when=move || { count.get() > 0 }>
            <section class="requests" aria-labelledby=heading_id.clone()>
                <div class="requests-head">
                    <h2 id=heading_id.clone()>
                        {title.clone()} " " <span class="badge badge-alert">{move || count.get()}</span>
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

/// Every request waiting in the rooms the user administers, room by room (`/requests`).
#[component]
pub fn RequestsPage() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let rooms = Memo::new(move |_| {
        chat.0.with(|s| {
            let mut rooms: Vec<(String, RoomId)> = s
                .rooms
                .values()
                .filter(|r| r.pending_requests() > 0)
                .map(|r| (r.display_name().to_lowercase(), r.room_id.clone()))
                .collect();
            rooms.sort();
            rooms.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        })
    });
    view! {
        <section class="home requests-page" aria-labelledby="requests-title">
            <h1 class="page-title" id="requests-title">"Requests"</h1>
            <Show
                when=move || !rooms.with(Vec::is_empty)
                fallback=|| {
                    view! {
                        <p class="muted">
                            "No one is waiting. New requests to your rooms show here as they come."
                        </p>
                    }
                }
            >
                <For each=move || rooms.get() key=Clone::clone let:room_id>
                    <JoinRequests room_id with_room_name=true />
                </For>
            </Show>
            <div class="card account-section">
                <NotifyToggle />
            </div>
        </section>
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
    // Ids name the room too: one person may knock on several rooms of the Requests page.
    let name_id = format!("request-{room_id}-{user}");
    let reason_id = format!("request-{room_id}-{user}-reason");
    let described_by = match p.reason {
        Some(_) => format!("{name_id} {reason_id}"),
        None => name_id.clone(),
    };
    let reason = RwSignal::new(String::new());
    let explaining = RwSignal::new(false);
    let field_id = format!("reject-reason-{room_id}-{user}");
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
            {p
                .invite
                .map(|invite| {
                    let via = match invite.label {
                        Some(label) => format!("Came with the invite link \u{201c}{label}\u{201d}"),
                        None => "Came with an invite link".to_owned(),
                    };
                    view! { <span class="muted request-via" dir="auto">{via}</span> }
                })}
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
