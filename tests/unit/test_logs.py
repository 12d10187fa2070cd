"""Log lines: JSON with the ids of what they are about, and never a token."""

from __future__ import annotations

import json
import logging
import sys

from app.utils.logs import JsonFormatter, TextFormatter, bind, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ"


def record(message: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("pizarra.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_json_line_names_the_request_session_and_student():
    bind(request_id="req-1", session_id="ses-1", user_id="usr-1")
    try:
        line = json.loads(JsonFormatter().format(record("lesson %s stopped", "L1")))
    finally:
        bind(request_id=None, session_id=None, user_id=None)
    assert line["message"] == "lesson L1 stopped" and line["level"] == "WARNING"
    assert (line["request_id"], line["session_id"], line["user_id"]) == ("req-1", "ses-1", "usr-1")
    assert line["logger"] == "pizarra.test" and line["time"].endswith("+00:00")


def test_ids_not_bound_are_left_out():
    line = json.loads(JsonFormatter().format(record("ready")))
    assert "request_id" not in line and "user_id" not in line


def test_tokens_and_keys_never_reach_a_line():
    message = f"token {JWT} header Bearer abcdefghijklmnop key sk-proj-abcdefghijkl"
    assert redact(message) == "token [redacted] header [redacted] key [redacted]"
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        failure = sys.exc_info()
    line = json.loads(JsonFormatter().format(record("failed with %s", JWT, exc_info=failure)))
    assert JWT not in json.dumps(line) and "[redacted]" in line["exception"]
    text = TextFormatter("%(message)s").format(record("Authorization: Bearer %s", JWT))
    assert JWT not in text


def test_spanish_text_stays_readable():
    assert "pregunta" in JsonFormatter().format(record("¿Qué pregunta?"))
    assert "¿Qué" in JsonFormatter().format(record("¿Qué pregunta?"))
