"""Sources turn an Instagram account or export into normalized ``Post`` values."""
