-- Invite links an admin controls (issue 18): links with a label, an expiry and a use
-- limit, revoked by marking (so that a pending request still names the link it came by),
-- and rooms that take knocks by invite link only.

ALTER TABLE rooms ADD COLUMN invite_only BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE invites (
    code       TEXT    NOT NULL PRIMARY KEY,
    room_id    TEXT    NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    label      TEXT,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT,
    max_uses   BIGINT  CHECK (max_uses IS NULL OR max_uses >= 1),
    uses       BIGINT  NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at BIGINT
);

CREATE INDEX invites_room_id ON invites (room_id, created_at);

-- The invite link a request came by; cleared by every later change of the membership.
ALTER TABLE memberships ADD COLUMN invite_code TEXT;
