DROP TABLE mr_model_metrics;
