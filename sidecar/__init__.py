"""igbridge sidecar: Instagram → WordPress imports with durable live progress."""

__version__ = "0.1.0"
