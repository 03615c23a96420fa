-- The fleet model: inbounds belong to a server; a client is one identity across the fleet,
-- attached to any number of inbounds on any number of servers.

CREATE TABLE inbounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id INTEGER NOT NULL,
    remark TEXT NOT NULL DEFAULT '',
    enable INTEGER NOT NULL DEFAULT 1,
    listen TEXT NOT NULL DEFAULT '',
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    stream_settings TEXT NOT NULL DEFAULT '{}',
    sniffing TEXT NOT NULL DEFAULT '{}',
    tag TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    expiry_time INTEGER NOT NULL DEFAULT 0,
    traffic_reset TEXT NOT NULL DEFAULT 'never',
    last_traffic_reset_time INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (server_id, tag)
);
CREATE INDEX idx_inbounds_server ON inbounds(server_id);

CREATE TABLE clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    sub_id TEXT NOT NULL,
    uuid TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL DEFAULT '',
    auth TEXT NOT NULL DEFAULT '',
    flow TEXT NOT NULL DEFAULT '',
    limit_ip INTEGER NOT NULL DEFAULT 0,
    total_bytes INTEGER NOT NULL DEFAULT 0,
    expiry_time INTEGER NOT NULL DEFAULT 0,
    enable INTEGER NOT NULL DEFAULT 1,
    tg_id INTEGER NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    reset_days INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX idx_clients_sub_id ON clients(sub_id);

CREATE TABLE client_inbounds (
    client_id INTEGER NOT NULL,
    inbound_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, inbound_id)
);
CREATE INDEX idx_client_inbounds_inbound ON client_inbounds(inbound_id);
