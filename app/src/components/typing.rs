//! "… is typing" under the conversation, read out politely.

use knock_protocol::RoomId;
use leptos::prelude::*;

use crate::client::Chat;
use crate::state::typing::typing_text;

#[component]
pub fn TypingIndicator(room_id: RoomId) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let text = Memo::new(move |_| {
        chat.0.with(|s| {
            let names: Vec<String> = s
                .room(&room_id)
                .map(|r| r.typing.iter().map(|(u, _)| u.to_string()).collect())
                .unwrap_or_default();
            typing_text(&names)
        })
    });
    view! {
        <p class="typing" aria-live="polite">
            {move || text.get()}
        </p>
    }
}
