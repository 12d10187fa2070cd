"""HTTP API (blueprints are the controllers)."""
