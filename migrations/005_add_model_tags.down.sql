DROP INDEX idx_mr_model_versions_created_at{{on:mr_model_versions}};
DROP TABLE mr_registered_model_tags;
