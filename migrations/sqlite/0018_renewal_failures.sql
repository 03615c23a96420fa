-- Why the controller last refused to renew a server's certificate (rate limit, a bad
-- request), kept until a renewal succeeds, so the dashboard can say it in those words.
CREATE TABLE certificate_renewal_failures (
    server_id INTEGER PRIMARY KEY,
    message TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);

-- Failed tasks are looked up by operation per server, newest first.
CREATE INDEX idx_server_tasks_outcome ON server_tasks(server_id, operation, status, seq);
