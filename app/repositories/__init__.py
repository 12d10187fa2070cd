"""Repositories: the only modules with SQL or Redis key names. They never commit."""
