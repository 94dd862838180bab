-- Search (issue 19): a full-text index of messages, kept by triggers in the transaction
-- that writes the message.
--
-- An external-content FTS5 index names each message by its rowid, so the rowid must never
-- change: messages gets an explicit INTEGER PRIMARY KEY (VACUUM may renumber an implicit
-- rowid). The table is rebuilt with its rows and their rowids, which also number messages
-- in the order they were stored, the order of a search across rooms. (room_id, seq) stays
-- unique, as the index it was before.
--
-- room_key, one token per room ('r' and the room id in hex), is indexed beside the body so
-- that a search of some rooms is one index query, which does not walk the matches of
-- other rooms.

CREATE TABLE messages_v2 (
    id            INTEGER PRIMARY KEY,
    room_id       TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    message_id    TEXT    NOT NULL UNIQUE,
    user_id       TEXT    NOT NULL REFERENCES users (user_id),
    body          TEXT    NOT NULL,
    timestamp     INTEGER NOT NULL,
    client_msg_id TEXT,
    room_key      TEXT    GENERATED ALWAYS AS ('r' || hex(room_id)) VIRTUAL,
    UNIQUE (room_id, seq)
);

INSERT INTO messages_v2 (id, room_id, seq, message_id, user_id, body, timestamp, client_msg_id)
    SELECT rowid, room_id, seq, message_id, user_id, body, timestamp, client_msg_id
    FROM messages ORDER BY rowid;

DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;

-- A retried send (same user, same clientMsgId) is stored once.
CREATE UNIQUE INDEX messages_user_client_msg_id
    ON messages (user_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

-- Words are runs of letters and digits of any script; case and the diacritics of Latin
-- letters are folded away (remove_diacritics 2 also folds letters with several marks).
-- No per-row column sizes (columnsize=0): they only serve ranking, and results come newest
-- first.
CREATE VIRTUAL TABLE messages_search USING fts5 (
    body,
    room_key,
    content = 'messages',
    content_rowid = 'id',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO messages_search (messages_search) VALUES ('rebuild');

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, body, room_key)
        VALUES (new.id, new.body, new.room_key);
END;

-- Rows of a deleted room go through here too (ON DELETE CASCADE fires triggers).
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, room_key)
        VALUES ('delete', old.id, old.body, old.room_key);
END;

-- An edited message is found by its new text. Other columns (the author, when an account
-- is deleted) leave the index alone.
CREATE TRIGGER messages_search_update AFTER UPDATE OF body, room_id ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, room_key)
        VALUES ('delete', old.id, old.body, old.room_key);
    INSERT INTO messages_search (rowid, body, room_key)
        VALUES (new.id, new.body, new.room_key);
END;
