"""Pure functions: text normalization and hashing, validators, canvas commands."""
