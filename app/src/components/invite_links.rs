//! For a room's admins: its invite links (create with a label, an expiry and a use
//! limit; copy; revoke; how often each was used) and the invite-only setting. The list
//! is asked for when the panel is opened, then kept current by the server's frames.

use knock_protocol::{Invite, InviteCode, RoomId};
use leptos::prelude::*;

use crate::browser;
use crate::client::{Chat, Connection};
use crate::components::copy_button::CopyButton;
use crate::components::error_text::ErrorText;
use crate::state::Slot;
use crate::state::invites::{EXPIRY_CHOICES, is_usable, uses_text};

/// The link a person opens: `/i/<code>` on this site.
pub fn invite_url(code: &InviteCode) -> String {
    format!("{}/i/{code}", browser::page_origin())
}

#[component]
pub fn InviteLinks(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let connection = expect_context::<Connection>();
    let admin_room = room_id.clone();
    let is_admin = Memo::new(move |_| {
        chat.0
            .with(|s| s.room(&admin_room).is_some_and(|r| r.is_admin))
    });
    let list_room = room_id.clone();
    let invites = Memo::new(move |_| {
        chat.0
            .with(|s| s.room(&list_room).and_then(|r| r.invites.clone()))
    });
    let open_room = room_id.clone();
    let on_toggle = move |ev: leptos::ev::Event| {
        let open = event_target::<web_sys::HtmlDetailsElement>(&ev).open();
        if open {
            connection.act(|s| s.list_invites(&open_room));
        }
    };
    let only_room = room_id.clone();
    let invite_only = Memo::new(move |_| {
        chat.0
            .with(|s| s.room(&only_room).is_some_and(|r| r.invite_only))
    });
    let set_room = room_id.clone();
    let set_only = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        connection.act(|s| s.set_invite_only(&set_room, on));
    };
    let items_room = room_id.clone();
    view! {
        <Show when=move || is_admin.get()>
            <details class="invites" on:toggle=on_toggle.clone()>
                <summary>"Invite links"</summary>
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || invite_only.get()
                        on:change=set_only.clone()
                    />
                    "Only people with an invite link can ask to join"
                </label>
                <CreateInvite room_id=room_id.clone() />
                <ErrorText at=Slot::Invites(room_id.clone()) />
                {
                    let items_room = items_room.clone();
                    move || match invites.get() {
                        None => view! { <p class="muted">"Loading links…"</p> }.into_any(),
                        Some(list) if list.is_empty() => {
                            view! { <p class="muted">"No links yet."</p> }.into_any()
                        }
                        Some(list) => {
                            let items_room = items_room.clone();
                            view! {
                                <ul class="invite-items" aria-label="Invite links">
                                    {list
                                        .into_iter()
                                        .map(|invite| {
                                            view! { <InviteRow room_id=items_room.clone() invite /> }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                            .into_any()
                        }
                    }
                }
            </details>
        </Show>
    }
}

/// The form that makes a link.
#[component]
fn CreateInvite(room_id: RoomId) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let label = RwSignal::new(String::new());
    let expiry = RwSignal::new(0_usize);
    let max_uses = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let ids = format!("invite-{room_id}");
    let (label_id, expiry_id, uses_id) = (
        format!("{ids}-label"),
        format!("{ids}-expiry"),
        format!("{ids}-uses"),
    );
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expires = EXPIRY_CHOICES[expiry.get_untracked()].1;
        let mut refused = None;
        connection.act(|s| {
            match s.create_invite(
                &room_id,
                &label.get_untracked(),
                expires,
                &max_uses.get_untracked(),
            ) {
                Ok(commands) => commands,
                Err(reason) => {
                    refused = Some(reason);
                    Vec::new()
                }
            }
        });
        if refused.is_none() {
            label.set(String::new());
            max_uses.set(String::new());
        }
        error.set(refused);
    };
    view! {
        <form class="invite-create" on:submit=on_submit>
            <div class="field">
                <label for=label_id.clone()>"Label"</label>
                <input
                    id=label_id
                    type="text"
                    placeholder="Optional: who gets it"
                    prop:value=label
                    on:input=move |ev| label.set(event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for=expiry_id.clone()>"Expires"</label>
                <select
                    id=expiry_id
                    on:change=move |ev| {
                        expiry.set(event_target_value(&ev).parse().unwrap_or(0));
                    }
                >
                    {EXPIRY_CHOICES
                        .iter()
                        .enumerate()
                        .map(|(i, (name, _))| view! { <option value=i.to_string()>{*name}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for=uses_id.clone()>"Most uses"</label>
                <input
                    id=uses_id
                    type="text"
                    inputmode="numeric"
                    placeholder="No limit"
                    prop:value=max_uses
                    on:input=move |ev| max_uses.set(event_target_value(&ev))
                />
            </div>
            {move || error.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <button type="submit" class="btn btn-small btn-primary">"Create link"</button>
        </form>
    }
}

/// One link: its label, uses, expiry, Copy and Revoke.
#[component]
fn InviteRow(room_id: RoomId, invite: Invite) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let name_id = format!("invite-{}", invite.code);
    // Milliseconds since 1970 fit an i64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    let now = browser::now_ms() as i64;
    let usable = is_usable(&invite, now);
    let expiry = match invite.expires_at {
        Some(at) if at <= now => "expired".to_owned(),
        Some(at) => format!("expires {}", browser::local_date_time(at).0),
        None => "never expires".to_owned(),
    };
    let name = invite
        .label
        .clone()
        .unwrap_or_else(|| "Invite link".to_owned());
    let url = invite_url(&invite.code);
    let code = invite.code.clone();
    view! {
        <li class="invite" class:spent=!usable>
            <span class="invite-name" id=name_id.clone() dir="auto">{name}</span>
            <span class="muted invite-facts">{format!("{} · {expiry}", uses_text(&invite))}</span>
            <span class="invite-actions">
                <CopyButton label="Copy link" text=url />
                <button
                    type="button"
                    class="btn btn-small btn-quiet"
                    aria-describedby=name_id.clone()
                    on:click=move |_| connection.act(|s| s.revoke_invite(&room_id, &code))
                >
                    "Revoke"
                </button>
            </span>
        </li>
    }
}
