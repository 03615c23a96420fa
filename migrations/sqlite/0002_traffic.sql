-- Traffic counters applied from agent journals, and the last applied journal sequence per
-- server (a batch at or below it is acknowledged and ignored).

CREATE TABLE traffic_journal (
    server_id INTEGER PRIMARY KEY,
    epoch TEXT NOT NULL DEFAULT '',
    last_seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE client_traffic (
    server_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    last_online INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, email)
);

CREATE TABLE inbound_traffic (
    server_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, tag)
);

CREATE TABLE outbound_traffic (
    server_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, tag)
);

CREATE TABLE client_ips (
    server_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (server_id, email, ip)
);
