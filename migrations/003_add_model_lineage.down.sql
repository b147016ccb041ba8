DROP TABLE mr_model_lineage;
