"""CORS for the HTTP API: only the origins in CORS_ORIGINS may call it from a browser.
(Socket.IO checks the same list through `cors_allowed_origins`.)"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

ALLOWED_HEADERS = "Authorization, Content-Type"
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"


def register_cors(app: Flask, origins: list[str]) -> None:
    allowed = set(origins)

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        response.vary.add("Origin")
        if origin and (origin in allowed or "*" in allowed):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response.headers["Access-Control-Max-Age"] = "600"
        return response


def socket_origin_check(origins: list[str]) -> Callable[[str | None, dict], bool]:
    """Socket.IO's origin rule: the configured origins and this server's own (the page it
    serves), nothing else. Clients that send no Origin (not browsers) are not refused here:
    they still need a valid token."""
    allowed = set(origins)

    def check(origin: str | None, environ: dict) -> bool:
        if origin is None or "*" in allowed or origin in allowed:
            return True
        host = environ.get("HTTP_HOST")
        return host is not None and origin == f"{environ.get('wsgi.url_scheme', 'http')}://{host}"

    return check
