-- Edits, deletions and replies (issue 18). A room's log is its messages and the changes to
-- them, numbered by the one counter rooms.last_seq: an edit or a deletion takes the room's
-- next seq like a message does (under the room row's lock), so delivery, gap filling and
-- catch-up carry them unchanged.
--
-- The message row holds its current state: an edit replaces body (the generated
-- search_vector of 0004 follows) and sets edited_at; a deletion empties body (so search no
-- longer finds it and no text is kept) and sets deleted_at.

ALTER TABLE messages
    ADD COLUMN edited_at BIGINT,
    ADD COLUMN deleted_at BIGINT,
    -- The message_id of the message of the same room that this one answers.
    ADD COLUMN reply_to TEXT COLLATE "C";

CREATE TABLE message_changes (
    room_id    TEXT COLLATE "C" NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL CHECK (seq >= 1),
    message_id TEXT COLLATE "C" NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('edit', 'delete')),
    -- The new text of an edit; NULL for a deletion.
    body       TEXT,
    at         BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq)
);
