"""The Redis engine: the same ports as ``backends/sqlite``, shared by any number of
sidecar processes (``IGBRIDGE_BACKEND=redis://host:port/db``)."""
