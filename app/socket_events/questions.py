"""ask_question and interrupt (thin: validate, run the question pipeline, start the lesson
stream)."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_socketio import SocketIO, emit
from pydantic import BaseModel, ConfigDict, Field

from app.controllers.validation import parse_model
from app.models.ask import HAS_LETTER_OR_DIGIT, MAX_CONTEXT_BYTES, AskRequest
from app.socket_events import handles
from app.socket_events.connection import LocalSocket, current_socket
from app.utils.phrases import ESTIMATED_MS, pick_phrase


class AskQuestionIn(BaseModel):
    """The seed's `ask_question {question, context?}`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=20_000, pattern=HAS_LETTER_OR_DIGIT)
    context: dict | None = Field(default=None, description=f"under {MAX_CONTEXT_BYTES} bytes")


def register_question_handlers(socketio: SocketIO) -> None:
    @handles(socketio, "ask_question")
    def on_ask_question(data=None):
        ask(data, follow_up=False)

    @handles(socketio, "interrupt")
    def on_interrupt(data=None):
        ask(data, follow_up=True)


def ask(data: object, *, follow_up: bool) -> None:
    """A question streamed as a lesson. Asked while a lesson streams (or, as an `interrupt`,
    while one is paused), its answer interrupts that lesson, which waits at its character."""
    socket = current_socket(fresh_token=True)
    body = parse_model(AskQuestionIn, data)
    request = parse_model(AskRequest, body.model_dump(exclude_none=True))
    current_app.extensions["pizarra"].lessons.ask(
        socket.principal,
        request,
        session_id=socket.session_id,
        follow_up=follow_up,
        waiting=waiting_phrases(socket),
    )


def waiting_phrases(socket: LocalSocket) -> Callable[[str], None]:
    """What shows the student a waiting phrase of a category (never the same twice running)."""

    def waiting(category: str) -> None:
        phrase = pick_phrase(category, socket.last_phrase)
        socket.last_phrase = phrase
        emit(
            "waiting_phrase",
            {"phrase": phrase, "category": category, "estimated_time": ESTIMATED_MS[category]},
        )

    return waiting
