//! Who is in the room and who is waiting, with the admins marked. Kept current by
//! `memberChanged` frames, never refetched. Admins also see each request's message, a
//! "Manage" menu on each member ("Make admin" / "Remove admin", "Remove", "Ban") and the
//! banned users with "Unban".

use knock_protocol::{MemberStatus, Participant, RoomId, UserId};
use leptos::prelude::*;

use crate::client::{Chat, Connection};
use crate::components::error_text::ErrorText;
use crate::components::notices::RequestMessage;
use crate::components::reason_field::ReasonField;
use crate::state::{ChatState, Slot, display_name};

/// An approved member as their row shows them; compared to skip unchanged rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "what one row shows, each drawn apart"
)]
struct Member {
    user_id: UserId,
    is_admin: bool,
    is_me: bool,
    /// The viewer is an admin, and there is something to do: anything on another
    /// member; on their own row, stepping down while another admin remains.
    manageable: bool,
}

fn members(s: &ChatState, room_id: &RoomId) -> Vec<Member> {
    let Some(room) = s.room(room_id) else {
        return Vec::new();
    };
    let admins = room.members.approved().filter(|p| p.is_admin).count();
    room.members
        .approved()
        .map(|p| {
            let is_me = s.me.as_ref() == Some(&p.user_id);
            Member {
                user_id: p.user_id.clone(),
                is_admin: p.is_admin,
                is_me,
                manageable: room.is_admin && (!is_me || admins > 1),
            }
        })
        .collect()
}

#[component]
pub fn MemberList(room_id: RoomId, open: bool) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room = room_id.clone();
    let approved = Memo::new(move |_| chat.0.with(|s| members(s, &room)));
    let room = room_id.clone();
    let listed = move |banned: bool| {
        let room = room.clone();
        Memo::new(move |_| {
            chat.0.with(|s| {
                s.room(&room)
                    .map(|r| {
                        if banned {
                            // Only ever to admins.
                            r.banned().cloned().collect()
                        } else {
                            r.members.pending().cloned().collect()
                        }
                    })
                    .unwrap_or_default()
            })
        })
    };
    let pending = listed(false);
    let banned = listed(true);
    let (member_room, others_room) = (room_id.clone(), room_id.clone());
    view! {
        <details class="members" open=open>
            <summary>
                <h2 id="members-heading">
                    "Members " <span class="count">{move || approved.with(Vec::len)}</span>
                </h2>
            </summary>
            <ErrorText at=Slot::Members(room_id) />
            <ul class="member-items">
                <For
                    each=move || approved.get()
                    // Not keyed by presence: a member going offline must not redraw
                    // the row, which would close an admin's open menu on it.
                    key=|m| (m.user_id.clone(), m.is_admin, m.is_me, m.manageable)
                    children=move |m| view! { <MemberRow room_id=member_room.clone() m /> }
                />
            </ul>
            <Others heading="Waiting for approval" rows=pending room_id=others_room.clone() />
            <Others heading="Banned" rows=banned room_id=others_room />
        </details>
    }
}

/// An approved member; for an admin, with "Manage" where it can do something.
#[component]
fn MemberRow(room_id: RoomId, m: Member) -> impl IntoView {
    let name_id = format!("member-{}", m.user_id);
    let chat = expect_context::<Chat>();
    let (online_room, online_user, me) = (room_id.clone(), m.user_id.clone(), m.is_me);
    let online = Memo::new(move |_| {
        me || chat.0.with(|s| {
            s.room(&online_room)
                .is_some_and(|r| r.members.is_online(&online_user))
        })
    });
    view! {
        <li class="member">
            <span class="avatar" aria-hidden="true">{initial(&m.user_id)}</span>
            <span class="member-name" id=name_id.clone() dir="auto">
                {display_name(&m.user_id)}
            </span>
            <span
                class="presence-dot"
                class:online=move || online.get()
                title=move || if online.get() { "Online" } else { "Offline" }
            ></span>
            <span class="sr-only">{move || if online.get() { ", online" } else { ", offline" }}</span>
            {m.is_me.then(|| view! { <span class="muted">" (you)"</span> })}
            {m.is_admin.then(|| view! { <span class="tag">"admin"</span> })}
            {m.manageable.then(|| view! { <Manage room_id m name_id /> })}
        </li>
    }
}

/// "Manage", which opens the member's menu below it.
#[component]
fn Manage(room_id: RoomId, m: Member, name_id: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let menu_id = format!("member-{}-menu", m.user_id);
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
                user=m.user_id.clone()
                is_admin=m.is_admin
                is_me=m.is_me
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

/// The waiting or the banned under their heading, while there are any. Few and rarely
/// changed: drawn again whole on a change.
#[component]
fn Others(heading: &'static str, rows: Memo<Vec<Participant>>, room_id: RoomId) -> impl IntoView {
    move || {
        rows.with(|list| {
            (!list.is_empty()).then(|| {
                let items = list
                    .iter()
                    .map(|p| view! { <OtherRow room_id=room_id.clone() p=p.clone() /> })
                    .collect_view();
                view! {
                    <h3 class="subhead">{heading}</h3>
                    <ul class="member-items">{items}</ul>
                }
            })
        })
    }
}

/// A waiting user with their message, or a banned one with the ban's reason and
/// "Unban".
#[component]
fn OtherRow(room_id: RoomId, p: Participant) -> impl IntoView {
    let connection = expect_context::<Connection>();
    let banned = p.status == MemberStatus::Banned;
    let name_id = format!("other-{}", p.user_id);
    let user = p.user_id.clone();
    let unban = banned.then(|| {
        view! {
            <button
                type="button"
                class="btn btn-small member-manage"
                aria-describedby=name_id.clone()
                on:click=move |_| connection.act(|s| s.unban_member(&room_id, &user))
            >
                "Unban"
            </button>
        }
    });
    let waiting = (!banned).then(|| view! { <span class="tag tag-pending">"pending"</span> });
    view! {
        <li class=if banned { "member banned" } else { "member pending" }>
            <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
            <span class="member-name" id=name_id.clone() dir="auto">
                {display_name(&p.user_id)}
            </span>
            {waiting}
            {unban}
            <RequestMessage id=format!("{name_id}-reason") reason=p.reason />
        </li>
    }
}

/// The first letter of a name, upper case, for the avatar circle.
pub fn initial(user_id: &UserId) -> String {
    display_name(user_id)
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}
