-- Tags of a model itself (Model.tags), beside the tags of its versions, and an index for
-- searches by a version's creation time (`created_at > '2026-11-01'`).
CREATE TABLE mr_registered_model_tags (
    id {{id_pk}},
    model_id {{id_ref}} NOT NULL,
    tag_key {{name}} NOT NULL,
    tag_value {{tag_value}},
    FOREIGN KEY (model_id) REFERENCES mr_models(id) ON DELETE CASCADE,
    UNIQUE (model_id, tag_key)
){{table_options}};

CREATE INDEX idx_mr_registered_model_tags_key_value ON mr_registered_model_tags(tag_key, tag_value);
CREATE INDEX idx_mr_model_versions_created_at ON mr_model_versions(created_at);
