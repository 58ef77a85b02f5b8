"""Exports uploaded in chunks through WordPress, kept in the data dir until imported."""
