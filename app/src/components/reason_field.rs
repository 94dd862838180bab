//! An optional short text that goes with a membership action: a knock's message to the
//! admins, the reason for a rejection, removal or ban. At most
//! `limits::MAX_REASON_CHARS`, counted as the user types.

use knock_protocol::limits;
use leptos::prelude::*;

/// `"12 / 500"`: what the counter under a reason says.
pub fn reason_count(text: &str) -> String {
    format!("{} / {}", text.chars().count(), limits::MAX_REASON_CHARS)
}

/// A labelled text box bound to `text`; `id` names it (and its counter, `id-count`). No
/// `maxlength`: it counts UTF-16 units (an emoji is two), the limit counts characters;
/// past it the count says so and sending refuses ([`crate::state::reason_to_send`]).
#[component]
pub fn ReasonField(
    id: String,
    label: &'static str,
    /// Said under the box, before the count ("Optional. …").
    hint: &'static str,
    text: RwSignal<String>,
) -> impl IntoView {
    let count_id = format!("{id}-count");
    view! {
        <div class="field reason-field">
            <label for=id.clone()>{label}</label>
            <textarea
                id=id
                rows="2"
                aria-describedby=count_id.clone()
                prop:value=text
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
            <span class="hint" id=count_id>
                {hint} " " {move || text.with(|t| reason_count(t))}
            </span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(reason_count(""), "0 / 500");
        assert_eq!(reason_count("héllo"), "5 / 500");
        // One character each, two UTF-16 units (what `maxlength` would count).
        assert_eq!(reason_count(&"😀".repeat(300)), "300 / 500");
    }
}
