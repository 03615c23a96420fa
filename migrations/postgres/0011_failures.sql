-- One inbound a server's core cannot take no longer blocks the rest: the agent applies the
-- state without it and says why, and the controller keeps what it was told until the agent
-- says otherwise. Beside it, what agents report that lets the controller refuse such an
-- inbound first: the core's flavour and the sockets other programs listen on (JSON), and
-- the last refusal of a whole state, so a server that does not apply is seen as failing.

ALTER TABLE servers ADD COLUMN core_flavour TEXT;
ALTER TABLE servers ADD COLUMN listening TEXT NOT NULL DEFAULT '[]';
ALTER TABLE servers ADD COLUMN apply_error TEXT;

CREATE TABLE inbound_failures (
    server_id BIGINT NOT NULL,
    tag TEXT NOT NULL,
    message TEXT NOT NULL,
    revision BIGINT NOT NULL,
    failed_at BIGINT NOT NULL,
    PRIMARY KEY (server_id, tag)
);
