//! The bodies of the account API: any bytes, parsed as server/src/http.rs `json_body()`
//! does for `POST /api/register` and `/api/login` (`Credentials`), `POST /api/password`
//! (`PasswordChange`), `DELETE /api/account` (`AccountDeletion`) and `POST /api/logout`
//! (`LogoutRequest`), then the rules applied to them (`knock_server::domain::{username,
//! password}`).
//!
//! Checks, for any input: nothing panics; whatever parses survives a round trip; a
//! username the rules accept is the trimmed, lower-cased input, valid by the protocol's
//! limits, the same for the upper-cased input (case-insensitive) and unchanged when
//! normalized again; a password (a new one too) is accepted exactly when it has 8 to 256
//! characters.
#![no_main]

use knock_protocol::{AccountDeletion, Credentials, LogoutRequest, PasswordChange, limits};
use knock_server::domain::{self, RuleError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(change) = round_trip::<PasswordChange>(data) {
        check_password(&change.new_password);
    }
    round_trip::<AccountDeletion>(data);
    round_trip::<LogoutRequest>(data);
    let credentials = match serde_json::from_slice::<Credentials>(data) {
        Ok(credentials) => credentials,
        Err(error) => {
            // The 400 answer quotes serde's reason.
            let _ = format!("expected {{\"username\": \"…\", \"password\": \"…\"}}: {error}");
            return;
        }
    };
    let json = serde_json::to_vec(&credentials).expect("credentials always serialize");
    let again: Credentials = serde_json::from_slice(&json).expect("re-encoded credentials decode");
    assert_eq!(again, credentials);

    check_username(&credentials.username);
    check_password(&credentials.password);
});

/// The body as `T` if it parses, after checking that it survives a round trip.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
{
    let parsed: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_vec(&parsed).expect("a parsed body serializes");
    let again: T = serde_json::from_slice(&json).expect("a re-encoded body decodes");
    assert!(again == parsed, "the round trip changed the body");
    Some(parsed)
}

fn check_username(raw: &str) {
    let normalized = raw.trim().to_lowercase();
    match domain::username(raw) {
        Ok(id) => {
            assert_eq!(id.as_str(), normalized);
            assert!(limits::is_valid_username(id.as_str()), "{id:?}");
            assert_eq!(
                domain::username(id.as_str()),
                Ok(id.clone()),
                "not idempotent"
            );
            assert_eq!(
                domain::username(&raw.to_uppercase()),
                Ok(id.clone()),
                "{raw:?} and its upper case name different users"
            );
        }
        Err(error) => {
            assert_eq!(error, RuleError::InvalidUsername);
            assert!(!limits::is_valid_username(&normalized));
        }
    }
}

fn check_password(raw: &str) {
    let chars = raw.chars().count();
    assert_eq!(
        domain::password(raw).is_ok(),
        limits::PASSWORD_CHARS.contains(&chars),
        "{chars} characters"
    );
    assert_eq!(
        domain::password(raw).is_ok(),
        limits::is_valid_password(raw)
    );
}
