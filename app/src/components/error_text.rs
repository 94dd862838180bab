//! The error shown at one place of the interface (a [`Slot`]), as an alert, while the
//! state holds one: one component for every form and panel, so the view is built once.

use leptos::prelude::*;

use crate::client::Chat;
use crate::state::Slot;

#[component]
pub fn ErrorText(
    /// `slot` is taken: Leptos reads it as a slot marker.
    at: Slot,
) -> impl IntoView {
    let chat = expect_context::<Chat>();
    move || {
        chat.0
            .with(|s| s.error(&at))
            .map(|text| view! { <p class="error" role="alert">{text}</p> })
    }
}
