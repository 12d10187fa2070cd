"""voice_start, voice_chunk, voice_complete, voice_confirm, voice_cancel (thin: parse, call the
voice service, emit)."""

from __future__ import annotations

from flask import current_app
from flask_socketio import SocketIO, emit

from app.controllers.validation import parse_model
from app.errors import InvalidInput
from app.models.voice import (
    VoiceCancelIn,
    VoiceChunkIn,
    VoiceCompleteIn,
    VoiceConfirmIn,
    VoiceStartIn,
)
from app.services.voice_service import VoiceService
from app.socket_events import handles
from app.socket_events.connection import current_socket
from app.socket_events.questions import waiting_phrases


def _voice() -> VoiceService:
    return current_app.extensions["pizarra"].voice


def register_voice_handlers(socketio: SocketIO) -> None:
    @handles(socketio, "voice_start")
    def on_voice_start(data=None):
        socket = current_socket()
        body = parse_model(VoiceStartIn, data if data is not None else {})
        if body.session_id is not None and body.session_id != socket.session_id:
            raise InvalidInput(
                "Esa sesión no es la de esta conexión.", details={"reason": "wrong_session"}
            )
        started = _voice().start(socket.session_id)
        emit("voice_recording_started", started.model_dump())

    @handles(socketio, "voice_chunk")
    def on_voice_chunk(data=None):
        socket = current_socket()
        body = parse_model(VoiceChunkIn, data)
        received = _voice().add_chunk(
            socket.session_id,
            index=body.index,
            audio_data=body.audio_data,
            recording_id=body.recording_id,
        )
        return received.model_dump()  # the acknowledgement, for a client that asks for one

    @handles(socketio, "voice_complete")
    def on_voice_complete(data=None):
        socket = current_socket(fresh_token=True)  # a transcription here is paid for
        body = parse_model(VoiceCompleteIn, data)
        result = _voice().complete(socket.principal, socket.session_id, body)
        if result is not None:  # (None: cancelled while it was transcribed)
            emit("voice_transcription_result", result.model_dump())

    @handles(socketio, "voice_confirm")
    def on_voice_confirm(data=None):
        socket = current_socket(fresh_token=True)
        body = parse_model(VoiceConfirmIn, data)
        _voice().confirm(
            socket.principal,
            socket.session_id,
            transcription=body.transcription,
            waiting=waiting_phrases(socket),
        )

    @handles(socketio, "voice_cancel")
    def on_voice_cancel(data=None):
        socket = current_socket()
        parse_model(VoiceCancelIn, data if data is not None else {})
        resumed = _voice().cancel(socket.session_id)
        emit("voice_cancelled", {"lesson_resumed": resumed})
