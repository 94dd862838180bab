//! Knock's browser client.
use leptos::prelude::*;

/// The whole application.
#[component]
pub fn App() -> impl IntoView {
    view! { <main><h1>"Knock"</h1></main> }
}
