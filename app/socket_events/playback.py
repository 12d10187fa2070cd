"""pause_explanation / resume_explanation (thin: the streaming service holds the position)."""

from __future__ import annotations

from flask import current_app
from flask_socketio import SocketIO
from pydantic import BaseModel, ConfigDict, Field

from app.controllers.validation import parse_model
from app.socket_events.connection import current_socket


class PauseIn(BaseModel):
    """The seed's payload; the server keeps the exact position itself, so these are advisory."""

    model_config = ConfigDict(extra="ignore")

    current_step: int | None = Field(default=None, ge=0, le=1_000)
    position_in_step: int | None = Field(default=None, ge=0, le=1_000_000)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")


def register_playback_handlers(socketio: SocketIO) -> None:
    @socketio.on("pause_explanation")
    def on_pause(data=None):
        socket = current_socket()
        parse_model(PauseIn, data if data is not None else {})
        current_app.extensions["pizarra"].streaming.pause(socket.session_id)

    @socketio.on("resume_explanation")
    def on_resume(data=None):
        socket = current_socket()
        parse_model(ResumeIn, data if data is not None else {})
        container = current_app.extensions["pizarra"]
        container.streaming.resume(
            socket.session_id, answer_for=container.questions_pipeline.find_answer
        )
