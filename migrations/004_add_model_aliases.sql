-- Named pointers per model ("champion" -> a version). An alias disappears with its version.
CREATE TABLE mr_model_aliases (
    id {{id_pk}},
    model_id {{id_ref}} NOT NULL,
    alias {{name}} NOT NULL,
    model_version_id {{id_ref}} NOT NULL,
    updated_at {{timestamp}} NOT NULL,
    FOREIGN KEY (model_id) REFERENCES mr_models(id) ON DELETE CASCADE,
    FOREIGN KEY (model_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    UNIQUE (model_id, alias)
){{table_options}};

CREATE INDEX idx_mr_model_aliases_version ON mr_model_aliases(model_version_id);
