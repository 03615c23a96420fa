-- Addresses of the host that its agent reports reachable from the internet (a JSON array,
-- IPv4 first): where share links point when the operator set no public address.
ALTER TABLE servers ADD COLUMN reported_addresses TEXT NOT NULL DEFAULT '[]';

-- Task errors were stored as `code: message` beside their code, so they read twice; keep
-- the message alone.
UPDATE server_tasks
SET error_message = substr(error_message, length(error_code) + 3)
WHERE error_code IS NOT NULL
  AND error_message IS NOT NULL
  AND substr(error_message, 1, length(error_code) + 2) = error_code || ': ';
