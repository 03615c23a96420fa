-- Panel settings (key → string value, as in 3x-ui) and all-time counters that survive
-- traffic resets.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE client_traffic ADD COLUMN all_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inbound_traffic ADD COLUMN all_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN security TEXT NOT NULL DEFAULT '';
