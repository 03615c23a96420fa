-- Hourly traffic for charts, per server and per client per server. An hour's rows sit
-- together (the hour leads the client key): every traffic round updates one small, contiguous
-- part of the table, and pruning removes whole hours from the front. A client's hours are
-- read by seeking each (hour, server) pair of the servers it has counters on, which costs
-- less than an index by email that would take 100,000 scattered inserts at every new hour.

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

-- Usage of many clients at once (list pages) without reading every server's rows.
CREATE INDEX idx_client_traffic_email ON client_traffic (email);
