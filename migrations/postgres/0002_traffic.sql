-- Traffic counters applied from agent journals, and the last applied journal sequence per
-- server (a batch at or below it is acknowledged and ignored).

CREATE TABLE traffic_journal (
    server_id BIGINT PRIMARY KEY,
    epoch TEXT NOT NULL DEFAULT '',
    last_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE client_traffic (
    server_id BIGINT NOT NULL,
    email TEXT NOT NULL,
    up BIGINT NOT NULL DEFAULT 0,
    down BIGINT NOT NULL DEFAULT 0,
    last_online BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, email)
);

CREATE TABLE inbound_traffic (
    server_id BIGINT NOT NULL,
    tag TEXT NOT NULL,
    up BIGINT NOT NULL DEFAULT 0,
    down BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, tag)
);

CREATE TABLE outbound_traffic (
    server_id BIGINT NOT NULL,
    tag TEXT NOT NULL,
    up BIGINT NOT NULL DEFAULT 0,
    down BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, tag)
);

CREATE TABLE client_ips (
    server_id BIGINT NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (server_id, email, ip)
);
