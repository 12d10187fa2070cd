"""Pydantic models: the answer document, session and voice state, event payloads."""

# "Contains a visible character", written so that Python's str.strip, the Rust regex engine of
# pydantic and ECMAScript (the OpenAPI document's readers) agree on what whitespace is.
VISIBLE = r"[^\s\x1c-\x1f\x85]"
