"""Route modules: each translates requests into calls of plain async code."""
