//! The room header's "Leave room" (every member) and "Delete room" (admins), each
//! through a confirmation under the header: leaving asks once, deleting asks for the
//! room's name to be typed. The server's refusal (the last admin leaving) shows there.

use knock_protocol::{MemberStatus, RoomId};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::components::error_text::ErrorText;
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
    is_admin: Memo<bool>,
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

/// The open confirmation, if any: only while it still applies (a member, an admin to
/// delete).
#[component]
pub fn RoomConfirm(
    room_id: RoomId,
    confirm: RwSignal<Confirm>,
    status: Memo<Option<MemberStatus>>,
    is_admin: Memo<bool>,
) -> impl IntoView {
    // Opening the same one again keeps what was typed.
    let open = Memo::new(move |_| match confirm.get() {
        _ if status.get() != Some(MemberStatus::Approved) => Confirm::Closed,
        Confirm::Delete if !is_admin.get() => Confirm::Closed,
        which => which,
    });
    move || {
        let which = open.get();
        (which != Confirm::Closed)
            .then(|| view! { <ConfirmForm room_id=room_id.clone() confirm which /> })
    }
}

/// "Leave this room?" or "Delete this room for everyone?", the latter only with the
/// room's name typed; what the server refuses shows here.
#[component]
fn ConfirmForm(room_id: RoomId, confirm: RwSignal<Confirm>, which: Confirm) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let delete = which == Confirm::Delete;
    let typed = RwSignal::new(String::new());
    let room = room_id.clone();
    let ready = Memo::new(move |_| {
        !delete
            || typed.with(|t| {
                chat.0
                    .with(|s| s.room(&room).is_some_and(|r| r.name_matches(t)))
            })
    });
    // Deleting starts at the name; leaving at the harmless choice.
    request_animation_frame(move || {
        crate::browser::focus_id(if delete {
            "delete-confirm"
        } else {
            "confirm-cancel"
        });
    });
    let slot = Slot::Standing(room_id.clone());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if ready.get_untracked() {
            connection.act(|s| {
                if delete {
                    s.delete_room(&room_id)
                } else {
                    s.leave_room(&room_id)
                }
            });
        }
    };
    let (heading, text, button) = if delete {
        (
            "Delete this room for everyone?",
            "Its messages and its members' places go with it. This cannot be undone.",
            "Delete for everyone",
        )
    } else {
        (
            "Leave this room?",
            "You will no longer see its messages. To come back, you will have to ask to join again.",
            "Yes, leave",
        )
    };
    view! {
        <form class="confirm" aria-labelledby="confirm-heading" on:submit=on_submit>
            <h2 id="confirm-heading">{heading}</h2>
            <p>{text}</p>
            {delete
                .then(|| {
                    view! {
                        <div class="field">
                            <label for="delete-confirm">"Type the room name to confirm"</label>
                            <input
                                id="delete-confirm"
                                type="text"
                                autocomplete="off"
                                prop:value=typed
                                on:input=move |ev| typed.set(event_target_value(&ev))
                            />
                        </div>
                    }
                })}
            <ErrorText at=slot />
            <div class="confirm-actions">
                <button type="submit" class="btn btn-small btn-danger" disabled=move || !ready.get()>
                    {button}
                </button>
                <button
                    type="button"
                    id="confirm-cancel"
                    class="btn btn-small"
                    on:click=move |_| confirm.set(Confirm::Closed)
                >
                    "Cancel"
                </button>
            </div>
        </form>
    }
}
