//! Client-side routes: `/`, `/room/:room_id`, `/join/:room_id`, `/i/:code`, `/account`,
//! `/requests`.
//!
//! Four routes need no router crate: the path lives in a signal, links push history
//! entries, and `popstate` (back/forward) updates the signal. This keeps the download
//! small (`leptos_router` with its URL parsing cost about a tenth of the budget). The
//! server and static hosts answer every unknown path with index.html, so each route
//! also works on reload.

use knock_protocol::{InviteCode, RoomId};
use leptos::prelude::*;
use wasm_bindgen::JsValue;

/// A page of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Home,
    Room(RoomId),
    /// An invite link: the room id to ask to join.
    Join(RoomId),
    /// The user's account: sessions, password, export, deletion.
    Account,
    /// Every join request waiting in the rooms the user administers.
    Requests,
    /// An invite link an admin made: its code.
    Invite(InviteCode),
    NotFound,
}

impl Route {
    /// Reads a path (without query or fragment).
    pub fn parse(path: &str) -> Self {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            [] => Self::Home,
            ["room", id] => Self::Room(RoomId::new(decode(id))),
            ["join", id] => Self::Join(RoomId::new(decode(id))),
            ["account"] => Self::Account,
            ["requests"] => Self::Requests,
            ["i", code] => Self::Invite(InviteCode::new(decode(code))),
            _ => Self::NotFound,
        }
    }
}

/// Undoes percent-encoding of ASCII bytes (room ids are UUIDs; anything odd stays).
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            // Two hex digits make one byte.
            #[allow(clippy::cast_possible_truncation)]
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_owned())
}

/// The current path, and navigation.
#[derive(Clone, Copy)]
pub struct Nav {
    pub path: RwSignal<String>,
}

fn current_path() -> String {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_else(|| "/".into())
}

/// Provides [`Nav`]; call once at the top.
pub fn provide_nav() -> Nav {
    let nav = Nav {
        path: RwSignal::new(current_path()),
    };
    let _ = window_event_listener_untyped("popstate", move |_| nav.path.set(current_path()));
    provide_context(nav);
    nav
}

impl Nav {
    /// Goes to `path`, adding a history entry (nothing when already there).
    pub fn go(self, path: &str) {
        self.visit(path, false);
    }

    /// Goes to `path` in place of the current history entry: for a page that only
    /// forwards (an invite link to a room the user is already in), so that Back leads
    /// to where the user came from instead of bouncing forward again.
    pub fn replace(self, path: &str) {
        self.visit(path, true);
    }

    fn visit(self, path: &str, in_place: bool) {
        if self.path.with_untracked(|p| p == path) {
            return;
        }
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = if in_place {
                history.replace_state_with_url(&JsValue::NULL, "", Some(path))
            } else {
                history.push_state_with_url(&JsValue::NULL, "", Some(path))
            };
        }
        self.path.set(path.to_owned());
    }

    pub fn route(self) -> Route {
        self.path.with(|p| Route::parse(p))
    }
}

/// An in-app link: a real `<a href>` (copy, open in a new tab), navigating without a
/// reload on a plain click; `aria-current="page"` on the page it points to.
#[component]
pub fn Link(
    href: String,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] label: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let nav = expect_context::<Nav>();
    let target = href.clone();
    let current = href.clone();
    let on_click = move |ev: leptos::ev::MouseEvent| {
        let modified = ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key();
        if ev.button() == 0 && !modified {
            ev.prevent_default();
            nav.go(&target);
        }
    };
    view! {
        <a
            href=href
            class=class
            aria-label=label
            aria-current=move || nav.path.with(|p| *p == current).then_some("page")
            on:click=on_click
        >
            {children()}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_routes() {
        assert_eq!(Route::parse("/"), Route::Home);
        assert_eq!(Route::parse(""), Route::Home);
        assert_eq!(Route::parse("/room/abc"), Route::Room(RoomId::from("abc")));
        assert_eq!(Route::parse("/room/abc/"), Route::Room(RoomId::from("abc")));
        assert_eq!(
            Route::parse("/join/abc?x=1"),
            Route::Join(RoomId::from("abc"))
        );
        assert_eq!(Route::parse("/account"), Route::Account);
        assert_eq!(Route::parse("/account/"), Route::Account);
        assert_eq!(Route::parse("/account/x"), Route::NotFound);
        assert_eq!(Route::parse("/requests"), Route::Requests);
        assert_eq!(
            Route::parse("/i/Ab-9_x"),
            Route::Invite(InviteCode::new("Ab-9_x"))
        );
        assert_eq!(Route::parse("/room"), Route::NotFound);
        assert_eq!(Route::parse("/room/a/b"), Route::NotFound);
        assert_eq!(Route::parse("/elsewhere"), Route::NotFound);
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode("a%2Db"), "a-b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%E2%9C%93"), "✓");
        assert_eq!(decode("%FF"), "%FF");
    }
}
