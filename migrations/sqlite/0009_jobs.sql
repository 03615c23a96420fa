-- Accounting and limits jobs: why the limits job switched a client or an inbound off (so a
-- traffic reset re-enables only what a quota switched off, never what an admin did), when
-- an address was first seen in its current run of activity (IP limits keep the earliest),
-- and the addresses currently refused to clients over their IP limit.

ALTER TABLE clients ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE inbounds ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE client_ips ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;
UPDATE client_ips SET first_seen = last_seen;

CREATE TABLE client_ip_refusals (
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    refused_at INTEGER NOT NULL,
    PRIMARY KEY (email, ip)
);
