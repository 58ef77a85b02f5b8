"""Media files: their real type from their bytes, and the content-addressed cache."""
