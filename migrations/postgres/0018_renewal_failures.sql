-- Why the controller last refused to renew a server's certificate (rate limit, a bad
-- request), kept until a renewal succeeds, so the dashboard can say it in those words.
CREATE TABLE certificate_renewal_failures (
    server_id BIGINT PRIMARY KEY,
    message TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);

-- The dashboard reads recent failed and retrying tasks every few seconds, and for each the
-- later outcomes of its operation on its server.
CREATE INDEX idx_server_tasks_outcome ON server_tasks(server_id, operation, status, seq);
CREATE INDEX idx_server_tasks_recent ON server_tasks(status, updated_at);
