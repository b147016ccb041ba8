DROP INDEX idx_mr_model_versions_path{{on:mr_model_versions}};
DROP INDEX idx_mr_models_uid{{on:mr_models}};
ALTER TABLE mr_models DROP COLUMN uid;
DROP INDEX idx_mr_model_versions_number{{on:mr_model_versions}};
ALTER TABLE mr_model_versions DROP COLUMN version_number;
