-- What a copy must carry for "latest" and for a model's identity to survive it (issue 17):
--  * mr_model_versions.version_number: the number of `version` as an integer, computed by the
--    database itself (a generated column), so that it is right also in rows written by a
--    process opened before this migration, which does not know the column. "Latest" is the
--    highest number; the (model_id, version_number) index walks to it on every engine.
--    PostgreSQL stores it (it has no virtual columns before 18: adding it rewrites the table
--    once, seconds per million versions); MySQL, MariaDB and SQLite compute it when read
--    (adding it changes the table's definition only) and keep it in the index.
--  * mr_models.uid: a model's identity across renames and copies, made with the model and
--    carried by a copy. NULL for models created before this migration (or by a process
--    opened before it): their identity is derived from their row (sqltransfer.model_uid), so
--    this migration rewrites no row. Unique: no two models claim one identity.
--  * an index on mr_model_versions.storage_path: which versions point at a file, so that a
--    delete never removes a file another version references and a copy never makes a second
--    model point at one (MySQL indexes the first 255 characters of the path).
ALTER TABLE mr_model_versions ADD COLUMN version_number {{version_number}};
CREATE INDEX idx_mr_model_versions_number ON mr_model_versions(model_id, version_number);
ALTER TABLE mr_models ADD COLUMN uid {{uid}};
CREATE UNIQUE INDEX idx_mr_models_uid ON mr_models(uid);
CREATE INDEX idx_mr_model_versions_path ON mr_model_versions({{path_key}});
