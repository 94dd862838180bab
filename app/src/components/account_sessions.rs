//! The account page's "Sessions": every device signed in to the account, this one
//! marked "This device", "Sign out" on each of the others, and "Sign out everywhere"
//! (asked once) which ends this session too.

use std::time::Duration;

use knock_protocol::{ErrorCode, SessionInfo};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser;
use crate::client::{Connection, Session};
use crate::components::account::SessionsChanged;
use crate::state::account::{device_name, time_ago};

/// The list as last read: `None` while the first answer is awaited.
type Loaded = Option<Result<Vec<SessionInfo>, String>>;

#[component]
pub fn Sessions() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let changed = expect_context::<SessionsChanged>().0;
    let list = RwSignal::new(None::<Result<Vec<SessionInfo>, String>>);
    // Why the last "Sign out" of a device did not happen.
    let problem = RwSignal::new(None::<String>);
    // For "5 minutes ago": a clock that ticks each half minute.
    let now = RwSignal::new(browser::now_ms());
    let ticker = set_interval_with_handle(
        move || {
            let _ = now.try_set(browser::now_ms());
        },
        Duration::from_secs(30),
    )
    .ok();
    on_cleanup(move || {
        if let Some(ticker) = ticker {
            ticker.clear();
        }
    });

    let load = move || {
        let Some(token) = session.token() else {
            return;
        };
        spawn_local(async move {
            match browser::sessions(&token).await {
                Err(refusal) if refusal.is(ErrorCode::Unauthenticated) => {
                    connection.token_refused();
                }
                answer => {
                    let _ = now.try_set(browser::now_ms());
                    let _ = list.try_set(Some(answer.map_err(|r| r.text)));
                }
            }
        });
    };
    // Read at first, and again whenever another part of the page changed the sessions.
    Effect::new(move |_| {
        changed.track();
        load();
    });

    // `busy` is the row's: its button stays disabled while the request is under way.
    let revoke = move |info: SessionInfo, busy: RwSignal<bool>| {
        let Some(token) = session.token() else {
            return;
        };
        problem.set(None);
        spawn_local(async move {
            match browser::revoke_session(&token, &info.session_id).await {
                Ok(()) => {
                    let _ = list.try_update(|l| {
                        if let Some(Ok(sessions)) = l {
                            sessions.retain(|s| s.session_id != info.session_id);
                        }
                    });
                }
                Err(refusal) if refusal.is(ErrorCode::Unauthenticated) => {
                    connection.token_refused();
                    return;
                }
                // Already gone (signed out there meanwhile): the list is read again.
                Err(refusal) if refusal.status == 404 => load(),
                Err(refusal) => {
                    let _ = busy.try_set(false);
                    let _ = problem.try_set(Some(refusal.text));
                }
            }
            // The button went away with its row: the focus goes to the list's heading.
            request_animation_frame(|| browser::focus_id_if_lost("sessions-title"));
        });
    };

    view! {
        <section class="card account-section" aria-labelledby="sessions-title">
            <h2 id="sessions-title" tabindex="-1">
                "Sessions"
            </h2>
            <p class="muted">
                "Where your account is signed in. Signing a device out closes Knock there at once."
            </p>
            <SessionItems list now revoke />
            {move || problem.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            <SignOutEverywhere />
        </section>
    }
}

/// The sessions, or why they are not shown.
#[component]
fn SessionItems(
    list: RwSignal<Loaded>,
    now: RwSignal<f64>,
    revoke: impl Fn(SessionInfo, RwSignal<bool>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || match list.get() {
        None => view! { <p class="muted" role="status">"Loading your sessions…"</p> }.into_any(),
        Some(Err(text)) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
        Some(Ok(sessions)) => view! {
            <ul class="sessions" aria-label="Sessions">
                {sessions
                    .into_iter()
                    .map(|info| view! { <SessionRow info now revoke /> })
                    .collect_view()}
            </ul>
        }
        .into_any(),
    }
}

/// One device: what it is, when it signed in and was last used, and "Sign out" (not on
/// this device: that is the header's "Sign out").
#[component]
fn SessionRow(
    info: SessionInfo,
    now: RwSignal<f64>,
    revoke: impl Fn(SessionInfo, RwSignal<bool>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = format!("session-{}", dom_id(&info.session_id));
    let device = device_name(info.user_agent.as_deref());
    let busy = RwSignal::new(false);
    let current = info.current;
    let full_agent = info.user_agent.clone();
    let button = (!current).then(|| {
        let info = info.clone();
        view! {
            <button
                type="button"
                class="btn btn-small session-sign-out"
                aria-describedby=format!("{id}-device {id}-times")
                disabled=move || busy.get()
                on:click=move |_| {
                    busy.set(true);
                    revoke(info.clone(), busy);
                }
            >
                "Sign out"
            </button>
        }
    });
    view! {
        <li class="session" class:current=current>
            <div class="session-main">
                <p class="session-device">
                    <span id=format!("{id}-device")>{device}</span>
                    {current.then(|| view! { <span class="tag tag-current">"This device"</span> })}
                </p>
                <p class="session-times muted" id=format!("{id}-times")>
                    "Last used " <When at=info.last_used_at now /> ", signed in "
                    <When at=info.created_at now />
                </p>
                {full_agent
                    .map(|agent| {
                        view! {
                            <details class="session-agent">
                                <summary>"Browser details"</summary>
                                <code dir="ltr">{agent}</code>
                            </details>
                        }
                    })}
            </div>
            {button}
        </li>
    }
}

/// "5 minutes ago", with the full local date and time on hover and in `datetime`.
#[component]
fn When(at: i64, now: RwSignal<f64>) -> impl IntoView {
    let (full, iso) = browser::local_date_time(at);
    // Milliseconds since 1970 fit an i64.
    #[allow(clippy::cast_possible_truncation)]
    let ago = move || time_ago(now.get() as i64, at);
    view! {
        <time datetime=iso title=full>
            {ago}
        </time>
    }
}

/// "Sign out everywhere", asked once: every session ends, this one too.
#[component]
fn SignOutEverywhere() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let open = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(token) = session.token() else {
            return;
        };
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            let result = connection
                .leave_with(
                    browser::sign_out_everywhere(&token),
                    "You were signed out on every device.",
                )
                .await;
            if let Err(refusal) = result {
                let _ = busy.try_set(false);
                let _ = problem.try_set(Some(refusal.text));
            }
        });
    };
    let toggle = move |_| {
        problem.set(None);
        open.update(|o| *o = !*o);
        if open.get_untracked() {
            request_animation_frame(|| browser::focus_id("everywhere-cancel"));
        }
    };
    view! {
        <button
            type="button"
            id="everywhere-open"
            class="btn btn-small btn-danger"
            aria-expanded=move || open.get().to_string()
            on:click=toggle
        >
            "Sign out everywhere"
        </button>
        <Show when=move || open.get()>
            <form class="confirm" aria-labelledby="everywhere-heading" on:submit=submit>
                <h3 id="everywhere-heading">"Sign out on every device?"</h3>
                <p>"This device too. You will need your password to sign in again."</p>
                {move || problem.get().map(|text| view! { <p class="error" role="alert">{text}</p> })}
                <div class="confirm-actions">
                    <button type="submit" class="btn btn-small btn-danger" disabled=move || busy.get()>
                        {move || if busy.get() { "Signing out…" } else { "Yes, sign out everywhere" }}
                    </button>
                    <button
                        type="button"
                        id="everywhere-cancel"
                        class="btn btn-small"
                        on:click=move |_| {
                            open.set(false);
                            browser::focus_id("everywhere-open");
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            </form>
        </Show>
    }
}

/// A session id as part of an element id (letters, digits, `-` and `_` only).
fn dom_id(session_id: &str) -> String {
    session_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
