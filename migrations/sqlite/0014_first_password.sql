-- 1 while an account still has the password generated at first start: the panel and the
-- API tell the operator to change it until they do. Any password change clears it.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;
