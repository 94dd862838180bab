//! The frame around every page: sign-in when signed out, else header, room list,
//! notifications and the routed page.
//!
//! The signed-in pages are a second WebAssembly module, loaded when someone is signed in
//! (and fetched in the background while the sign-in page shows), so that the sign-in
//! page downloads only its own code (docs/client-figures.md, "Code splitting").

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::{Connection, Session, provide_client};
use crate::components::account::AccountPage;
use crate::components::connection_status::ConnectionStatus;
use crate::components::home::{HomePage, InvitePage, JoinPage};
use crate::components::join_requests::RequestsPage;
use crate::components::notices::Notices;
use crate::components::room_list::{RequestsLink, RoomList};
use crate::components::room_view::RoomPage;
use crate::components::search::SearchBox;
use crate::components::sign_in::SignInPage;
use crate::router::{Link, Nav, Route, provide_nav};

#[component]
pub fn Shell() -> impl IntoView {
    let nav = provide_nav();
    provide_client(move |path| nav.go(path));
    let session = expect_context::<Session>();
    view! {
        <Show
            when=move || session.user.with(Option::is_some)
            fallback=|| {
                split::fetch_in_background();
                view! { <SignInPage /> }
            }
        >
            <SignedInPages />
        </Show>
    }
}

/// The signed-in pages, once their module is loaded; "Loading Knock…" until then, and a
/// way to try again when it could not be fetched.
#[component]
fn SignedInPages() -> impl IntoView {
    // None while the module loads; whether it could be loaded.
    let loaded = RwSignal::new(None::<bool>);
    let load = move || {
        loaded.set(None);
        spawn_local(async move {
            let ok = split::load().await;
            let _ = loaded.try_set(Some(ok));
        });
    };
    load();
    move || match loaded.get() {
        None => view! { <div class="boot" role="status">"Loading Knock…"</div> }.into_any(),
        Some(true) => split::signed_in_pages(),
        Some(false) => view! { <LoadFailed retry=load /> }.into_any(),
    }
}

#[component]
fn LoadFailed(retry: impl Fn() + 'static) -> impl IntoView {
    view! {
        <main class="auth" id="main">
            <div class="auth-card" role="alert">
                <p>"Knock could not load the rest of the app. Check the connection and try again."</p>
                <button type="button" class="btn btn-primary" on:click=move |_| retry()>
                    "Try again"
                </button>
            </div>
        </main>
    }
}

/// The one split point. The macro declares the import through which the browser loads
/// the module (`wasm_split_helpers`); that declaration is the only unsafe code allowed in
/// Knock (`unsafe_code` is denied everywhere else, Cargo.toml).
#[cfg(feature = "split")]
#[allow(unsafe_code)]
mod split {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use leptos::wasm_split::{SplitLoaderError, wasm_split};

    /// Everything reachable only from here goes to the module `signed_in`. The macro makes
    /// it `async`: the module is loaded first, and a module that could not be loaded is
    /// the `Err`.
    #[wasm_split(signed_in, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload))]
    #[allow(clippy::unnecessary_wraps)]
    fn pages() -> Result<AnyView, SplitLoaderError> {
        Ok(view! { <super::SignedIn /> }.into_any())
    }

    /// Loads the module (once; again after a failure): whether it is there.
    pub async fn load() -> bool {
        preload().await.is_ok()
    }

    /// Starts loading the module, so that signing in shows the pages at once.
    pub fn fetch_in_background() {
        spawn_local(async {
            let _ = preload().await;
        });
    }

    /// The pages, built in the caller's owner. Only after [`load`] said yes: the module
    /// is then there, and `pages` completes at its first poll.
    pub fn signed_in_pages() -> AnyView {
        match pin!(pages()).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(view)) => view,
            Poll::Ready(Err(_)) | Poll::Pending => unreachable!("the module is loaded"),
        }
    }
}

/// Without the `split` feature (`cargo leptos watch`, the native tests): one module.
#[cfg(not(feature = "split"))]
mod split {
    use leptos::prelude::*;

    #[allow(clippy::unused_async, reason = "the split point's signature")]
    pub async fn load() -> bool {
        true
    }

    pub fn fetch_in_background() {}

    pub fn signed_in_pages() -> AnyView {
        view! { <super::SignedIn /> }.into_any()
    }
}

#[component]
fn SignedIn() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    connection.begin();
    let nav = expect_context::<Nav>();
    let route = Memo::new(move |_| nav.route());
    let in_room = move || matches!(route.get(), Route::Room(_));
    // "(2) Knock": unread messages and join requests, visible from other tabs.
    let chat = expect_context::<crate::client::Chat>();
    Effect::new(move |_| {
        let pending: u64 = chat.0.with(|s| {
            s.rooms
                .values()
                .map(|r| u64::from(r.unread) + r.pending_requests() as u64)
                .sum()
        });
        let title = if pending == 0 {
            "Knock".to_owned()
        } else {
            format!("({pending}) Knock")
        };
        document().set_title(&title);
    });
    on_cleanup(|| document().set_title("Knock"));
    let user_name = move || {
        session
            .user
            .with(|u| u.as_ref().map(|u| u.user_id.to_string()))
            .unwrap_or_default()
    };
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="app" class:in-room=in_room>
            <header class="topbar">
                <Link href="/".into() class="brand" label="Knock, home">
                    <img class="brand-mark" src="/favicon.svg" alt="" width="28" height="28" />
                    <span class="brand-name">"Knock"</span>
                </Link>
                <ConnectionStatus />
                <div class="account">
                    <span class="account-name" title="Signed in as" dir="auto">
                        {user_name}
                    </span>
                    <Link href="/account".into() class="btn btn-quiet account-link">
                        "Account"
                    </Link>
                    <button type="button" class="btn btn-quiet" on:click=move |_| connection.sign_out()>
                        "Sign out"
                    </button>
                </div>
            </header>
            <Notices />
            <div class="layout">
                <aside class="sidebar" aria-label="Room list">
                    <SearchBox />
                    <RequestsLink />
                    <RoomList />
                </aside>
                <main class="content" id="main" tabindex="-1">
                    {move || match route.get() {
                        Route::Home => view! { <HomePage /> }.into_any(),
                        Route::Room(room_id) => view! { <RoomPage room_id /> }.into_any(),
                        Route::Join(room_id) => view! { <JoinPage room_id /> }.into_any(),
                        Route::Account => view! { <AccountPage /> }.into_any(),
                        Route::Requests => view! { <RequestsPage /> }.into_any(),
                        Route::Invite(code) => view! { <InvitePage code /> }.into_any(),
                        Route::NotFound => view! { <NotFound /> }.into_any(),
                    }}
                </main>
            </div>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <section class="panel">
            <h1>"Page not found"</h1>
            <p>
                "There is nothing at this address. " <Link href="/".into()>"Go to your rooms"</Link> "."
            </p>
        </section>
    }
}
