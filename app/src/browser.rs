//! Thin wrappers over the browser APIs the client uses: storage, fetch, clipboard,
//! dates, randomness. Nothing here decides anything; the callers do.

use std::cell::RefCell;

use knock_protocol::{
    AccountDeletion, ApiError, AuthResponse, Credentials, ErrorCode, LogoutRequest, PasswordChange,
    RoomId, RoomPreview, SessionInfo, SessionList,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::config::{Endpoints, parse_config};
use crate::state::account::{Refusal, order_sessions};
use crate::state::describe_error;

fn window() -> web_sys::Window {
    web_sys::window().expect("running in a browser window")
}

// ----- localStorage -----

pub fn storage_get(key: &str) -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item(key).ok().flatten())
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.set_item(key, value);
    }
}

pub fn storage_remove(key: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.remove_item(key);
    }
}

// ----- configuration -----

thread_local! {
    static ENDPOINTS: RefCell<Option<Endpoints>> = const { RefCell::new(None) };
}

pub fn page_origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// The server's endpoints, reading `/config.json` the first time.
pub async fn endpoints() -> Endpoints {
    if let Some(e) = ENDPOINTS.with(|e| e.borrow().clone()) {
        return e;
    }
    let text = match fetch("/config.json", "GET", None, None).await {
        Ok((200, text)) => text,
        _ => String::new(),
    };
    let endpoints = Endpoints::new(&parse_config(&text).server_url, &page_origin());
    ENDPOINTS.with(|e| *e.borrow_mut() = Some(endpoints.clone()));
    endpoints
}

// ----- HTTP -----

async fn fetch(
    url: &str,
    method: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Result<(u16, String), JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_mode(web_sys::RequestMode::Cors);
    let headers = web_sys::Headers::new()?;
    if let Some(body) = body {
        headers.set("Content-Type", "application/json")?;
        init.set_body(&JsValue::from_str(body));
    }
    if let Some(token) = bearer {
        headers.set("Authorization", &format!("Bearer {token}"))?;
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let response: web_sys::Response = JsFuture::from(window().fetch_with_request(&request))
        .await?
        .dyn_into()?;
    let text = JsFuture::from(response.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), text))
}

/// `POST /api/register` or `/api/login`; the error is its code (when the server gave
/// one, so the form can show it at the right field) and a sentence.
pub async fn authenticate(
    route: &str,
    credentials: &Credentials,
) -> Result<AuthResponse, (Option<ErrorCode>, String)> {
    let endpoints = endpoints().await;
    let body = serde_json::to_string(credentials).expect("credentials serialize");
    let (status, text) = fetch(&endpoints.api(route), "POST", Some(&body), None)
        .await
        .map_err(|_| {
            (
                None,
                "Cannot reach the server. Check your connection and try again.".to_owned(),
            )
        })?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|_| {
            (
                None,
                "The server sent an answer this app does not understand.".to_owned(),
            )
        });
    }
    Err(match serde_json::from_str::<ApiError>(&text) {
        Ok(e) => (
            Some(e.error.code),
            describe_error(e.error.code, &e.error.message),
        ),
        Err(_) if status == 403 => (
            Some(ErrorCode::ForbiddenOrigin),
            describe_error(ErrorCode::ForbiddenOrigin, ""),
        ),
        Err(_) => (None, format!("The server answered {status}. Try again.")),
    })
}

/// What an invite link's page may show: `GET /api/rooms/{id}`. `Err(true)` when there
/// is no such room, `Err(false)` when the answer did not come (network, rate limit).
pub async fn room_preview(room_id: &RoomId) -> Result<RoomPreview, bool> {
    let endpoints = endpoints().await;
    let path = format!(
        "rooms/{}",
        String::from(js_sys::encode_uri_component(room_id.as_str()))
    );
    let (status, text) = fetch(&endpoints.api(&path), "GET", None, None)
        .await
        .map_err(|_| false)?;
    match status {
        200 => serde_json::from_str(&text).map_err(|_| false),
        404 => Err(true),
        _ => Err(false),
    }
}

/// `POST /api/logout`, best effort: signing out locally happens anyway.
pub async fn logout(token: &str) {
    let endpoints = endpoints().await;
    let _ = fetch(&endpoints.api("logout"), "POST", None, Some(token)).await;
}

// ----- the account page -----

/// An account request with the session's token: the answer's body on success.
async fn account_request(
    method: &str,
    path: &str,
    body: Option<&str>,
    token: &str,
) -> Result<String, Refusal> {
    let endpoints = endpoints().await;
    let (status, text) = fetch(&endpoints.api(path), method, body, Some(token))
        .await
        .map_err(|_| Refusal::unreachable())?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(Refusal::from_answer(status, &text))
    }
}

/// `GET /api/sessions`: this device first, then the most recently used.
pub async fn sessions(token: &str) -> Result<Vec<SessionInfo>, Refusal> {
    let text = account_request("GET", "sessions", None, token).await?;
    let mut list = serde_json::from_str::<SessionList>(&text)
        .map_err(|_| Refusal {
            status: 200,
            code: None,
            text: "The server sent an answer this app does not understand.".into(),
            retry_after_secs: None,
        })?
        .sessions;
    order_sessions(&mut list);
    Ok(list)
}

/// `DELETE /api/sessions/{id}`: signs that device out.
pub async fn revoke_session(token: &str, session_id: &str) -> Result<(), Refusal> {
    let path = format!(
        "sessions/{}",
        String::from(js_sys::encode_uri_component(session_id))
    );
    account_request("DELETE", &path, None, token)
        .await
        .map(drop)
}

/// `POST /api/logout {"everywhere":true}`: every session of the user, this one too.
pub async fn sign_out_everywhere(token: &str) -> Result<(), Refusal> {
    let body = serde_json::to_string(&LogoutRequest { everywhere: true }).expect("serializes");
    account_request("POST", "logout", Some(&body), token)
        .await
        .map(drop)
}

/// `POST /api/password`: the other sessions are signed out.
pub async fn change_password(token: &str, current: &str, new: &str) -> Result<(), Refusal> {
    let body = serde_json::to_string(&PasswordChange {
        current_password: current.to_owned(),
        new_password: new.to_owned(),
    })
    .expect("serializes");
    account_request("POST", "password", Some(&body), token)
        .await
        .map(drop)
}

/// `DELETE /api/account`, with the password again.
pub async fn delete_account(token: &str, password: &str) -> Result<(), Refusal> {
    let body = serde_json::to_string(&AccountDeletion {
        password: password.to_owned(),
    })
    .expect("serializes");
    account_request("DELETE", "account", Some(&body), token)
        .await
        .map(drop)
}

/// `GET /api/export`: the user's data as JSON text.
pub async fn export_data(token: &str) -> Result<String, Refusal> {
    account_request("GET", "export", None, token).await
}

/// Saves `text` as a file named `name` (a Blob, its object URL and a temporary
/// `<a download>`; the URL is revoked once the download has started).
pub fn save_file(name: &str, text: &str, mime: &str) -> bool {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return false;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return false;
    };
    let saved = window()
        .document()
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        .and_then(|a| {
            a.set_href(&url);
            a.set_download(name);
            let _ = a.set_attribute("hidden", "");
            let body = window().document()?.body()?;
            body.append_child(&a).ok()?;
            a.click();
            a.remove();
            Some(())
        })
        .is_some();
    // Revoking at once may cancel the download in some browsers: a moment later.
    let _ = leptos::prelude::set_timeout_with_handle(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(10),
    );
    saved
}

/// Today's local date: year, month (1–12), day.
pub fn local_date() -> (u32, u32, u32) {
    let date = js_sys::Date::new_0();
    (date.get_full_year(), date.get_month() + 1, date.get_date())
}

// ----- clipboard -----

/// Copies `text`; falls back to a hidden text area where the async clipboard API is
/// missing (pages served over plain HTTP).
pub async fn copy_text(text: &str) -> bool {
    let navigator = window().navigator();
    let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|c| !c.is_undefined() && !c.is_null());
    if has_clipboard
        && JsFuture::from(navigator.clipboard().write_text(text))
            .await
            .is_ok()
    {
        return true;
    }
    copy_with_text_area(text)
}

fn copy_with_text_area(text: &str) -> bool {
    let Some(document) = window().document() else {
        return false;
    };
    let Ok(area) = document.create_element("textarea") else {
        return false;
    };
    let Ok(area) = area.dyn_into::<web_sys::HtmlTextAreaElement>() else {
        return false;
    };
    area.set_value(text);
    let _ = area.set_attribute("style", "position:fixed;opacity:0");
    let Some(body) = document.body() else {
        return false;
    };
    let _ = body.append_child(&area);
    area.select();
    let copied = document
        .dyn_ref::<web_sys::HtmlDocument>()
        .and_then(|d| d.exec_command("copy").ok())
        .unwrap_or(false);
    area.remove();
    copied
}

// ----- time and randomness -----

/// `14:05` or `2:05 PM`, in the user's locale and time zone.
#[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit an f64 exactly
pub fn local_time(timestamp_ms: i64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp_ms as f64));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"numeric".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    date.to_locale_time_string_with_options(&locale(), &options)
        .into()
}

/// The full date and time, for a tooltip and `<time datetime>`.
#[allow(clippy::cast_precision_loss)]
pub fn local_date_time(timestamp_ms: i64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp_ms as f64));
    let readable: String = date.to_locale_string(&locale(), &JsValue::UNDEFINED).into();
    let iso: String = date.to_iso_string().into();
    (readable, iso)
}

/// `Today`, `Yesterday`, or the date, for day separators.
#[allow(clippy::cast_precision_loss)]
pub fn day_label(timestamp_ms: i64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp_ms as f64));
    let today = js_sys::Date::new_0();
    let yesterday = js_sys::Date::new(&JsValue::from_f64(today.get_time() - 86_400_000.0));
    let same_day = |a: &js_sys::Date, b: &js_sys::Date| {
        a.get_full_year() == b.get_full_year()
            && a.get_month() == b.get_month()
            && a.get_date() == b.get_date()
    };
    if same_day(&date, &today) {
        "Today".into()
    } else if same_day(&date, &yesterday) {
        "Yesterday".into()
    } else {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"medium".into());
        date.to_locale_date_string(&locale(), &options).into()
    }
}

/// A key that is the same for two timestamps on the same local day.
#[allow(clippy::cast_precision_loss)]
pub fn local_day_key(timestamp_ms: i64) -> u32 {
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp_ms as f64));
    date.get_full_year() * 10_000 + (date.get_month() + 1) * 100 + date.get_date()
}

fn locale() -> String {
    window()
        .navigator()
        .language()
        .unwrap_or_else(|| "en".into())
}

/// A uniform draw in `[0, 1)`, for backoff jitter.
pub fn random() -> f64 {
    js_sys::Math::random()
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Focuses `el` when nothing has the focus (the control the user was on has gone, as
/// a form does when it has done its job), never taking it from where the user is.
pub fn focus_if_lost(el: &web_sys::HtmlElement) {
    let document = window().document();
    let lost = document
        .as_ref()
        .and_then(web_sys::Document::active_element)
        .is_none_or(|active| {
            document
                .and_then(|d| d.body())
                .is_some_and(|b| *b == active)
        });
    if lost {
        let _ = el.focus();
    }
}

/// After the focused control went away: the message box when a room is open, else the
/// page's main content.
pub fn focus_next_step() {
    let Some(document) = window().document() else {
        return;
    };
    let target = document
        .get_element_by_id("message")
        .or_else(|| document.get_element_by_id("main"))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(target) = target {
        focus_if_lost(&target);
    }
}

/// Focuses the element with this id when the focus was lost (see [`focus_if_lost`]).
pub fn focus_id_if_lost(id: &str) {
    if let Some(el) = window()
        .document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    {
        focus_if_lost(&el);
    }
}

/// Focuses the element with this id, if it is on the page (a form that just opened).
pub fn focus_id(id: &str) {
    if let Some(el) = window()
        .document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// Whether the browser believes it has a network (`navigator.onLine`).
pub fn network_up() -> bool {
    window().navigator().on_line()
}

// ----- notifications -----

/// Whether this browser has the Notification API (not every phone browser does).
pub fn notifications_supported() -> bool {
    js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false)
}

/// Whether the user let this site show notifications.
pub fn notifications_allowed() -> bool {
    notifications_supported()
        && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
}

/// Asks the user to let this site show notifications (browsers only ask from a click);
/// whether they did.
pub async fn ask_for_notifications() -> bool {
    if !notifications_supported() {
        return false;
    }
    if let Ok(promise) = web_sys::Notification::request_permission() {
        let _ = JsFuture::from(promise).await;
    }
    notifications_allowed()
}

/// Whether the page is out of sight (another tab, a minimized window).
pub fn page_hidden() -> bool {
    window().document().is_some_and(|d| d.hidden())
}

/// Calls `changed` whenever the page goes out of sight or comes back, for the page's
/// life.
pub fn on_visibility_change(changed: impl Fn() + 'static) {
    let Some(document) = window().document() else {
        return;
    };
    let listener = wasm_bindgen::closure::Closure::<dyn Fn()>::new(changed);
    let _ = document
        .add_event_listener_with_callback("visibilitychange", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// Shows a notification; a click on it brings the tab forward and calls `on_click`.
pub fn show_notification(title: &str, body: &str, tag: &str, on_click: impl FnOnce() + 'static) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    options.set_icon("/favicon.svg");
    let Ok(notification) = web_sys::Notification::new_with_options(title, &options) else {
        return;
    };
    let shown = notification.clone();
    let click = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = window().focus();
        shown.close();
        on_click();
    });
    notification.set_onclick(Some(click.unchecked_ref()));
}
