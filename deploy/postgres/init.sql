-- The stack's PostgreSQL holds two databases: medner (the store: predictions, reviews) and
-- mlflow (the tracking server's runs and registry). Run once, when the volume is new.
CREATE DATABASE mlflow OWNER medner;
