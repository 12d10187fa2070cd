"""Every HTTP request has an id: the caller's `X-Request-ID` (a load balancer's) when it is a
plain token, a new one otherwise; it names the request's log lines and is sent back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from app.utils.logs import bind

_GIVEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def register_request_ids(app: Flask) -> None:
    @app.before_request
    def _name_request() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _GIVEN.match(given) else uuid.uuid4().hex
        # (A connection's next request must not inherit this one's student.)
        bind(request_id=g.request_id, session_id=None, user_id=None)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response
