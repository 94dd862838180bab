//! Sign in or create an account. The token goes to `localStorage`, so a reload keeps
//! the session.

use knock_protocol::{Credentials, ErrorCode, limits};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session, SignedIn};
use crate::components::home::InviteSummary;
use crate::router::{Nav, Route};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    Register,
}

/// What is wrong with the form, at the place the user must fix it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Problems {
    username: Option<String>,
    password: Option<String>,
    /// About the whole form (wrong credentials, a lock, the network).
    form: Option<String>,
}

/// The field that takes the focus after a refusal: the first one to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Username,
    Password,
}

impl Problems {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Wrong credentials or a lock are fixed by typing the password again.
    fn focus(&self) -> Option<Field> {
        if self.username.is_some() {
            Some(Field::Username)
        } else if self.password.is_some() || self.form.is_some() {
            Some(Field::Password)
        } else {
            None
        }
    }

    /// Places the server's refusal.
    fn from_server(code: Option<ErrorCode>, text: String) -> Self {
        match code {
            Some(ErrorCode::InvalidUsername | ErrorCode::UsernameTaken) => Self {
                username: Some(text),
                ..Self::default()
            },
            Some(ErrorCode::InvalidPassword) => Self {
                password: Some(text),
                ..Self::default()
            },
            _ => Self {
                form: Some(text),
                ..Self::default()
            },
        }
    }
}

/// Checks the form before asking the server: every problem, each at its field.
fn check(mode: Mode, username: &str, password: &str) -> Problems {
    let mut problems = Problems::default();
    if username.is_empty() {
        problems.username = Some("Enter your username.".into());
    } else if mode == Mode::Register && !limits::is_valid_username(username) {
        problems.username = Some(format!(
            "Usernames have {} to {} characters: a-z, 0-9, _ . -",
            limits::USERNAME_CHARS.start(),
            limits::USERNAME_CHARS.end()
        ));
    }
    if password.is_empty() {
        problems.password = Some("Enter your password.".into());
    } else if mode == Mode::Register && !limits::is_valid_password(password) {
        problems.password = Some(format!(
            "Passwords have at least {} characters.",
            limits::PASSWORD_CHARS.start()
        ));
    }
    problems
}

/// The form's state, shared by its parts.
#[derive(Clone, Copy)]
struct Form {
    username: RwSignal<String>,
    password: RwSignal<String>,
    problems: RwSignal<Problems>,
    busy: RwSignal<Option<Mode>>,
    username_ref: NodeRef<leptos::html::Input>,
    password_ref: NodeRef<leptos::html::Input>,
}

impl Form {
    /// Shows the problems and puts the focus on the first field to fix.
    fn refuse(self, problems: Problems) {
        let target = match problems.focus() {
            Some(Field::Username) => self.username_ref.get_untracked(),
            Some(Field::Password) => self.password_ref.get_untracked(),
            None => None,
        };
        self.problems.set(problems);
        if let Some(input) = target {
            let _ = input.focus();
            input.select();
        }
    }
}

/// Checks the form, then registers or signs in; on success the session starts.
fn submit_auth(connection: Connection, form: Form, mode: Mode) {
    if form.busy.get_untracked().is_some() {
        return;
    }
    let name = form.username.get_untracked().trim().to_lowercase();
    let secret = form.password.get_untracked();
    let problems = check(mode, &name, &secret);
    if !problems.is_empty() {
        form.refuse(problems);
        return;
    }
    form.problems.set(Problems::default());
    form.busy.set(Some(mode));
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
        form.busy.set(None);
        match result {
            Ok(auth) => connection.sign_in(SignedIn {
                user_id: auth.user_id,
                token: auth.token,
            }),
            Err((code, text)) => form.refuse(Problems::from_server(code, text)),
        }
    });
}

/// The brand, and why the user sees this page (signed out, invited).
#[component]
fn AuthIntro() -> impl IntoView {
    let session = expect_context::<Session>();
    let nav = expect_context::<Nav>();
    let invited = move || match nav.route() {
        Route::Join(room_id) => Some(room_id),
        _ => None,
    };
    view! {
        <h1 class="auth-brand">
            <img class="brand-mark" src="/favicon.svg" alt="" width="28" height="28" />
            " Knock"
        </h1>
        <p class="auth-tagline">"Group chat where the room's admin lets people in."</p>
        {move || {
            session.flash.get().map(|text| view! { <p class="flash" role="status">{text}</p> })
        }}
        {move || {
            invited()
                .map(|room_id| {
                    view! {
                        <div class="flash" role="status">
                            <p>
                                "You were invited to a room. Sign in or create an account to ask to join."
                            </p>
                            <InviteSummary room_id />
                        </div>
                    }
                })
        }}
    }
}

/// Username and password, each with its own error next to it.
#[component]
fn CredentialFields(form: Form) -> impl IntoView {
    let Form {
        username,
        password,
        problems,
        ..
    } = form;
    let username_problem = move || problems.with(|p| p.username.clone());
    let password_problem = move || problems.with(|p| p.password.clone());
    view! {
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
                node_ref=form.username_ref
                aria-invalid=move || username_problem().is_some().to_string()
                aria-describedby=move || username_problem().map(|_| "username-error")
                prop:value=username
                on:input=move |ev| {
                    username.set(event_target_value(&ev));
                    problems.update(|p| p.username = None);
                }
            />
            {move || {
                username_problem()
                    .map(|text| view! { <p class="error field-error" id="username-error">{text}</p> })
            }}
        </div>
        <div class="field">
            <label for="password">"Password"</label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
                node_ref=form.password_ref
                aria-invalid=move || password_problem().is_some().to_string()
                aria-describedby=move || {
                    if password_problem().is_some() {
                        "password-error password-hint"
                    } else {
                        "password-hint"
                    }
                }
                prop:value=password
                on:input=move |ev| {
                    password.set(event_target_value(&ev));
                    problems.update(|p| p.password = None);
                }
            />
            {move || {
                password_problem()
                    .map(|text| view! { <p class="error field-error" id="password-error">{text}</p> })
            }}
            <p class="hint" id="password-hint">
                "New here? Pick a username (a-z, 0-9, _ . -) and a password of 8 characters or more, then press Create account."
            </p>
        </div>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let connection = expect_context::<Connection>();
    let form = Form {
        username: RwSignal::new(String::new()),
        password: RwSignal::new(String::new()),
        problems: RwSignal::new(Problems::default()),
        busy: RwSignal::new(None),
        username_ref: NodeRef::new(),
        password_ref: NodeRef::new(),
    };
    let Form { problems, busy, .. } = form;
    let submit = move |mode: Mode| submit_auth(connection, form, mode);

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
                    <CredentialFields form />
                    {move || {
                        problems
                            .with(|p| p.form.clone())
                            .map(|text| view! { <p class="error" role="alert">{text}</p> })
                    }}
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
    fn checks_before_asking_the_server_and_reports_every_problem() {
        let both = check(Mode::SignIn, "", "");
        assert!(both.username.is_some() && both.password.is_some());
        assert_eq!(both.focus(), Some(Field::Username));
        let password = check(Mode::SignIn, "al", "");
        assert!(password.username.is_none() && password.password.is_some());
        assert_eq!(password.focus(), Some(Field::Password));
        assert!(
            check(Mode::SignIn, "al", "short").is_empty(),
            "the server decides"
        );
        let register = check(Mode::Register, "al", "short");
        assert!(register.username.is_some() && register.password.is_some());
        assert!(check(Mode::Register, "alice", "short").username.is_none());
        assert!(check(Mode::Register, "alice", "long enough").is_empty());
    }

    #[test]
    fn server_refusals_go_to_their_field() {
        let taken = Problems::from_server(Some(ErrorCode::UsernameTaken), "taken".into());
        assert_eq!(taken.username.as_deref(), Some("taken"));
        assert_eq!(taken.focus(), Some(Field::Username));
        let wrong = Problems::from_server(Some(ErrorCode::InvalidCredentials), "wrong".into());
        assert_eq!(wrong.form.as_deref(), Some("wrong"));
        assert_eq!(
            wrong.focus(),
            Some(Field::Password),
            "type the password again"
        );
        let offline = Problems::from_server(None, "cannot reach".into());
        assert_eq!(offline.form.as_deref(), Some("cannot reach"));
    }
}
