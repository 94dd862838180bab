//! Who is in the room and who is waiting, with the admins marked. Kept current by
//! `memberChanged` frames, never refetched. Admins also see each request's message, a
//! "Manage" menu on each member ("Make admin" / "Remove admin", "Remove", "Ban") and the
//! banned users with "Unban".

use knock_protocol::{MemberStatus, Participant, RoomId, UserId};
use leptos::prelude::*;

use crate::client::{Chat, Connection, Session};
use crate::components::notices::RequestMessage;
use crate::components::reason_field::ReasonField;
use crate::state::Slot;

#[component]
pub fn MemberList(room_id: RoomId, open: bool) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room = room_id.clone();
    let listed = move |status: MemberStatus| {
        let room = room.clone();
        Memo::new(move |_| {
            chat.0.with(|s| {
                s.room(&room)
                    .map(|r| r.members.with_status(status).cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
        })
    };
    let approved = listed(MemberStatus::Approved);
    let pending = listed(MemberStatus::Pending);
    let banned = listed(MemberStatus::Banned);
    let room = room_id.clone();
    let i_admin = Memo::new(move |_| chat.0.with(|s| s.room(&room).is_some_and(|r| r.is_admin)));
    let slot = Slot::Members(room_id.clone());
    let error = move || chat.0.with(|s| s.error(&slot));
    let (member_room, banned_room) = (room_id.clone(), room_id);
    view! {
        <details class="members" open=open>
            <summary>
                <h2 id="members-heading">
                    "Members " <span class="count">{move || approved.with(Vec::len)}</span>
                </h2>
            </summary>
            {move || error().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <ul class="member-items">
                <For
                    each=move || approved.get()
                    key=|p| (p.user_id.clone(), p.is_admin)
                    children=move |p| view! { <MemberRow room_id=member_room.clone() p i_admin /> }
                />
            </ul>
            <Show when=move || !pending.with(Vec::is_empty)>
                <h3 class="subhead">"Waiting for approval"</h3>
                <ul class="member-items">
                    <For
                        each=move || pending.get()
                        key=|p| (p.user_id.clone(), p.reason.clone())
                        children=move |p| {
                            view! {
                                <li class="member pending">
                                    <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
                                    <span class="member-name">{p.user_id.to_string()}</span>
                                    <span class="tag tag-pending">"pending"</span>
                                    <RequestMessage
                                        id=format!("pending-{}-reason", p.user_id)
                                        reason=p.reason
                                    />
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
            <Show when=move || i_admin.get() && !banned.with(Vec::is_empty)>
                <h3 class="subhead">"Banned"</h3>
                <ul class="member-items">
                    <For
                        each=move || banned.get()
                        key=|p| (p.user_id.clone(), p.reason.clone())
                        children={
                            let banned_room = banned_room.clone();
                            move |p| view! { <BannedRow room_id=banned_room.clone() p /> }
                        }
                    />
                </ul>
            </Show>
        </details>
    }
}

/// An approved member; for an admin, with the "Manage" menu where it can do something.
#[component]
fn MemberRow(room_id: RoomId, p: Participant, i_admin: Memo<bool>) -> impl IntoView {
    let session = expect_context::<Session>();
    let is_me = session
        .user
        .with_untracked(|u| u.as_ref().is_some_and(|u| u.user_id == p.user_id));
    // Another admin can only be demoted; oneself only steps down (leaving is elsewhere).
    let manageable = !is_me || p.is_admin;
    let name_id = format!("member-{}", p.user_id);
    let user = p.user_id.clone();
    view! {
        <li class="member">
            <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
            <span class="member-name" id=name_id.clone()>{p.user_id.to_string()}</span>
            {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
            {p.is_admin.then(|| view! { <span class="tag">"admin"</span> })}
            <Show when=move || manageable && i_admin.get()>
                <Manage
                    room_id=room_id.clone()
                    user=user.clone()
                    is_admin=p.is_admin
                    is_me
                    name_id=name_id.clone()
                />
            </Show>
        </li>
    }
}

/// "Manage", which opens the member's menu below it.
#[component]
fn Manage(
    room_id: RoomId,
    user: UserId,
    is_admin: bool,
    is_me: bool,
    name_id: String,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let menu_id = format!("member-{user}-menu");
    view! {
        <button
            type="button"
            class="btn btn-small btn-quiet member-manage"
            aria-expanded=move || open.get().to_string()
            aria-describedby=name_id.clone()
            on:click=move |_| open.update(|o| *o = !*o)
        >
            "Manage"
        </button>
        <Show when=move || open.get()>
            <MemberMenu
                id=menu_id.clone()
                room_id=room_id.clone()
                user=user.clone()
                is_admin
                is_me
                described_by=name_id.clone()
            />
        </Show>
    }
}

/// What an admin can do to one member: the role, and for others than admins, removal or
/// a ban with an optional reason they are told.
#[component]
fn MemberMenu(
    id: String,
    room_id: RoomId,
    user: UserId,
    is_admin: bool,
    is_me: bool,
    described_by: String,
) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let reason = RwSignal::new(String::new());
    let (role_room, role_user) = (room_id.clone(), user.clone());
    let set_role = move |_| connection.act(|s| s.set_role(&role_room, &role_user, !is_admin));
    let take_out = move |ban: bool| {
        let (room_id, user) = (room_id.clone(), user.clone());
        move |_| {
            let text = reason.get_untracked();
            connection.act(|s| s.remove_member(&room_id, &user, ban, &text));
        }
    };
    let (remove, ban) = (take_out(false), take_out(true));
    let reason_id = format!("{id}-reason");
    // Done (the row changed or went): the next thing is the conversation.
    on_cleanup(|| request_animation_frame(crate::browser::focus_next_step));
    view! {
        <div class="member-menu" id=id>
            <button
                type="button"
                class="btn btn-small"
                aria-describedby=described_by.clone()
                on:click=set_role
            >
                {if is_admin { "Remove admin" } else { "Make admin" }}
            </button>
            {(!is_admin && !is_me)
                .then(|| {
                    view! {
                        <ReasonField
                            id=reason_id
                            label="Reason (optional)"
                            hint="They will see it."
                            text=reason
                        />
                        <span class="member-menu-actions">
                            <button
                                type="button"
                                class="btn btn-small btn-danger"
                                aria-describedby=described_by.clone()
                                on:click=remove
                            >
                                "Remove"
                            </button>
                            <button
                                type="button"
                                class="btn btn-small btn-danger"
                                aria-describedby=described_by
                                on:click=ban
                            >
                                "Ban"
                            </button>
                        </span>
                    }
                })}
        </div>
    }
}

/// A banned user, their ban's reason, and "Unban".
#[component]
fn BannedRow(room_id: RoomId, p: Participant) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let name_id = format!("banned-{}", p.user_id);
    let user = p.user_id.clone();
    view! {
        <li class="member banned">
            <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
            <span class="member-name" id=name_id.clone()>{p.user_id.to_string()}</span>
            <button
                type="button"
                class="btn btn-small member-manage"
                aria-describedby=name_id
                on:click=move |_| connection.act(|s| s.unban_member(&room_id, &user))
            >
                "Unban"
            </button>
            <RequestMessage id=format!("banned-{}-reason", p.user_id) reason=p.reason />
        </li>
    }
}

/// The first letter of a name, upper case, for the avatar circle.
pub fn initial(user_id: &UserId) -> String {
    user_id
        .as_str()
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}
