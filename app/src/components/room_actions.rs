//! The room header's "Leave room" (every member) and "Delete room" (admins), each
//! through a confirmation under the header: leaving asks once, deleting asks for the
//! room's name to be typed. The server's refusal (the last admin leaving) shows there.

use knock_protocol::RoomId;
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::state::Slot;

/// Which confirmation is open under the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    Closed,
    Leave,
    Delete,
}

/// The two buttons, for the header's tools.
#[component]
pub fn RoomButtons(
    room_id: RoomId,
    confirm: RwSignal<Confirm>,
    is_admin: Signal<bool>,
) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let slot = Slot::Standing(room_id);
    let open = move |which: Confirm| {
        let slot = slot.clone();
        move |_| {
            // Whatever an earlier attempt said no longer applies.
            chat.0.update(|s| s.clear_error(&slot));
            confirm.set(which);
        }
    };
    view! {
        <button
            type="button"
            class="btn btn-small"
            aria-expanded=move || (confirm.get() == Confirm::Leave).to_string()
            on:click=open(Confirm::Leave)
        >
            "Leave room"
        </button>
        <Show when=move || is_admin.get()>
            <button
                type="button"
                class="btn btn-small btn-danger"
                aria-expanded=move || (confirm.get() == Confirm::Delete).to_string()
                on:click=open(Confirm::Delete)
            >
                "Delete room"
            </button>
        </Show>
    }
}

/// The open confirmation, if any.
#[component]
pub fn RoomConfirm(room_id: RoomId, confirm: RwSignal<Confirm>) -> impl IntoView {
    move || match confirm.get() {
        Confirm::Closed => ().into_any(),
        Confirm::Leave => view! { <LeaveConfirm room_id=room_id.clone() confirm /> }.into_any(),
        Confirm::Delete => view! { <DeleteConfirm room_id=room_id.clone() confirm /> }.into_any(),
    }
}

/// What the server said about the last attempt here.
fn standing_error(room_id: &RoomId) -> impl Fn() -> Option<AnyView> + use<> {
    let chat = expect_context::<Chat>();
    let slot = Slot::Standing(room_id.clone());
    move || {
        chat.0
            .with(|s| s.error(&slot))
            .map(|text| view! { <p class="error" role="alert">{text}</p> }.into_any())
    }
}

#[component]
fn LeaveConfirm(room_id: RoomId, confirm: RwSignal<Confirm>) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let error = standing_error(&room_id);
    let cancel_ref = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(el) = cancel_ref.get() {
            let _ = el.focus();
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        connection.act(|s| s.leave_room(&room_id));
    };
    view! {
        <form class="confirm" aria-labelledby="confirm-heading" on:submit=on_submit>
            <h2 id="confirm-heading">"Leave this room?"</h2>
            <p>
                "You will no longer see its messages. To come back, you will have to ask to join again."
            </p>
            {error}
            <div class="confirm-actions">
                <button type="submit" class="btn btn-small btn-danger">"Yes, leave"</button>
                <button
                    type="button"
                    class="btn btn-small"
                    node_ref=cancel_ref
                    on:click=move |_| confirm.set(Confirm::Closed)
                >
                    "Cancel"
                </button>
            </div>
        </form>
    }
}

#[component]
fn DeleteConfirm(room_id: RoomId, confirm: RwSignal<Confirm>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let error = standing_error(&room_id);
    let typed = RwSignal::new(String::new());
    let room = room_id.clone();
    let matches = Memo::new(move |_| {
        typed.with(|t| {
            chat.0
                .with(|s| s.room(&room).is_some_and(|r| r.name_matches(t)))
        })
    });
    let field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = field.get() {
            let _ = el.focus();
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if matches.get_untracked() {
            connection.act(|s| s.delete_room(&room_id));
        }
    };
    view! {
        <form class="confirm" aria-labelledby="confirm-heading" on:submit=on_submit>
            <h2 id="confirm-heading">"Delete this room for everyone?"</h2>
            <p>"Its messages and its members' places go with it. This cannot be undone."</p>
            <div class="field">
                <label for="delete-confirm">"Type the room name to confirm"</label>
                <input
                    id="delete-confirm"
                    node_ref=field
                    type="text"
                    autocomplete="off"
                    prop:value=typed
                    on:input=move |ev| typed.set(event_target_value(&ev))
                />
            </div>
            {error}
            <div class="confirm-actions">
                <button
                    type="submit"
                    class="btn btn-small btn-danger"
                    disabled=move || !matches.get()
                >
                    "Delete for everyone"
                </button>
                <button type="button" class="btn btn-small" on:click=move |_| confirm.set(Confirm::Closed)>
                    "Cancel"
                </button>
            </div>
        </form>
    }
}
