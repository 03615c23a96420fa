-- Named core templates (3x-ui's `xrayTemplateConfig` shape), each used by the servers that
-- point at it instead of the fleet template (the setting `xrayTemplateConfig`).
CREATE TABLE core_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- NULL: the server runs the fleet template.
ALTER TABLE servers ADD COLUMN core_template_id INTEGER REFERENCES core_templates(id);
CREATE INDEX idx_servers_core_template ON servers(core_template_id);
