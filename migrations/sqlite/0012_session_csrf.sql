-- The CSRF token of a 3x-ui session, kept with the session as 3x-ui v3 keeps it, so a client
-- holding only the `3x-ui` cookie (the public SDKs) can send it back.
ALTER TABLE sessions ADD COLUMN csrf_token TEXT NOT NULL DEFAULT '';
