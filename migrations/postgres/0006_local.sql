-- Single-server mode: the server the controller runs itself, through its built-in agent.
-- At most one row is local.

ALTER TABLE servers ADD COLUMN is_local BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX idx_servers_one_local ON servers(is_local) WHERE is_local = 1;
