//! Client-made ids (`clientMsgId`): random UUIDs (version 4).
//!
//! `crypto.randomUUID` exists only in secure contexts, and a static site on plain HTTP
//! is not one; `crypto.getRandomValues` works everywhere, so the UUID is formatted here.

use knock_protocol::ClientMsgId;

/// Formats 16 random bytes as a version 4, variant 1 UUID.
pub fn uuid_v4_from_bytes(mut bytes: [u8; 16]) -> String {
    use std::fmt::Write as _;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Whether `text` looks like a UUID (8-4-4-4-12 hex digits); room ids are UUIDs.
pub fn looks_like_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A fresh `clientMsgId` from the browser's random source.
#[cfg(target_arch = "wasm32")]
pub fn new_client_msg_id() -> ClientMsgId {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for b in &mut bytes {
            // Truncation is the point: one random byte from a float in [0, 1).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let byte = (js_sys::Math::random() * 256.0) as u8;
            *b = byte;
        }
    }
    ClientMsgId::new(uuid_v4_from_bytes(bytes))
}

/// Native builds (unit tests) have no browser; a counter is unique enough there.
#[cfg(not(target_arch = "wasm32"))]
pub fn new_client_msg_id() -> ClientMsgId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    ClientMsgId::new(uuid_v4_from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_version_and_variant() {
        let id = uuid_v4_from_bytes([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = uuid_v4_from_bytes([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
        assert!(looks_like_uuid(&id));
    }

    #[test]
    fn recognises_uuids() {
        assert!(looks_like_uuid("3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6"));
        assert!(looks_like_uuid("3F2A9C1E-1B2C-4D5E-8F90-A1B2C3D4E5F6"));
        assert!(!looks_like_uuid("hello"));
        assert!(!looks_like_uuid("3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f"));
        assert!(!looks_like_uuid("3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5fg"));
    }

    #[test]
    fn native_ids_are_unique() {
        assert_ne!(new_client_msg_id(), new_client_msg_id());
        assert!(looks_like_uuid(new_client_msg_id().as_str()));
    }
}
