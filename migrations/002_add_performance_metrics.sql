-- The seed document's "future" performance metrics, for any named metric rather than two
-- fixed columns: one row per (version, metric). The (metric_name, metric_value) index serves
-- range queries and best_version().
CREATE TABLE mr_model_metrics (
    id {{id_pk}},
    model_version_id {{id_ref}} NOT NULL,
    metric_name {{name}} NOT NULL,
    metric_value {{double}} NOT NULL,
    FOREIGN KEY (model_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    UNIQUE (model_version_id, metric_name)
){{table_options}};

CREATE INDEX idx_mr_model_metrics_name_value ON mr_model_metrics(metric_name, metric_value);
