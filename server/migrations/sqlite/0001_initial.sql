-- Knock's SQLite schema. Times are integers exactly as the caller gives them.

CREATE TABLE users (
    user_id       TEXT    NOT NULL PRIMARY KEY, -- the username, lower case
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Sessions are kept by the hash of their token only.
CREATE TABLE sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE rooms (
    room_id       TEXT    NOT NULL PRIMARY KEY,
    room_name     TEXT    NOT NULL,
    admin_user_id TEXT    NOT NULL REFERENCES users (user_id),
    created_at    INTEGER NOT NULL,
    -- The newest message's seq; the next message takes last_seq + 1 (gapless from 1).
    last_seq      INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE TABLE memberships (
    room_id      TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    is_admin     INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    -- When the user first joined or asked to join; kept when the row is updated.
    requested_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX memberships_user_id ON memberships (user_id);

CREATE TABLE messages (
    room_id       TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    message_id    TEXT    NOT NULL UNIQUE,
    user_id       TEXT    NOT NULL REFERENCES users (user_id),
    body          TEXT    NOT NULL,
    timestamp     INTEGER NOT NULL,
    client_msg_id TEXT,
    PRIMARY KEY (room_id, seq)
);

-- A retried send (same user, same clientMsgId) is stored once.
CREATE UNIQUE INDEX messages_user_client_msg_id
    ON messages (user_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
