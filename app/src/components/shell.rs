//! The frame around every page: sign-in when signed out, else header, room list,
//! notifications and the routed page.

use leptos::prelude::*;

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
