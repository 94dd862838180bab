//! The account page's danger zone: "Delete account" opens a confirmation that asks for
//! the password again; on success every device is signed out and this one shows the
//! sign-in page with "Your account was deleted."

use knock_protocol::ErrorCode;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session};
use crate::state::account::deletion_problem;

#[component]
pub fn DeleteAccount() -> impl IntoView {
    let open = RwSignal::new(false);
    let toggle = move |_| {
        open.update(|o| *o = !*o);
        if open.get_untracked() {
            request_animation_frame(|| browser::focus_id("delete-password"));
        }
    };
    view! {
        <section class="card account-section danger-zone" aria-labelledby="delete-title">
            <h2 id="delete-title">"Delete account"</h2>
            <p>
                "Your account, your sessions and your place in every room are deleted, and every device is signed out. Your messages stay in their rooms, from \u{201c}Deleted user\u{201d}. A room you are the only admin of gets a new admin; a room with no other member is deleted. This cannot be undone."
            </p>
            <button
                type="button"
                id="delete-open"
                class="btn btn-danger"
                aria-expanded=move || open.get().to_string()
                on:click=toggle
            >
                "Delete account"
            </button>
            <Show when=move || open.get()>
                <ConfirmDeletion open />
            </Show>
        </section>
    }
}

/// The password again, then "Yes, delete my account".
#[component]
fn ConfirmDeletion(open: RwSignal<bool>) -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    // Why not: at the password (`true`) or for the whole form.
    let problem = RwSignal::new(None::<(bool, String)>);
    let input_ref = NodeRef::<leptos::html::Input>::new();
    let field_problem = move || problem.with(|p| p.as_ref().filter(|p| p.0).map(|p| p.1.clone()));
    let form_problem = move || problem.with(|p| p.as_ref().filter(|p| !p.0).map(|p| p.1.clone()));
    let refuse = move |found: (bool, String)| {
        let _ = problem.try_set(Some(found));
        if let Some(input) = input_ref.try_get_untracked().flatten() {
            let _ = input.focus();
            input.select();
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let secret = password.get_untracked();
        if secret.is_empty() {
            refuse((true, "Enter your password.".into()));
            return;
        }
        let Some(token) = session.token() else {
            return;
        };
        problem.set(None);
        busy.set(true);
        spawn_local(async move {
            let result = connection
                .leave_with(
                    browser::delete_account(&token, &secret),
                    "Your account was deleted.",
                )
                .await;
            match result {
                Ok(()) => {}
                Err(refusal) if refusal.is(ErrorCode::Unauthenticated) => {}
                Err(refusal) => {
                    let _ = busy.try_set(false);
                    refuse(deletion_problem(refusal));
                }
            }
        });
    };
    view! {
        <form class="confirm" aria-labelledby="delete-heading" novalidate on:submit=submit>
            <h3 id="delete-heading">"Delete your account for good?"</h3>
            <div class="field">
                <label for="delete-password">"Your password"</label>
                <input
                    id="delete-password"
                    type="password"
                    autocomplete="current-password"
                    required
                    node_ref=input_ref
                    aria-invalid=move || field_problem().is_some().to_string()
                    aria-describedby=move || field_problem().map(|_| "delete-password-error")
                    prop:value=password
                    on:input=move |ev| {
                        password.set(event_target_value(&ev));
                        problem.set(None);
                    }
                />
                {move || {
                    field_problem()
                        .map(|text| {
                            view! { <p class="error field-error" id="delete-password-error">{text}</p> }
                        })
                }}
            </div>
            {move || form_problem().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <div class="confirm-actions">
                <button type="submit" class="btn btn-small btn-danger" disabled=move || busy.get()>
                    {move || if busy.get() { "Deleting…" } else { "Yes, delete my account" }}
                </button>
                <button
                    type="button"
                    class="btn btn-small"
                    on:click=move |_| {
                        open.set(false);
                        browser::focus_id("delete-open");
                    }
                >
                    "Cancel"
                </button>
            </div>
        </form>
    }
}
