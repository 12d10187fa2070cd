"""Pydantic models: the answer document, session and voice state, event payloads."""
