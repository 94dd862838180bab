//! The start page when signed in: create a room, or ask to join one by its id. An invite
//! link (`/join/:room_id`) opens the same page with the id filled in.

use knock_protocol::{InviteCode, MemberStatus, RoomId, RoomPreview};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::components::error_text::ErrorText;
use crate::components::reason_field::ReasonField;
use crate::router::Nav;
use crate::state::{Slot, room_path};

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="home">
            <h1 class="page-title">"Your rooms"</h1>
            <p class="lede">
                "Create a room and share its invite link, or ask to join a room with its ID. A room's admin approves who gets in."
            </p>
            <div class="home-forms">
                <CreateRoomForm />
                <JoinRoomForm initial=String::new() />
            </div>
        </section>
    }
}

#[component]
pub fn JoinPage(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let nav = expect_context::<Nav>();
    let initial = room_id.to_string();
    let target = room_path(&room_id);
    // A member, or someone already waiting: the room's page says where they stand. The
    // memo changes once, and going there writes only the path, never `chat` (see
    // `Connection::act` on effects).
    let has_standing = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&room_id).is_some_and(|r| {
                matches!(
                    r.status,
                    Some(MemberStatus::Approved | MemberStatus::Pending)
                )
            })
        })
    });
    Effect::new(move |_| {
        if has_standing.get() {
            nav.replace(&target);
        }
    });
    view! {
        <section class="home">
            <h1 class="page-title">"You were invited to a room"</h1>
            <InviteSummary room_id=RoomId::new(initial.clone()) />
            <p class="lede">
                "Ask to join: the room's admin will see your request and let you in."
            </p>
            <div class="home-forms">
                <JoinRoomForm initial />
            </div>
        </section>
    }
}

/// The room an invite link leads to, by name and by who runs it (the server tells
/// nothing more before the knock).
#[component]
pub fn InviteSummary(room_id: RoomId) -> impl IntoView {
    let preview = RwSignal::new(None::<Result<RoomPreview, bool>>);
    leptos::task::spawn_local(async move {
        let answer = crate::browser::room_preview(&room_id).await;
        // The page may be gone by now.
        let _ = preview.try_set(Some(answer));
    });
    move || match preview.get() {
        Some(Ok(room)) => {
            let admins = room
                .admins
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <p class="invite-room">
                    <strong class="invite-room-name" dir="auto">
                        {room.room_name}
                    </strong>
                    <span class="muted">{format!(" is run by {admins}.")}</span>
                </p>
            }
            .into_any()
        }
        Some(Err(true)) => view! {
            <p class="error" role="alert">
                "There is no room at this link. Ask whoever sent it for a new one."
            </p>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

#[component]
fn CreateRoomForm() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let name = RwSignal::new(String::new());
    // Just signed in (the sign-in form and its focus are gone): start here.
    let field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = field.get() {
            crate::browser::focus_if_lost(&el);
        }
    });
    let invalid = Memo::new(move |_| chat.0.with(|s| s.error(&Slot::RoomName).is_some()));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = name.get_untracked();
        connection.act(|s| s.create_room(&value));
        let (refused, invalid) = chat.0.with_untracked(|s| {
            (
                s.error(&Slot::CreateRoom).is_some(),
                s.error(&Slot::RoomName).is_some(),
            )
        });
        if invalid {
            if let Some(el) = field.get_untracked() {
                let _ = el.focus();
            }
        } else if !refused {
            name.set(String::new());
        }
    };
    // No `maxlength`: it counts UTF-16 units, the limit counts characters (an emoji is
    // two units, one character); `create_room` checks.
    view! {
        <form class="card" on:submit=on_submit>
            <h2>"Create a room"</h2>
            <div class="field">
                <label for="room-name">"Room name"</label>
                <input
                    id="room-name"
                    node_ref=field
                    type="text"
                    autocomplete="off"
                    placeholder="Book club"
                    aria-invalid=move || invalid.get().to_string()
                    aria-describedby=move || invalid.get().then_some("room-name-error")
                    prop:value=name
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <div id="room-name-error">
                    <ErrorText at=Slot::RoomName />
                </div>
            </div>
            <ErrorText at=Slot::CreateRoom />
            <button type="submit" class="btn btn-primary">"Create room"</button>
        </form>
    }
}

#[component]
fn JoinRoomForm(initial: String) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let room_id = RwSignal::new(initial);
    let message = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = room_id.get_untracked();
        connection.act(|s| message.with_untracked(|m| s.request_join(&value, m)));
    };
    view! {
        <form class="card" on:submit=on_submit>
            <h2>"Join a room"</h2>
            <div class="field">
                <label for="room-id">"Room ID"</label>
                <input
                    id="room-id"
                    type="text"
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    placeholder="Paste a room ID or invite link"
                    prop:value=room_id
                    on:input=move |ev| room_id.set(event_target_value(&ev))
                />
            </div>
            <ReasonField
                id="knock-message".into()
                label="Message to the admins"
                hint="Optional: who you are, why you knock."
                text=message
            />
            <ErrorText at=Slot::JoinRoom />
            <button type="submit" class="btn btn-primary">"Join"</button>
        </form>
    }
}

/// `/i/<code>`: an invite link. The server says which room it leads to (or why it no
/// longer works), then the knock names the link, so the admins see who sent it.
#[component]
pub fn InvitePage(code: InviteCode) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let nav = expect_context::<Nav>();
    let lookup_code = code.clone();
    // Reads only the connection's status, never `chat` (see `Connection::act`).
    Effect::new(move |_| {
        if connection.is_online() {
            connection.act(|s| s.look_up_invite(&lookup_code));
        }
    });
    let lookup = Memo::new(move |_| {
        chat.0.with(|s| {
            s.invite_lookup
                .clone()
                .filter(|l| l.code == code)
                .map(|l| (l.room, l.error))
        })
    });
    // Already in the room, or waiting: its page says where they stand.
    let standing = Memo::new(move |_| {
        chat.0.with(|s| {
            s.invite_lookup
                .as_ref()
                .and_then(|l| l.room.as_ref())
                .and_then(|(room_id, _)| {
                    s.room(room_id)
                        .filter(|r| {
                            matches!(
                                r.status,
                                Some(MemberStatus::Approved | MemberStatus::Pending)
                            )
                        })
                        .map(|_| room_path(room_id))
                })
        })
    });
    Effect::new(move |_| {
        if let Some(path) = standing.get() {
            nav.replace(&path);
        }
    });
    let message = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        connection.act(|s| message.with_untracked(|m| s.knock_with_invite(m)));
    };
    view! {
        <section class="home">
            <h1 class="page-title">"You were invited to a room"</h1>
            {move || match lookup.get() {
                Some((Some((_, name)), _)) => view! {
                    <p class="invite-room">
                        <strong class="invite-room-name" dir="auto">{name}</strong>
                    </p>
                    <p class="lede">
                        "Ask to join: the room's admin will see your request and let you in."
                    </p>
                    <form class="card" on:submit=on_submit>
                        <ReasonField
                            id="knock-message".into()
                            label="Message to the admins"
                            hint="Optional: who you are, why you knock."
                            text=message
                        />
                        <ErrorText at=Slot::JoinRoom />
                        <button type="submit" class="btn btn-primary">"Ask to join"</button>
                    </form>
                }
                .into_any(),
                Some((None, Some(error))) => view! {
                    <p class="error" role="alert">{error}</p>
                    <p>"Ask whoever sent it for a new link."</p>
                }
                .into_any(),
                _ => view! { <p class="muted">"Checking the link…"</p> }.into_any(),
            }}
        </section>
    }
}
