-- Hourly traffic for charts, per server and per client per server. An hour's rows sit
-- together (the hour leads the client key): every traffic round updates one small, contiguous
-- part of the table, and pruning removes whole hours from the front.

CREATE TABLE server_traffic_hourly (
    server_id INTEGER NOT NULL,
    hour_ms INTEGER NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, hour_ms)
) WITHOUT ROWID;

CREATE TABLE client_traffic_hourly (
    hour_ms INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0,
    down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_ms, server_id, email)
) WITHOUT ROWID;
CREATE INDEX idx_client_traffic_hourly_email ON client_traffic_hourly (email, hour_ms);

-- Usage of many clients at once (list pages) without reading every server's rows.
CREATE INDEX idx_client_traffic_email ON client_traffic (email);
