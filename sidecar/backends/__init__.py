"""Storage and job engines; today one: SQLite (``backends/sqlite``)."""
