-- Knock's PostgreSQL schema: the SQLite schema (migrations/sqlite/0001_initial.sql) with
-- PostgreSQL types. Times are integers exactly as the caller gives them.
--
-- Ids compare byte-wise (COLLATE "C"), as SQLite's default BINARY collation does, so
-- orderings by id are the same on both engines and do not depend on the server locale.

CREATE TABLE users (
    user_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- the username, lower case
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Sessions are kept by the hash of their token only.
CREATE TABLE sessions (
    token_hash TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE rooms (
    room_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    room_name     TEXT   NOT NULL,
    admin_user_id TEXT COLLATE "C" NOT NULL REFERENCES users (user_id),
    created_at    BIGINT NOT NULL,
    -- The newest message's seq; the next message takes last_seq + 1 (gapless from 1).
    -- Writers take it with UPDATE ... RETURNING, whose row lock orders them per room.
    last_seq      BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE TABLE memberships (
    room_id      TEXT COLLATE "C" NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    is_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the user first joined or asked to join; kept when the row is updated.
    requested_at BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX memberships_user_id ON memberships (user_id);

CREATE TABLE messages (
    room_id       TEXT COLLATE "C" NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL CHECK (seq >= 1),
    message_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (user_id),
    body          TEXT   NOT NULL,
    timestamp     BIGINT NOT NULL,
    client_msg_id TEXT COLLATE "C",
    PRIMARY KEY (room_id, seq)
);

-- A retried send (same user, same clientMsgId) is stored once, across rooms and nodes.
CREATE UNIQUE INDEX messages_user_client_msg_id
    ON messages (user_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
