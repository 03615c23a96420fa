-- Two-factor login per admin: the active TOTP secret (NULL = off), a secret being set up and
-- not yet confirmed, and the last time step a code was accepted for, so no code works twice.
-- Sessions get an index for "revoke every session of this user".

ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE INDEX idx_sessions_user ON sessions(user_id);
