-- Adopting a database created by hand from the seed document's SQL (SQLite, where that SQL
-- runs as written): add what 001 has beyond it and start each model's version counter at its
-- highest existing version, so numbers are not reused. The runner then records 001.
ALTER TABLE mr_models ADD COLUMN last_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mr_model_versions ADD COLUMN checksum {{checksum}};
UPDATE mr_models SET last_version = COALESCE(
    (SELECT MAX(CAST(mv.version AS {{int}})) FROM mr_model_versions mv
     WHERE mv.model_id = mr_models.id), 0);
