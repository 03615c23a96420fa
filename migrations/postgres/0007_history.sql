-- Hourly traffic for charts, per server and per client per server. An hour's rows sit
-- together (the hour leads the client key): every traffic round updates one small, contiguous
-- part of the table, and pruning removes whole hours from the front. A client's hours are
-- read by seeking each (hour, server) pair of the servers it has counters on, which costs
-- less than an index by email that would take 100,000 scattered inserts at every new hour.
--
-- Counters and the current hour's rows are updated every round: room on each page lets
-- PostgreSQL put the new row version beside the old one without touching the indexes (a HOT
-- update), which more than halves the database's work per round (measured). The price is
-- space: pages stay about half full, past hours' pages included.

CREATE TABLE server_traffic_hourly (
    server_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    up BIGINT NOT NULL DEFAULT 0,
    down BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, hour_ms)
) WITH (fillfactor = 50);

CREATE TABLE client_traffic_hourly (
    hour_ms BIGINT NOT NULL,
    server_id BIGINT NOT NULL,
    email TEXT NOT NULL,
    up BIGINT NOT NULL DEFAULT 0,
    down BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_ms, server_id, email)
) WITH (fillfactor = 50);

ALTER TABLE client_traffic SET (fillfactor = 50);

-- Usage of many clients at once (list pages) without reading every server's rows.
CREATE INDEX idx_client_traffic_email ON client_traffic (email);
