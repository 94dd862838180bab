-- Membership can be taken back (issue 16): statuses left, removed and banned, and the
-- reason a user or an admin gave.

ALTER TABLE memberships DROP CONSTRAINT memberships_status_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_status_check CHECK (status IN
    ('pending', 'approved', 'rejected', 'left', 'removed', 'banned'));
-- A request's message to the admins, or why an admin rejected, removed or banned.
ALTER TABLE memberships ADD COLUMN reason TEXT;
