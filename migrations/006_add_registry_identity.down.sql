DROP TABLE mr_registry;
