"""JSON as the lesson path stores and sends it: UTF-8 text as is, no spaces. One encoder made
once (json.dumps with options builds a new one per call, a measurable cost at thousands of
lesson events a second)."""

from __future__ import annotations

import json

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
