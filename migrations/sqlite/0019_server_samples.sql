-- A server's CPU and memory, one row a minute (the average of the heartbeats of that minute),
-- for the charts of its page. The fleet's ended minutes are written together in one
-- statement, never a write per heartbeat; rows older than a few days are pruned (the
-- history job), so the table stays a fixed size per server.

CREATE TABLE server_samples (
    server_id INTEGER NOT NULL,
    minute_ms INTEGER NOT NULL,
    cpu_tenths INTEGER NOT NULL,
    mem_used INTEGER NOT NULL,
    mem_total INTEGER NOT NULL,
    PRIMARY KEY (server_id, minute_ms)
) WITHOUT ROWID;
