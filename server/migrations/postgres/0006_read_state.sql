-- Read state and mentions (issue 18): migrations/sqlite/0006_read_state.sql with
-- PostgreSQL types.
--
-- A member's read marker is kept on their membership: every seq up to read_seq has been
-- read. It never moves back; approval sets it to the room's newest seq.
ALTER TABLE memberships ADD COLUMN read_seq BIGINT NOT NULL DEFAULT 0 CHECK (read_seq >= 0);

-- The members a message mentions, space-separated in order of first appearance (NULL when
-- none), read back with the message; and the same as rows, for counting a user's mentions
-- after their marker by index (user, room, seq).
ALTER TABLE messages ADD COLUMN mentions TEXT;

CREATE TABLE message_mentions (
    room_id TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, room_id, seq),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- A message's mentions go with it (a deleted room's messages too).
CREATE INDEX message_mentions_message ON message_mentions (room_id, seq);

-- An admin's pending count: the room's pending requests, without walking its members.
CREATE INDEX memberships_pending ON memberships (room_id) WHERE status = 'pending';
