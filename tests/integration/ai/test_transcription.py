"""Transcribing recordings with the real `openai` SDK, over HTTP, against the fake OpenAI server:
the multipart upload it receives, the confidence each kind of model reports, and the same retry
and breaker rules as the answers the AI writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import AiUnavailable, InvalidInput
from app.repositories.generation_repo import GenerationRepository
from app.services.ai_service import AIService, build_client
from app.utils.audio import probe
from tests.fake_openai import Reply, error_reply

VOICE = Path(__file__).parents[2] / "fixtures" / "voice"
QUESTION = "¿Cuál es la derivada de x al cuadrado?"


def ai_service(container, fake, model: str, **kwargs) -> AIService:
    return AIService(
        client=build_client(api_key="sk-test", base_url=fake.base_url, timeout=5, max_retries=1),
        model="gpt-test-mini",
        max_tokens=2000,
        breaker=GenerationRepository(container.redis),
        transcribe_model=model,
        **kwargs,
    )


def transcribe(service: AIService, name: str):
    audio = (VOICE / name).read_bytes()
    info = probe(audio)
    return service.transcribe(audio, filename=info.filename, mime_type=info.mime_type)


@pytest.mark.parametrize(
    ("name", "filename", "content_type"),
    [
        ("pregunta.webm", "audio.webm", "audio/webm"),
        ("pregunta.ogg", "audio.ogg", "audio/ogg"),
        ("pregunta.wav", "audio.wav", "audio/wav"),
        ("pregunta.mp3", "audio.mp3", "audio/mpeg"),
    ],
)
def test_the_recording_is_uploaded_as_it_was_recorded_in_spanish(
    container, openai_fake, name, filename, content_type
):
    audio = (VOICE / name).read_bytes()
    openai_fake.hears(audio, QUESTION, confidence=0.97)
    heard = transcribe(ai_service(container, openai_fake, "gpt-4o-mini-transcribe"), name)
    assert heard.text == QUESTION and heard.confidence == pytest.approx(0.97, abs=0.001)
    [call] = openai_fake.calls("/v1/audio/transcriptions")
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert call.files["file"] == (filename, content_type, audio)  # every byte, named by its format
    assert call.body["model"] == "gpt-4o-mini-transcribe"
    assert call.body["language"] == "es"
    assert call.body["response_format"] == "json" and call.body["include"] == ["logprobs"]


def test_whisper_reports_its_confidence_by_segments(container, openai_fake):
    openai_fake.hears((VOICE / "pregunta.ogg").read_bytes(), QUESTION, confidence=0.6)
    heard = transcribe(ai_service(container, openai_fake, "whisper-1"), "pregunta.ogg")
    assert heard.text == QUESTION and heard.confidence == pytest.approx(0.6, abs=0.001)
    [call] = openai_fake.calls("/v1/audio/transcriptions")
    assert call.body["response_format"] == "verbose_json" and "include" not in call.body


def test_a_model_without_log_probabilities_gives_no_confidence(container, openai_fake):
    openai_fake.hears((VOICE / "pregunta.ogg").read_bytes(), QUESTION)
    heard = transcribe(ai_service(container, openai_fake, "gpt-transcribe"), "pregunta.ogg")
    assert heard.text == QUESTION and heard.confidence is None
    [call] = openai_fake.calls("/v1/audio/transcriptions")
    assert call.body["response_format"] == "json" and "include" not in call.body


def test_audio_the_provider_cannot_decode_is_the_recordings_fault_not_the_providers(
    container, openai_fake
):
    service = ai_service(container, openai_fake, "gpt-transcribe", breaker_threshold=2)
    for _ in range(3):  # the fake has not heard this audio: 400, as OpenAI for a bad file
        with pytest.raises(InvalidInput) as refused:
            transcribe(service, "pregunta.ogg")
        assert refused.value.details == {"reason": "unreadable_audio"}
    assert not service.breaker.breaker_open()
    assert len(openai_fake.calls("/v1/audio/transcriptions")) == 3  # a 400 is not retried


def test_a_failing_provider_is_retried_then_counted_by_the_breaker(container, openai_fake):
    service = ai_service(container, openai_fake, "gpt-transcribe", breaker_threshold=2)
    openai_fake.hears((VOICE / "pregunta.ogg").read_bytes(), QUESTION)
    openai_fake.script_transcriptions(error_reply(500, "server_error"), Reply(status=200))
    # One retry (OPENAI_MAX_RETRIES=1 here) and the second attempt is heard.
    assert transcribe(service, "pregunta.ogg").text == QUESTION
    openai_fake.script_transcriptions(*[error_reply(503, "overloaded")] * 4)
    for _ in range(2):
        with pytest.raises(AiUnavailable) as failed:
            transcribe(service, "pregunta.ogg")
        assert failed.value.details == {"reason": "provider"}
    assert service.breaker.breaker_open()
    calls = len(openai_fake.calls("/v1/audio/transcriptions"))
    with pytest.raises(AiUnavailable):
        transcribe(service, "pregunta.ogg")
    assert len(openai_fake.calls("/v1/audio/transcriptions")) == calls  # the breaker held it


def test_a_provider_too_slow_is_given_up_on(container, openai_fake):
    service = AIService(
        client=build_client(api_key="sk-test", base_url=openai_fake.base_url, timeout=0.5,
                            max_retries=0),
        model="gpt-test-mini",
        max_tokens=2000,
        breaker=GenerationRepository(container.redis),
    )  # fmt: skip
    openai_fake.script_transcriptions(Reply(status=200, content=QUESTION, delay=2))
    with pytest.raises(AiUnavailable):
        transcribe(service, "pregunta.ogg")
