DROP TABLE mr_model_tags;
DROP TABLE mr_model_versions;
DROP TABLE mr_models;
