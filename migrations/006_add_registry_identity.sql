-- The registry's identity: one row, made with the schema. `registry_id` is a stable UUID
-- (database_stats().registry_id; the owner recorded in an artifact store's marker, the
-- origin a copied event names); `artifacts` is where the registry's files live, recorded
-- without credentials on first use, so that connect() finds them from any folder.
CREATE TABLE mr_registry (
    id INTEGER NOT NULL PRIMARY KEY,
    registry_id {{name}} NOT NULL,
    artifacts {{text}}
){{table_options}};

INSERT INTO mr_registry (id, registry_id) VALUES (1, {{new_uuid}}) {{if_absent:id}};
