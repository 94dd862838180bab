//! A button that copies a text and says so.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;

/// `label` names the button; `text` is what lands on the clipboard.
#[component]
pub fn CopyButton(label: &'static str, #[prop(into)] text: Signal<String>) -> impl IntoView {
    let feedback = RwSignal::new(None::<&'static str>);
    let copy = move |_| {
        let value = text.get_untracked();
        spawn_local(async move {
            let ok = browser::copy_text(&value).await;
            feedback.set(Some(if ok { "Copied!" } else { "Copy failed" }));
            set_timeout(move || feedback.set(None), Duration::from_millis(2_000));
        });
    };
    view! {
        <button type="button" class="btn btn-small" on:click=copy data-copy=move || text.get()>
            {label}
        </button>
        <span class="copy-feedback" role="status">{move || feedback.get()}</span>
    }
}
