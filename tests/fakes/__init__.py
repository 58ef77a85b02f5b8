"""Real servers that stand in for outside services in tests (nothing here is a mock)."""
