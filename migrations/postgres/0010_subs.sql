-- Subscriptions: the address share links point at. Empty: the agent's reported host name,
-- else the Host of the subscription request.
ALTER TABLE servers ADD COLUMN public_address TEXT NOT NULL DEFAULT '';
