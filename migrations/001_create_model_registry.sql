-- The seed document's schema, made portable:
--  * ids are the dialect's auto-increment key; foreign keys use the same integer type;
--  * names, tag keys and values use a type that compares byte-exactly and sorts by code point
--    (COLLATE "C" on PostgreSQL, a binary NO PAD collation on MySQL, VARCHAR where MySQL
--    indexes the column);
--  * mr_models.last_version is the per-model counter that numbers versions without races;
--  * mr_model_versions.checksum holds "sha256:<hex>" of the stored file;
--  * sizes are BIGINT so that files over 2 GiB fit on PostgreSQL and MySQL.
CREATE TABLE mr_models (
    id {{id_pk}},
    name {{name}} NOT NULL UNIQUE,
    description {{text}},
    created_at {{timestamp}} NOT NULL,
    updated_at {{timestamp}} NOT NULL,
    last_version BIGINT NOT NULL DEFAULT 0
){{table_options}};

CREATE TABLE mr_model_versions (
    id {{id_pk}},
    model_id {{id_ref}} NOT NULL,
    version {{version}} NOT NULL,
    description {{text}},
    storage_path {{text}} NOT NULL,
    file_size_bytes BIGINT DEFAULT 0,
    checksum {{checksum}},
    created_at {{timestamp}} NOT NULL,
    FOREIGN KEY (model_id) REFERENCES mr_models(id) ON DELETE CASCADE,
    UNIQUE (model_id, version)
){{table_options}};

CREATE TABLE mr_model_tags (
    id {{id_pk}},
    model_version_id {{id_ref}} NOT NULL,
    tag_key {{name}} NOT NULL,
    tag_value {{tag_value}},
    FOREIGN KEY (model_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    UNIQUE (model_version_id, tag_key)
){{table_options}};

CREATE INDEX idx_mr_models_name ON mr_models(name);
CREATE INDEX idx_mr_model_versions_model_id ON mr_model_versions(model_id);
CREATE INDEX idx_mr_model_versions_version ON mr_model_versions(version);
CREATE INDEX idx_mr_model_tags_key ON mr_model_tags(tag_key);
CREATE INDEX idx_mr_model_tags_key_value ON mr_model_tags(tag_key, tag_value);
