//! What the browser notifications say: join requests to admins, decisions to the person
//! who knocked, mentions. Whether one is shown (turned on, tab hidden) is the Leptos
//! layer's business.

use knock_protocol::{MemberStatus, ReplyTo, UserId};

use super::{Alert, RoomState, room_path};

/// To an admin: someone knocked on one of their rooms.
pub(super) fn join_request(room: &RoomState, user: &UserId, reason: Option<&str>) -> Alert {
    Alert {
        title: format!("{user} asks to join {}", room.display_name()),
        body: reason.map_or_else(
            || "Open Knock to let them in or not.".to_owned(),
            |reason| format!("\u{201c}{reason}\u{201d}"),
        ),
        path: room_path(&room.room_id),
        tag: format!("request-{}", room.room_id),
    }
}

/// To the person who knocked: the admins decided.
pub(super) fn decision(room: &RoomState, status: MemberStatus, reason: Option<&str>) -> Alert {
    let name = room.display_name();
    let (title, body) = if status == MemberStatus::Approved {
        (
            format!("You are in {name}"),
            "Your request to join was approved.".to_owned(),
        )
    } else {
        (
            format!("Your request to join {name} was declined"),
            reason.map_or_else(String::new, |reason| format!("\u{201c}{reason}\u{201d}")),
        )
    };
    Alert {
        title,
        body,
        path: room_path(&room.room_id),
        tag: format!("decision-{}", room.room_id),
    }
}

/// To a member named with `@` in a message.
pub(super) fn mention(room: &RoomState, author: &UserId, text: &str) -> Alert {
    Alert {
        title: format!("{author} mentioned you in {}", room.display_name()),
        body: ReplyTo::excerpt_of(text).to_owned(),
        path: room_path(&room.room_id),
        tag: format!("mention-{}", room.room_id),
    }
}
