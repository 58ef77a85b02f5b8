"""The Redis engine (``IGBRIDGE_BACKEND=redis://host:port/db``): several sidecar
processes share jobs, ledgers, the media index and saved sources through one Redis."""
