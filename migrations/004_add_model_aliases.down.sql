DROP TABLE mr_model_aliases;
