-- Invite links an admin controls (issue 18): links with a label, an expiry and a use
-- limit, revoked by marking (so that a pending request still names the link it came by),
-- and rooms that take knocks by invite link only.

ALTER TABLE rooms ADD COLUMN invite_only INTEGER NOT NULL DEFAULT 0 CHECK (invite_only IN (0, 1));

CREATE TABLE invites (
    code       TEXT    NOT NULL PRIMARY KEY,
    room_id    TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    label      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    max_uses   INTEGER CHECK (max_uses IS NULL OR max_uses >= 1),
    uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at INTEGER
);

CREATE INDEX invites_room_id ON invites (room_id, created_at);

-- The invite link a request came by; cleared by every later change of the membership.
ALTER TABLE memberships ADD COLUMN invite_code TEXT;
