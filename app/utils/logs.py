"""Log lines operators can search: with LOG_FORMAT=json one JSON object per line, carrying the
ids of what it is about (the HTTP request, the student's session, the student), and never a
token: anything shaped like a JWT or a bearer credential is replaced before it is written."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)
USER_ID: ContextVar[str | None] = ContextVar("user_id", default=None)
_IDS = {"request_id": REQUEST_ID, "session_id": SESSION_ID, "user_id": USER_ID}

_SECRETS = re.compile(
    r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*"  # a JWT (an access token)
    r"|(?i:bearer\s+)[\w.~+/=-]{8,}"  # an Authorization header's credential
    r"|sk-[\w-]{8,}"  # an OpenAI key
)


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


def bind(**ids: str | None) -> None:
    """Name what the lines logged from here on (in this greenlet) are about."""
    for key, value in ids.items():
        _IDS[key].set(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, var in _IDS.items():
            value = var.get()
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, tokens redacted all the same."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
