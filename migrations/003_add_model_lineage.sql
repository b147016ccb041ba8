-- The seed document's "future" model relationships: which versions a version was derived
-- from. An edge disappears with either of its versions.
CREATE TABLE mr_model_lineage (
    child_version_id {{id_ref}} NOT NULL,
    parent_version_id {{id_ref}} NOT NULL,
    PRIMARY KEY (child_version_id, parent_version_id),
    FOREIGN KEY (child_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    FOREIGN KEY (parent_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE
){{table_options}};

CREATE INDEX idx_mr_model_lineage_parent ON mr_model_lineage(parent_version_id);
