-- Runs once, when the PostgreSQL volume is first created: the bridge's own database.
CREATE DATABASE aqueduct;
