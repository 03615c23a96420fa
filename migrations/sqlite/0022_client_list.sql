-- The clients list pages, sorts and filters in SQL (100,000 clients): an index for each
-- column it sorts by that has none, with the id as tie-break so a page far in is a seek.
CREATE INDEX idx_clients_comment ON clients (comment, id);
CREATE INDEX idx_clients_enable ON clients (enable, id);
CREATE INDEX idx_clients_total ON clients (total_bytes, id);
CREATE INDEX idx_clients_expiry ON clients (expiry_time, id);
CREATE INDEX idx_clients_tg ON clients (tg_id);
