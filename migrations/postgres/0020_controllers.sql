-- Several controllers on one database (DESIGN §14).
--
-- The CA certificate and key and the agent gateway's key, which every controller of a fleet
-- must share: agents pin the CA, install lines pin the gateway key, updates are signed with
-- the CA key. Before, they were files in one controller's data directory.
CREATE TABLE trust_material (
    name TEXT PRIMARY KEY,
    pem TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Each running controller, renewing `seen_at` every few seconds: its lease. A controller whose
-- lease ran out is gone, and so are its agents' sessions.
CREATE TABLE controllers (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    gateway_url TEXT NOT NULL,
    hop_url TEXT NOT NULL,
    panel_url TEXT NOT NULL,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    -- 1 while it holds the leader's lock and runs the periodic jobs.
    leads INTEGER NOT NULL DEFAULT 0
);

-- Which controller holds the server's agent session (while online).
ALTER TABLE servers ADD COLUMN held_by TEXT;

-- Failed logins and the blocks they led to, per client address (an IPv6 client by its /64)
-- and user name, so a pair blocked on one controller is blocked on all of them.
CREATE TABLE login_failures (
    address TEXT NOT NULL,
    username TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_pair ON login_failures (address, username, at);
CREATE TABLE login_blocks (
    address TEXT NOT NULL,
    username TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (address, username)
);
