"""pause_explanation / resume_explanation (thin: the streaming service holds the position)."""

from __future__ import annotations

from flask import current_app
from flask_socketio import SocketIO, emit
from pydantic import BaseModel, ConfigDict, Field

from app.controllers.validation import parse_model
from app.models.ask import FeedbackIn
from app.socket_events import handles
from app.socket_events.connection import current_socket


class PauseIn(BaseModel):
    """The seed's payload; the server keeps the exact position itself, so these are advisory."""

    model_config = ConfigDict(extra="ignore")

    current_step: int | None = Field(default=None, ge=0, le=1_000)
    position_in_step: int | None = Field(default=None, ge=0, le=1_000_000)


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FeedbackEventIn(BaseModel):
    """`submit_feedback` after a lesson (the seed's feedback request)."""

    model_config = ConfigDict(extra="forbid")

    rating: int | None = Field(default=None, ge=1, le=5)
    understood: bool | None = None
    seen_in_exam: bool | None = None


class StepFeedbackIn(BaseModel):
    """`step_feedback`: "no entendí" (understood false, the default) on one step of the lesson,
    during it or after; `understood: true` takes it back."""

    model_config = ConfigDict(extra="forbid", strict=True)

    step_number: int = Field(ge=1, le=100)
    understood: bool = False


def register_playback_handlers(socketio: SocketIO) -> None:
    @handles(socketio, "pause_explanation")
    def on_pause(data=None):
        socket = current_socket()
        parse_model(PauseIn, data if data is not None else {})
        current_app.extensions["pizarra"].streaming.pause(socket.session_id)

    @handles(socketio, "resume_explanation")
    def on_resume(data=None):
        socket = current_socket()
        parse_model(ResumeIn, data if data is not None else {})
        current_app.extensions["pizarra"].streaming.resume(socket.session_id)

    @handles(socketio, "stop_explanation")
    def on_stop(data=None):
        socket = current_socket()
        parse_model(ResumeIn, data if data is not None else {})
        current_app.extensions["pizarra"].streaming.stop(socket.session_id)

    @handles(socketio, "submit_feedback")
    def on_feedback(data=None):
        socket = current_socket()
        body = parse_model(FeedbackEventIn, data)
        container = current_app.extensions["pizarra"]
        lesson = container.streaming.lesson_of(socket.session_id)
        result = container.feedback.give(
            user_id=socket.user_id,
            answer_id=lesson["answer_id"],
            feedback=FeedbackIn(
                rating=body.rating,
                understood=body.understood,
                seen_in_exam=body.seen_in_exam,
                interaction_id=lesson["interaction_id"],
            ),
        )
        emit("feedback_received", result.model_dump(mode="json"))

    @handles(socketio, "step_feedback")
    def on_step_feedback(data=None):
        socket = current_socket()
        body = parse_model(StepFeedbackIn, data)
        container = current_app.extensions["pizarra"]
        lesson = container.streaming.lesson_of(socket.session_id, current=True)
        container.feedback.give_on_step(
            user_id=socket.user_id,
            answer_id=lesson["answer_id"],
            interaction_id=lesson["interaction_id"],
            step_number=body.step_number,
            understood=body.understood,
        )
        emit(
            "step_feedback_received",
            {
                "explanation_id": lesson["explanation_id"],
                "step_number": body.step_number,
                "understood": body.understood,
            },
        )
