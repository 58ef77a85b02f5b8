"""Talking to WordPress: the REST and /batch/v1 client."""
