//! The frame around every page: sign-in when signed out, else header, room list,
//! notifications and the routed page.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::{NavigateOptions, path};

use crate::client::{Connection, Session, provide_client};
use crate::components::connection_status::ConnectionStatus;
use crate::components::home::{HomePage, JoinPage};
use crate::components::notices::Notices;
use crate::components::room_list::RoomList;
use crate::components::room_view::RoomPage;
use crate::components::sign_in::SignInPage;

#[component]
pub fn Shell() -> impl IntoView {
    let navigate = use_navigate();
    provide_client(move |path| navigate(path, NavigateOptions::default()));
    let session = expect_context::<Session>();
    view! {
        <Show
            when=move || session.user.with(Option::is_some)
            fallback=|| view! { <SignInPage /> }
        >
            <SignedIn />
        </Show>
    }
}

#[component]
fn SignedIn() -> impl IntoView {
    let session = expect_context::<Session>();
    let connection = expect_context::<Connection>();
    let location = use_location();
    let in_room = move || location.pathname.with(|p| p.starts_with("/room/"));
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
                <A href="/" attr:class="brand" attr:aria-label="Knock, home">
                    <img class="brand-mark" src="/favicon.svg" alt="" width="28" height="28" />
                    <span class="brand-name">"Knock"</span>
                </A>
                <ConnectionStatus />
                <div class="account">
                    <span class="account-name" title="Signed in as">{user_name}</span>
                    <button type="button" class="btn btn-quiet" on:click=move |_| connection.sign_out()>
                        "Sign out"
                    </button>
                </div>
            </header>
            <Notices />
            <div class="layout">
                <aside class="sidebar">
                    <RoomList />
                </aside>
                <main class="content" id="main" tabindex="-1">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=path!("/") view=HomePage />
                        <Route path=path!("/room/:room_id") view=RoomPage />
                        <Route path=path!("/join/:room_id") view=JoinPage />
                    </Routes>
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
                "There is nothing at this address. " <A href="/">"Go to your rooms"</A> "."
            </p>
        </section>
    }
}
