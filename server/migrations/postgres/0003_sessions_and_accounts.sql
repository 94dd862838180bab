-- Sessions that can be listed, revoked one by one and expire (issue 17): a public id that
-- is not the token, when each was last used, and the browser it was made in. Accounts
-- can be deleted: their messages stay, attributed to the placeholder user '~deleted'
-- (no username may contain '~'; its hash '!' matches no password).

ALTER TABLE sessions ADD COLUMN session_id TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
UPDATE sessions SET session_id = md5(random()::text || token_hash), last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN session_id SET NOT NULL;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;
CREATE UNIQUE INDEX sessions_session_id ON sessions (session_id);
CREATE INDEX sessions_last_used_at ON sessions (last_used_at);

INSERT INTO users (user_id, password_hash, created_at) VALUES ('~deleted', '!', 0)
    ON CONFLICT DO NOTHING;
