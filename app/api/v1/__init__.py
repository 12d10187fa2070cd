"""Version 1 of the HTTP API, mounted at /api/v1. Resource blueprints register here."""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")


class QuestionRefConverter(BaseConverter):
    """A question id or code; never the word `ask`, which is POST /questions/ask."""

    regex = r"(?!ask(?![^/]))[^/]+"


def register_api(app: Flask) -> None:
    app.url_map.converters["question_ref"] = QuestionRefConverter
    from app.api.health_routes import bp as health_bp
    from app.api.v1 import (  # noqa: F401 - each registers its routes on api_v1
        answer_routes,
        auth_routes,
        question_routes,
        session_routes,
    )
    from app.api.web_routes import bp as web_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(api_v1)
    app.register_blueprint(web_bp)
