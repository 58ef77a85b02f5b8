"""The SQLite backend: the schema and every SQL statement of the sidecar."""
