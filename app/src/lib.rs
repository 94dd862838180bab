//! Knock's browser client.
pub mod config;
pub mod ids;
pub mod state;

use leptos::prelude::*;

/// The whole application.
#[component]
pub fn App() -> impl IntoView {
    view! { <main><h1>"Knock"</h1></main> }
}
