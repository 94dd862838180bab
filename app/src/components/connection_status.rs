//! The connection indicator in the header: always visible, with "Retry now" while the
//! client waits to reconnect.

use std::time::Duration;

use leptos::prelude::*;

use crate::browser;
use crate::client::{ConnStatus, Connection};

/// Seconds until `retry_at`, rounded up, never negative.
fn seconds_until(retry_at: f64, now: f64) -> u64 {
    let left = ((retry_at - now) / 1000.0).ceil();
    if left.is_finite() && left > 0.0 {
        // Non-negative and finite, and small: the backoff caps at 30 s.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let left = left as u64;
        left
    } else {
        0
    }
}

/// The words announced for a status (screen readers hear each change once).
fn label(status: ConnStatus, network_up: bool) -> &'static str {
    match status {
        ConnStatus::Idle => "Offline",
        _ if !network_up => "Offline",
        ConnStatus::Connecting => "Connecting…",
        ConnStatus::Online => "Connected",
        ConnStatus::Reconnecting { .. } => "Reconnecting…",
    }
}

/// The countdown shown (not announced) while waiting to reconnect.
fn countdown(status: ConnStatus, now: f64) -> Option<String> {
    match status {
        ConnStatus::Reconnecting { retry_at, .. } => match seconds_until(retry_at, now) {
            0 => None,
            s => Some(format!("in {s} s")),
        },
        _ => None,
    }
}

#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let connection = expect_context::<Connection>();
    let status = connection.status;
    let network = connection.network;
    // A clock for the countdown, ticking only while reconnecting.
    let now = RwSignal::new(0.0_f64);
    let ticker = StoredValue::new_local(None::<IntervalHandle>);
    Effect::new(move |_| {
        let reconnecting = matches!(status.get(), ConnStatus::Reconnecting { .. });
        ticker.update_value(|t| {
            if reconnecting && t.is_none() {
                now.set(browser::now_ms());
                *t = set_interval_with_handle(
                    move || now.set(browser::now_ms()),
                    Duration::from_millis(500),
                )
                .ok();
            } else if !reconnecting && let Some(handle) = t.take() {
                handle.clear();
            }
        });
    });
    on_cleanup(move || {
        ticker.update_value(|t| {
            if let Some(handle) = t.take() {
                handle.clear();
            }
        });
    });

    let state = move || match status.get() {
        _ if !network.get() => "offline",
        ConnStatus::Online => "online",
        ConnStatus::Connecting => "connecting",
        ConnStatus::Reconnecting { .. } => "reconnecting",
        ConnStatus::Idle => "offline",
    };
    view! {
        <div class="conn" data-state=state>
            <span class="conn-dot" aria-hidden="true"></span>
            <span class="conn-label" role="status">{move || label(status.get(), network.get())}</span>
            <span class="conn-countdown" aria-hidden="true">{move || countdown(status.get(), now.get())}</span>
            <Show when=move || matches!(status.get(), ConnStatus::Reconnecting { .. })>
                <button type="button" class="btn btn-link" on:click=move |_| connection.retry_now()>
                    "Retry now"
                </button>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label(ConnStatus::Online, true), "Connected");
        assert_eq!(label(ConnStatus::Online, false), "Offline");
        let waiting = ConnStatus::Reconnecting {
            attempt: 2,
            retry_at: 3_200.0,
        };
        assert_eq!(label(waiting, true), "Reconnecting…");
        assert_eq!(label(waiting, false), "Offline");
        assert_eq!(countdown(waiting, 1_000.0).as_deref(), Some("in 3 s"));
        assert_eq!(countdown(waiting, 5_000.0), None);
        assert_eq!(countdown(ConnStatus::Online, 0.0), None);
        assert_eq!(seconds_until(f64::NAN, 0.0), 0);
    }
}
