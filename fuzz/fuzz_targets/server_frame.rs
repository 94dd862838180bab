//! What a client parses from the server: every WebSocket frame (`ServerMessage`, as
//! app/src/client.rs decodes it with `decode_server`) and the HTTP bodies of register and login (`AuthResponse`,
//! `ApiError`, as app/src/browser.rs decodes them).
//!
//! Checks, for any input: nothing panics; whatever decodes survives re-encoding and a
//! second decode unchanged; what `decode_server` decodes, serde's derive decodes the same.
#![no_main]

use knock_protocol::{ApiError, AuthResponse, ServerMessage, decode_server};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames and fetch() bodies reach the client as strings.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip::<ServerMessage>(text);
    // Compared on JSON whose every string is readable: a lone surrogate escape (`\ude00`)
    // in a field nobody reads is skipped by decode_server and refused by the derive,
    // which buffers it; no server writes one (Rust strings cannot hold it).
    if let Ok(message) = decode_server(text)
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
    {
        assert_eq!(
            serde_json::from_str::<ServerMessage>(text).ok(),
            Some(message),
            "decode_server and the derive disagree on {text:?}"
        );
    }
    round_trip::<AuthResponse>(text);
    round_trip::<ApiError>(text);
});

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) {
    let Ok(value) = serde_json::from_str::<T>(text) else {
        return;
    };
    let json = serde_json::to_string(&value).expect("protocol types always serialize");
    let again: T = serde_json::from_str(&json)
        .unwrap_or_else(|error| panic!("re-encoded {json} does not decode: {error}"));
    assert_eq!(again, value, "round trip changed {text:?} (sent as {json})");
}
