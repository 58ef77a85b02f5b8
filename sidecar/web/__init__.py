"""The HTTP side: app factory, auth, schemas, SSE framing and thin route modules."""
