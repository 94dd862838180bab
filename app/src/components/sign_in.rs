//! Sign in or create an account. The token goes to `localStorage`, so a reload keeps
//! the session.

use knock_protocol::{Credentials, limits};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session, SignedIn};
use crate::router::{Nav, Route};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    Register,
}

/// Checks the form before asking the server; `None` when it looks fine.
fn check(mode: Mode, username: &str, password: &str) -> Option<String> {
    if username.is_empty() {
        return Some("Enter your username.".into());
    }
    if password.is_empty() {
        return Some("Enter your password.".into());
    }
    if mode == Mode::Register {
        if !limits::is_valid_username(username) {
            return Some(format!(
                "Usernames have {} to {} characters: a-z, 0-9, _ . -",
                limits::USERNAME_CHARS.start(),
                limits::USERNAME_CHARS.end()
            ));
        }
        if !limits::is_valid_password(password) {
            return Some(format!(
                "Passwords have at least {} characters.",
                limits::PASSWORD_CHARS.start()
            ));
        }
    }
    None
}

/// Checks the form, then registers or signs in; on success the session starts.
fn submit_auth(
    connection: Connection,
    mode: Mode,
    username: &str,
    secret: String,
    error: RwSignal<Option<String>>,
    busy: RwSignal<Option<Mode>>,
) {
    if busy.get_untracked().is_some() {
        return;
    }
    let name = username.trim().to_lowercase();
    if let Some(problem) = check(mode, &name, &secret) {
        error.set(Some(problem));
        return;
    }
    error.set(None);
    busy.set(Some(mode));
    spawn_local(async move {
        let route = match mode {
            Mode::SignIn => "login",
            Mode::Register => "register",
        };
        let credentials = Credentials {
            username: name,
            password: secret,
        };
        let result = browser::authenticate(route, &credentials).await;
        busy.set(None);
        match result {
            Ok(auth) => connection.sign_in(SignedIn {
                user_id: auth.user_id,
                token: auth.token,
            }),
            Err(message) => error.set(Some(message)),
        }
    });
}

/// The brand, and why the user sees this page (signed out, invited).
#[component]
fn AuthIntro() -> impl IntoView {
    let session = expect_context::<Session>();
    let nav = expect_context::<Nav>();
    let invited = move || matches!(nav.route(), Route::Join(_));
    view! {
        <h1 class="auth-brand">
            <img class="brand-mark" src="/favicon.svg" alt="" width="28" height="28" />
            " Knock"
        </h1>
        <p class="auth-tagline">"Group chat where the room's admin lets people in."</p>
        {move || {
            session.flash.get().map(|text| view! { <p class="flash" role="status">{text}</p> })
        }}
        <Show when=invited>
            <p class="flash" role="status">
                "You were invited to a room. Sign in or create an account to ask to join."
            </p>
        </Show>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let connection = expect_context::<Connection>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<Mode>);

    let submit = move |mode: Mode| {
        submit_auth(
            connection,
            mode,
            &username.get_untracked(),
            password.get_untracked(),
            error,
            busy,
        );
    };

    view! {
        <main class="auth" id="main">
            <div class="auth-card">
                <AuthIntro />
                <form
                    class="auth-form"
                    novalidate
                    on:submit=move |ev| {
                        ev.prevent_default();
                        submit(Mode::SignIn);
                    }
                >
                    <div class="field">
                        <label for="username">"Username"</label>
                        <input
                            id="username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            maxlength="32"
                            prop:value=username
                            on:input=move |ev| username.set(event_target_value(&ev))
                        />
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input
                            id="password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            prop:value=password
                            on:input=move |ev| password.set(event_target_value(&ev))
                        />
                        <p class="hint">
                            "New here? Pick a username (a-z, 0-9, _ . -) and a password of 8 characters or more, then press Create account."
                        </p>
                    </div>
                    {move || error.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
                    <div class="auth-actions">
                        <button type="submit" class="btn btn-primary" disabled=move || busy.get().is_some()>
                            {move || if busy.get() == Some(Mode::SignIn) { "Signing in…" } else { "Sign in" }}
                        </button>
                        <button
                            type="button"
                            class="btn"
                            disabled=move || busy.get().is_some()
                            on:click=move |_| submit(Mode::Register)
                        >
                            {move || {
                                if busy.get() == Some(Mode::Register) {
                                    "Creating account…"
                                } else {
                                    "Create account"
                                }
                            }}
                        </button>
                    </div>
                </form>
            </div>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_before_asking_the_server() {
        assert!(check(Mode::SignIn, "", "x").is_some());
        assert!(check(Mode::SignIn, "al", "").is_some());
        assert_eq!(
            check(Mode::SignIn, "al", "short"),
            None,
            "the server decides"
        );
        assert!(check(Mode::Register, "al", "long enough").is_some());
        assert!(check(Mode::Register, "alice", "short").is_some());
        assert_eq!(check(Mode::Register, "alice", "long enough"), None);
    }
}
