"""Extensions created without an app and initialised in the factory (no work at import time).

The PostgreSQL pool and the Redis client are built per app by `app.container.build_container`,
from plain settings, so tests pass their own through the same door."""

from __future__ import annotations

from flasgger import Swagger
from flask_socketio import SocketIO

socketio = SocketIO()

SWAGGER_TEMPLATE = {
    "info": {
        "title": "Pizarra API",
        "description": (
            "Backend of the Pizarra live lessons. Real-time lessons run over Socket.IO "
            "; this is the HTTP side. Errors always have the shape "
            '`{"error": {"code", "message", "retry_after"?}}`.'
        ),
        "version": "1.0.0",
    },
    "securityDefinitions": {
        "bearerAuth": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "Supabase access token: `Bearer <jwt>`",
        }
    },
}
SWAGGER_CONFIG = {
    "headers": [],
    "specs": [{"endpoint": "apispec_1", "route": "/apispec_1.json"}],
    "static_url_path": "/flasgger_static",
    "swagger_ui": True,
    "specs_route": "/apidocs/",
}


def create_swagger() -> Swagger:
    from app.api.openapi import ERROR_RESPONSES, ErrorEnvelope, definitions, query_parameters
    from app.models.account import DevSignIn, DevToken, MeResponse, ProfileUpdate
    from app.models.answer import AnswerDocument
    from app.models.ask import AskRequest, AskResult, FeedbackIn, FeedbackResult
    from app.models.questions import (
        AttemptIn,
        AttemptResult,
        QuestionFilters,
        QuestionOut,
        QuestionPage,
    )
    from app.models.study import (
        HistoryQuery,
        SessionHistory,
        SessionStart,
        StudySessionOut,
        SubjectStats,
    )

    template = {
        **SWAGGER_TEMPLATE,
        "definitions": definitions(
            [
                ErrorEnvelope,
                MeResponse,
                ProfileUpdate,
                DevSignIn,
                DevToken,
                AnswerDocument,
                QuestionOut,
                QuestionPage,
                AttemptIn,
                AttemptResult,
                SessionStart,
                StudySessionOut,
                SessionHistory,
                SubjectStats,
                AskRequest,
                AskResult,
                FeedbackIn,
                FeedbackResult,
            ]
        ),
        "responses": ERROR_RESPONSES,
        "parameters": query_parameters([QuestionFilters, HistoryQuery]),
    }
    return Swagger(template=template, config=SWAGGER_CONFIG, merge=True)
