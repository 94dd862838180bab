-- Edits, deletions and replies (issue 18). A room's log is its messages and the changes to
-- them, numbered by the one counter rooms.last_seq: an edit or a deletion takes the room's
-- next seq like a message does, so delivery, gap filling and catch-up carry them unchanged.
--
-- The message row holds its current state: an edit replaces body (the FTS5 update trigger
-- of 0004 re-indexes it) and sets edited_at; a deletion empties body (so search no longer
-- finds it and no text is kept) and sets deleted_at.

ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
-- The message_id of the message of the same room that this one answers.
ALTER TABLE messages ADD COLUMN reply_to TEXT;

CREATE TABLE message_changes (
    room_id    TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    message_id TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('edit', 'delete')),
    -- The new text of an edit; NULL for a deletion.
    body       TEXT,
    at         INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
);
