//! The switch for browser notifications (join requests, decisions, mentions while the
//! tab is hidden). The browser's permission is asked for when it is switched on: browsers
//! only ask from a click.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::Connection;

#[component]
pub fn NotifyToggle() -> impl IntoView {
    let connection = expect_context::<Connection>();
    let refused = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let supported = browser::notifications_supported();
    let change = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        busy.set(true);
        spawn_local(async move {
            let now_on = connection.set_notify(on).await;
            let _ = refused.try_set(on && !now_on);
            let _ = busy.try_set(false);
        });
    };
    view! {
        <div class="notify-toggle">
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || connection.notify.get()
                    disabled=move || busy.get() || !supported
                    aria-describedby="notify-hint"
                    on:change=change
                />
                "Browser notifications"
            </label>
            <p class="muted hint" id="notify-hint">
                {if supported {
                    "While Knock is in the background: join requests to your rooms, answers to your requests, and mentions."
                } else {
                    "This browser cannot show notifications."
                }}
            </p>
            <Show when=move || refused.get()>
                <p class="error" role="alert">
                    "This browser blocks notifications from Knock. Allow them in the site settings, then try again."
                </p>
            </Show>
        </div>
    }
}
