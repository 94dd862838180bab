//! The account page (`/account`): who is signed in, the sessions, the password, the
//! user's data, and deleting the account. Each part is its own component; they share
//! only [`AccountPage`]'s [`SessionsChanged`], which the password change bumps (it signs
//! the other devices out, so the list is read again).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session};
use crate::components::account_delete::DeleteAccount;
use crate::components::account_password::ChangePassword;
use crate::components::account_sessions::Sessions;
use crate::components::notify_toggle::NotifyToggle;
use crate::state::account::{export_file_name, export_refusal_text};

/// Bumped when the list of sessions changed here in another way than through the list.
#[derive(Clone, Copy)]
pub struct SessionsChanged(pub RwSignal<u32>);

#[component]
pub fn AccountPage() -> impl IntoView {
    let session = expect_context::<Session>();
    provide_context(SessionsChanged(RwSignal::new(0)));
    let name = move || {
        session
            .user
            .with(|u| u.as_ref().map(|u| u.user_id.to_string()))
            .unwrap_or_default()
    };
    view! {
        <section class="home account-page" aria-labelledby="account-title">
            <h1 class="page-title" id="account-title">"Account"</h1>
            <p class="lede">"Signed in as " <strong dir="auto">{name}</strong></p>
            <section class="card account-section" aria-labelledby="notify-title">
                <h2 id="notify-title">"Notifications"</h2>
                <NotifyToggle />
            </section>
            <Sessions />
            <ChangePassword />
            <DownloadData />
            <DeleteAccount />
        </section>
    }
}

/// "Download my data": `GET /api/export`, saved as `knock-<user>-<date>.json`.
#[component]
fn DownloadData() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let busy = RwSignal::new(false);
    // What happened last: `Ok(file name)` or `Err(why not)`.
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let download = move |_| {
        let (Some(token), Some(user)) = (
            session.token(),
            session
                .user
                .with_untracked(|u| u.as_ref().map(|u| u.user_id.clone())),
        ) else {
            return;
        };
        busy.set(true);
        outcome.set(None);
        spawn_local(async move {
            let answer = browser::export_data(&token).await;
            let _ = busy.try_set(false);
            let result = match answer {
                Ok(text) => {
                    let (year, month, day) = browser::local_date();
                    let name = export_file_name(&user, year, month, day);
                    if browser::save_file(&name, &text, "application/json") {
                        Ok(name)
                    } else {
                        Err("This browser did not save the file. Try again.".to_owned())
                    }
                }
                Err(refusal) if refusal.is(knock_protocol::ErrorCode::Unauthenticated) => {
                    connection.token_refused();
                    return;
                }
                Err(refusal) => Err(export_refusal_text(&refusal)),
            };
            let _ = outcome.try_set(Some(result));
        });
    };
    view! {
        <section class="card account-section" aria-labelledby="export-title">
            <h2 id="export-title">"Download my data"</h2>
            <p class="muted">
                "A JSON file with your account, your sessions, your rooms and every message you wrote."
            </p>
            <button type="button" class="btn" disabled=move || busy.get() on:click=download>
                {move || if busy.get() { "Preparing your data…" } else { "Download my data" }}
            </button>
            <p class="account-outcome" role="status">
                {move || match outcome.get() {
                    Some(Ok(name)) => format!("Saved as {name}."),
                    _ => String::new(),
                }}
            </p>
            {move || {
                outcome
                    .get()
                    .and_then(Result::err)
                    .map(|text| view! { <p class="error" role="alert">{text}</p> })
            }}
        </section>
    }
}
