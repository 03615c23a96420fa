-- Agent self-updates pushed over the channel: a rollout names a version (each server gets
-- the binary for its own architecture), goes canary first, then in batches, and pauses on
-- the first failure until an operator resumes or cancels it. Each server's row says where
-- it stands and, when it failed or rolled back, why in the agent's words.

CREATE TABLE agent_rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    -- running | paused | done | cancelled
    state TEXT NOT NULL,
    canary INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    -- Why it paused (or was cancelled).
    message TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX idx_agent_rollouts_state ON agent_rollouts(state);

CREATE TABLE agent_rollout_servers (
    rollout_id INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    -- Order within the rollout: the canaries come first.
    position INTEGER NOT NULL,
    -- pending | sending | waiting | updated | rolled_back | failed | skipped
    state TEXT NOT NULL,
    from_version TEXT,
    message TEXT,
    -- When its batch reached it (an offline server is skipped a while after).
    reached_at INTEGER,
    sent_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, server_id)
);
CREATE INDEX idx_agent_rollout_servers_server ON agent_rollout_servers(server_id, state);
