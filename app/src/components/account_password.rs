//! The account page's "Change password": the current password, the new one twice.
//! Problems show at their field (`aria-invalid`, `aria-describedby`) and the first
//! field to fix takes the focus, as on the sign-in form; the rules are in
//! `state/account.rs`. Success signs the other devices out, and says so.

use knock_protocol::ErrorCode;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session};
use crate::components::account::SessionsChanged;
use crate::state::account::{PasswordField, PasswordProblems, check_password_change};

#[derive(Clone, Copy)]
struct Form {
    current: RwSignal<String>,
    new: RwSignal<String>,
    confirm: RwSignal<String>,
    problems: RwSignal<PasswordProblems>,
    busy: RwSignal<bool>,
    done: RwSignal<bool>,
    current_ref: NodeRef<leptos::html::Input>,
    new_ref: NodeRef<leptos::html::Input>,
    confirm_ref: NodeRef<leptos::html::Input>,
}

impl Form {
    /// Shows the problems and puts the focus on the first field to fix.
    fn refuse(self, problems: PasswordProblems) {
        // The page may be gone by the time the server answers.
        let target = match problems.focus() {
            Some(PasswordField::Current) => self.current_ref.try_get_untracked(),
            Some(PasswordField::New) => self.new_ref.try_get_untracked(),
            Some(PasswordField::Confirm) => self.confirm_ref.try_get_untracked(),
            None => None,
        }
        .flatten();
        let _ = self.problems.try_set(problems);
        if let Some(input) = target {
            let _ = input.focus();
            input.select();
        }
    }
}

/// Checks the form, then asks the server; on success the form is emptied and says so.
fn submit_change(session: Session, connection: Connection, changed: RwSignal<u32>, form: Form) {
    let Form {
        problems,
        busy,
        done,
        ..
    } = form;
    if busy.get_untracked() {
        return;
    }
    let current = form.current.get_untracked();
    let new = form.new.get_untracked();
    let found = check_password_change(&current, &new, &form.confirm.get_untracked());
    done.set(false);
    if !found.is_empty() {
        form.refuse(found);
        return;
    }
    let Some(token) = session.token() else {
        return;
    };
    problems.set(PasswordProblems::default());
    busy.set(true);
    spawn_local(async move {
        let result = browser::change_password(&token, &current, &new).await;
        let _ = busy.try_set(false);
        match result {
            Ok(()) => {
                for field in [form.current, form.new, form.confirm] {
                    let _ = field.try_set(String::new());
                }
                let _ = done.try_set(true);
                // The other devices were signed out.
                let _ = changed.try_update(|n| *n += 1);
            }
            Err(refusal) if refusal.is(ErrorCode::Unauthenticated) => {
                connection.token_refused();
            }
            Err(refusal) => form.refuse(PasswordProblems::from_refusal(refusal)),
        }
    });
}

#[component]
pub fn ChangePassword() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let changed = expect_context::<SessionsChanged>().0;
    let form = Form {
        current: RwSignal::new(String::new()),
        new: RwSignal::new(String::new()),
        confirm: RwSignal::new(String::new()),
        problems: RwSignal::new(PasswordProblems::default()),
        busy: RwSignal::new(false),
        done: RwSignal::new(false),
        current_ref: NodeRef::new(),
        new_ref: NodeRef::new(),
        confirm_ref: NodeRef::new(),
    };
    let Form {
        problems,
        busy,
        done,
        ..
    } = form;
    let user_name = session
        .user
        .with_untracked(|u| u.as_ref().map(|u| u.user_id.to_string()))
        .unwrap_or_default();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit_change(session, connection, changed, form);
    };
    view! {
        <section class="card account-section" aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
            <form class="password-form" novalidate on:submit=submit>
                // For password managers: whose password this is.
                <input type="text" name="username" autocomplete="username" value=user_name hidden />
                <PasswordInput
                    field=PasswordField::Current
                    label="Current password"
                    autocomplete="current-password"
                    value=form.current
                    node_ref=form.current_ref
                    problems
                />
                <PasswordInput
                    field=PasswordField::New
                    label="New password"
                    autocomplete="new-password"
                    value=form.new
                    node_ref=form.new_ref
                    problems
                />
                <PasswordInput
                    field=PasswordField::Confirm
                    label="Confirm new password"
                    autocomplete="new-password"
                    value=form.confirm
                    node_ref=form.confirm_ref
                    problems
                />
                {move || {
                    problems
                        .with(|p| p.form.clone())
                        .map(|text| view! { <p class="error" role="alert">{text}</p> })
                }}
                <p class="account-outcome" role="status">
                    {move || {
                        done.get()
                            .then_some(
                                "Your password was changed. Every other device was signed out.",
                            )
                    }}
                </p>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Changing password…" } else { "Change password" }}
                </button>
            </form>
        </section>
    }
}

/// A password field with its label, its problem (described by it) and, for the new
/// password, the rule.
#[component]
fn PasswordInput(
    field: PasswordField,
    label: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
    node_ref: NodeRef<leptos::html::Input>,
    problems: RwSignal<PasswordProblems>,
) -> impl IntoView {
    let id = match field {
        PasswordField::Current => "current-password",
        PasswordField::New => "new-password",
        PasswordField::Confirm => "confirm-password",
    };
    let hint = (field == PasswordField::New).then_some("8 to 256 characters.");
    let problem = move || problems.with(|p| p.at(field).cloned());
    let described_by = move || {
        let error = problems.with(|p| p.at(field).is_some());
        match (error, hint.is_some()) {
            (true, true) => Some(format!("{id}-error {id}-hint")),
            (true, false) => Some(format!("{id}-error")),
            (false, true) => Some(format!("{id}-hint")),
            (false, false) => None,
        }
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                type="password"
                autocomplete=autocomplete
                required
                node_ref=node_ref
                aria-invalid=move || problem().is_some().to_string()
                aria-describedby=described_by
                prop:value=value
                on:input=move |ev| {
                    value.set(event_target_value(&ev));
                    problems.update(|p| p.clear(field));
                }
            />
            {move || {
                problem()
                    .map(|text| view! { <p class="error field-error" id=format!("{id}-error")>{text}</p> })
            }}
            {hint.map(|text| view! { <p class="hint" id=format!("{id}-hint")>{text}</p> })}
        </div>
    }
}
