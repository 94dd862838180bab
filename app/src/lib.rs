//! Knock's browser client: a Leptos app rendered in the browser only (no SSR).
//!
//! - [`state`]: the client's state and every rule about it, plain Rust, tested natively.
//! - [`client`]: the contexts (session, chat state, connection) and the WebSocket driver.
//! - [`components`]: small views, one concern per file, reading the contexts as signals.

pub mod browser;
pub mod client;
pub mod components;
pub mod config;
pub mod ids;
pub mod linkify;
pub mod router;
pub mod state;

use leptos::prelude::*;

/// The whole application.
#[component]
pub fn App() -> impl IntoView {
    // index.html shows "Loading Knock…" until the app is up.
    Effect::new(|_| {
        if let Some(boot) = document().get_element_by_id("boot") {
            boot.remove();
        }
    });
    view! {
        <components::shell::Shell />
    }
}
