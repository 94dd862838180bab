-- Membership can be taken back (issue 16): statuses left, removed and banned, and the
-- reason a user or an admin gave. SQLite cannot widen a CHECK in place, so the table is
-- rebuilt with its rows.

CREATE TABLE memberships_v2 (
    room_id      TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN
                     ('pending', 'approved', 'rejected', 'left', 'removed', 'banned')),
    is_admin     INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    -- When the user first joined or asked to join; kept when the row is updated.
    requested_at INTEGER NOT NULL,
    -- When the status last changed (a rejection's time starts the re-knock cooldown).
    updated_at   INTEGER NOT NULL,
    -- A request's message to the admins, or why an admin rejected, removed or banned.
    reason       TEXT,
    PRIMARY KEY (room_id, user_id)
);

INSERT INTO memberships_v2 (room_id, user_id, status, is_admin, requested_at, updated_at)
    SELECT room_id, user_id, status, is_admin, requested_at, updated_at FROM memberships;

DROP TABLE memberships;
ALTER TABLE memberships_v2 RENAME TO memberships;
CREATE INDEX memberships_user_id ON memberships (user_id);
