use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A user's id: the username, lower case (the seed's `"userId": "alice"`).
    UserId
);
string_id!(
    /// A room's id: a UUID made by the server. Kept as text so that any string a client
    /// sends decodes; the server answers `room_not_found` for one it never made.
    RoomId
);
string_id!(
    /// A stored message's id, a UUID made by the server.
    MessageId
);
string_id!(
    /// An id the client makes for each message it sends, so that a retry is stored once.
    ClientMsgId
);
string_id!(
    /// An invite link's code (`/i/<code>`): 128 random bits from the OS, URL-safe base64,
    /// made by the server.
    InviteCode
);

/// A session token as it travels: printed by `{:?}` as `SessionToken(***)`, so that no log
/// line holds one (whoever has it is signed in as its user).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

impl From<String> for SessionToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for SessionToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}
