//! Who is in the room and who is waiting, with the admin marked. Kept current by
//! `memberChanged` frames, never refetched.

use knock_protocol::{Participant, RoomId, UserId};
use leptos::prelude::*;

use crate::client::{Chat, Session};

#[component]
pub fn MemberList(room_id: RoomId, open: bool) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let session = expect_context::<Session>();
    let me = move || session.user.with(|u| u.as_ref().map(|u| u.user_id.clone()));
    let room = room_id.clone();
    let approved = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&room)
                .map(|r| r.members.approved().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let room = room_id;
    let pending = Memo::new(move |_| {
        chat.0.with(|s| {
            s.room(&room)
                .map(|r| r.members.pending().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let row = move |p: Participant| {
        let is_me = me().as_ref() == Some(&p.user_id);
        view! {
            <li class="member">
                <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
                <span class="member-name">{p.user_id.to_string()}</span>
                {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
                {p.is_admin.then(|| view! { <span class="tag">"admin"</span> })}
            </li>
        }
    };
    view! {
        <details class="members" open=open>
            <summary>
                <h2 id="members-heading">
                    "Members " <span class="count">{move || approved.with(Vec::len)}</span>
                </h2>
            </summary>
            <ul class="member-items">
                <For each=move || approved.get() key=|p| (p.user_id.clone(), p.is_admin) children=row />
            </ul>
            <Show when=move || !pending.with(Vec::is_empty)>
                <h3 class="subhead">"Waiting for approval"</h3>
                <ul class="member-items">
                    <For
                        each=move || pending.get()
                        key=|p| p.user_id.clone()
                        children=move |p| {
                            view! {
                                <li class="member pending">
                                    <span class="avatar" aria-hidden="true">{initial(&p.user_id)}</span>
                                    <span class="member-name">{p.user_id.to_string()}</span>
                                    <span class="tag tag-pending">"pending"</span>
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
        </details>
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
