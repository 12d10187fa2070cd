"""Questions asked by voice, over real Socket.IO clients and a real server process, with real
Spanish speech (espeak-ng, converted as browsers record it) transcribed by the real `openai` SDK
against the fake OpenAI server: recording, transcription, confirmation, the lesson it asks."""

from __future__ import annotations

import base64
import io
import json
import signal
import time
import wave
from pathlib import Path

import pytest

from tests.conftest import reset_database
from tests.fake_openai import Reply, document_reply, error_reply, running_fake_openai
from tests.integration.sockets.test_connection import Student, connected_students
from tests.live_server import running_server

FIXTURES = Path(__file__).parents[2] / "fixtures"
VOICE = FIXTURES / "voice"
RECORDINGS = json.loads((VOICE / "recordings.json").read_text())
LESSONS = json.loads((FIXTURES / "answers.json").read_text())  # ¿Qué es una derivada? first
SPOKEN = "¿Cuál es la derivada de x al cuadrado?"  # what the fake hears in the recordings
SPOKEN_LESSON = {
    "question": SPOKEN,
    "subject": "calculo",
    "generated_by": "manual",
    "steps": [
        {
            "title": "La regla de la potencia",
            "content_type": "formula",
            "content": "Bajamos el exponente y le restamos uno: $\\frac{d}{dx}x^2 = 2x$.",
            "duration": 15,
        },
        {
            "title": "Resumen",
            "content_type": "summary",
            "content": "La derivada de $x^2$ es $2x$: la pendiente crece con $x$.",
            "duration": 10,
        },
    ],
}
FOLLOW_UP = {
    "refusal": None,
    "subject": "calculo",
    "total_steps": 1,
    "steps": [
        {
            "title": "La derivada de x al cuadrado",
            "content_type": "text",
            "content": "Con la regla de la potencia: $\\frac{d}{dx}x^2 = 2x$.",
            "duration": 10,
            "canvas": [],
        }
    ],
}
MAX_AUDIO_BYTES = 200_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake():
    with running_fake_openai() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory, fake):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("voice"),
        STREAM_CHUNK_INTERVAL_MS="15",
        STREAM_CHUNK_CHARS="10",
        TRUSTED_PROXIES="127.0.0.1",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_TRANSCRIBE_MODEL="gpt-4o-mini-transcribe",
        OPENAI_MAX_RETRIES="1",
        OPENAI_TIMEOUT="5",
        VOICE_MAX_AUDIO_BYTES=str(MAX_AUDIO_BYTES),
        RATE_LIMIT_QUESTIONS="4",
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh(fake, server):
    fake.reset()
    reset_database(server.container)
    server.container.answers.import_answers([*LESSONS, SPOKEN_LESSON])
    yield


@pytest.fixture
def student(server):
    yield from connected_students(server)


def recording(name: str) -> bytes:
    return (VOICE / name).read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def named(student: Student, event: str) -> list:
    return [data for name, data in student.events if name == event]


def next_event(student: Student, event: str, timeout: float = 10):
    """The next `event` from now on (earlier ones are forgotten)."""
    student.events.clear()
    return student.wait_for(event, timeout)


def refusal(student: Student, event: str, data, timeout: float = 10) -> dict:
    """Send an event expecting an `error`; its payload."""
    student.events.clear()
    student.client.emit(event, data)
    return student.wait_for("error", timeout)


def send_in_pieces(student: Student, audio: bytes, pieces: int) -> list[dict]:
    """The recording in `pieces` voice_chunks, as MediaRecorder hands them out; the acks."""
    size = -(-len(audio) // pieces)
    return [
        student.client.call(
            "voice_chunk", {"index": n, "audio_data": b64(audio[n * size : (n + 1) * size])}
        )
        for n in range(pieces)
    ]


def start(student: Student) -> dict:
    student.events.clear()
    student.client.emit("voice_start", {})
    return student.wait_for("voice_recording_started")


def transcribed(student: Student, **payload) -> dict:
    student.events.clear()
    student.client.emit("voice_complete", payload)
    return student.wait_for("voice_transcription_result", timeout=15)


def texts_by_step(student: Student) -> dict[int, str]:
    steps: dict[int, str] = {}
    for data in sorted(named(student, "content_chunk"), key=lambda d: d["seq"]):
        steps[data["step_number"]] = steps.get(data["step_number"], "") + data["chunk"]
    return steps


def credit_rows(server, action_type: str) -> list[dict]:
    with server.container.db.connection() as conn:
        return conn.execute(
            "SELECT credits_used, credits_before, credits_after, details FROM credit_usage "
            "WHERE action_type = %s ORDER BY created_at",
            (action_type,),
        ).fetchall()


def latest_interaction(server) -> dict:
    with server.container.db.connection() as conn:
        return conn.execute(
            "SELECT question_text, question_type, completed FROM interactions "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()


@pytest.mark.parametrize(
    ("name", "pieces"),
    [
        ("pregunta.webm", 5),  # Chrome, recording with a timeslice
        ("pregunta.ogg", 0),  # Firefox, all at once in voice_complete
        ("pregunta.wav", 3),  # a WAV recorder: too big for one message
        ("pregunta.mp3", 0),
    ],
)
def test_a_spoken_question_is_transcribed_confirmed_and_taught(server, fake, student, name, pieces):
    audio = recording(name)
    fake.hears(audio, SPOKEN, confidence=0.97)
    ana = student()
    started = start(ana)
    assert started == {
        "session_id": started["session_id"],
        "recording_id": started["recording_id"],
        "max_duration_ms": 60_000,
        "max_audio_bytes": MAX_AUDIO_BYTES,
        "max_chunk_bytes": 74_850,  # what fits in one message (SOCKET_MAX_MESSAGE_BYTES)
        "lesson_paused": False,
    }
    if pieces:
        acks = send_in_pieces(ana, audio, pieces)
        assert [a["chunks_received"] for a in acks] == list(range(1, pieces + 1))
        assert acks[-1]["bytes_received"] == len(audio)
        result = transcribed(ana, duration=2900)
    else:
        result = transcribed(ana, audio_data=b64(audio), duration=2900)
    seconds = RECORDINGS[name]["seconds"]
    assert result == {
        "transcription": SPOKEN,
        "confidence": 0.97,
        "requires_confirmation": False,  # sure enough: the client may confirm at once
        "source": "server",
        "duration_ms": pytest.approx(seconds * 1000, abs=60),
    }
    # The provider got the recording exactly as recorded, named by the format of its bytes.
    [call] = fake.calls("/v1/audio/transcriptions")
    container = name.rsplit(".", 1)[1]
    assert call.files["file"][0] == f"audio.{container}" and call.files["file"][2] == audio
    assert (call.body["model"], call.body["language"]) == ("gpt-4o-mini-transcribe", "es")
    ana.events.clear()
    ana.client.emit("voice_confirm", {"transcription": result["transcription"]})
    ana.wait_for("feedback_request", timeout=20)
    assert texts_by_step(ana) == {n + 1: s["content"] for n, s in enumerate(SPOKEN_LESSON["steps"])}
    assert latest_interaction(server) == {
        "question_text": SPOKEN,
        "question_type": "voice",
        "completed": True,
    }
    # The transcription is metered as a voice use (free by default), the question charged.
    [voice] = credit_rows(server, "voice")
    assert voice["credits_used"] == 0 and voice["credits_before"] == voice["credits_after"] == 100
    assert voice["details"]["format"] == container and voice["details"]["bytes"] == len(audio)
    assert voice["details"]["duration_ms"] == pytest.approx(seconds * 1000, abs=60)
    assert voice["details"]["model"] == "gpt-4o-mini-transcribe"
    [question] = credit_rows(server, "ai_question")
    assert question["credits_after"] == 99
    # The recording is gone: confirming again asks nothing more.
    assert refusal(ana, "voice_confirm", {"transcription": SPOKEN})["details"] == {
        "reason": "no_transcription"
    }


def test_pieces_sent_without_waiting_are_put_together_in_order(server, fake, student):
    # As MediaRecorder's timeslice hands them out: emitted back to back, the completion right
    # behind the last one; the server handles each on a greenlet of its own.
    audio = recording("pregunta.wav")
    fake.hears(audio, SPOKEN)
    ana = student()
    start(ana)
    size = -(-len(audio) // 12)
    for n in range(12):
        ana.client.emit(
            "voice_chunk", {"index": n, "audio_data": b64(audio[n * size : (n + 1) * size])}
        )
    ana.client.emit("voice_complete", {"duration": 2887})
    assert ana.wait_for("voice_transcription_result", timeout=15)["transcription"] == SPOKEN
    assert not named(ana, "error")
    assert fake.calls("/v1/audio/transcriptions")[0].files["file"][2] == audio


def test_the_browsers_own_transcript_is_checked_echoed_and_can_be_edited(server, fake, student):
    ana = student()
    start(ana)
    result = transcribed(ana, transcript="  ¿qué es una   derivada ", confidence=0.62)
    assert result == {
        "transcription": "¿qué es una derivada",
        "confidence": 0.62,
        "requires_confirmation": True,  # not sure enough: the student confirms
        "source": "browser",
        "duration_ms": None,
    }
    # Sent again (a blip), the same result; nothing is transcribed by the server.
    assert transcribed(ana, transcript="otra cosa") == result
    assert fake.calls("/v1/audio/transcriptions") == [] and credit_rows(server, "voice") == []
    ana.events.clear()
    ana.client.emit("voice_confirm", {"transcription": "¿Qué es una derivada?"})  # corrected
    ana.wait_for("feedback_request", timeout=20)
    assert latest_interaction(server)["question_text"] == "¿Qué es una derivada?"
    assert latest_interaction(server)["question_type"] == "voice"
    start(ana)
    sure = transcribed(ana, transcript="¿Qué es una derivada?", confidence=0.95)
    assert sure["requires_confirmation"] is False
    start(ana)
    assert transcribed(ana, transcript="¿Qué es una derivada?")["requires_confirmation"] is True


def test_recording_pauses_the_lesson_and_cancelling_resumes_it_at_the_same_character(
    server, student
):
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(named(ana, "content_chunk")) >= 3, timeout=10)
    ana.client.emit(
        "voice_start", {"session_id": ana.wait_for("connection_established")["session_id"]}
    )
    paused = ana.wait_for("explanation_paused")
    assert ana.wait_for("voice_recording_started")["lesson_paused"] is True
    shown = len(named(ana, "content_chunk"))
    time.sleep(0.3)  # twenty chunk intervals: nothing more is sent while the student speaks
    assert len(named(ana, "content_chunk")) == shown
    ana.client.emit("voice_cancel", {})
    assert ana.wait_for("voice_cancelled") == {"lesson_resumed": True}
    resumed = ana.wait_for("explanation_resumed")
    assert (resumed["step_number"], resumed["position"]) == (
        paused["step_number"],
        paused["position"],
    )
    ana.wait_for("feedback_request", timeout=20)
    assert texts_by_step(ana) == {n + 1: s["content"] for n, s in enumerate(LESSONS[0]["steps"])}
    assert latest_interaction(server)["question_type"] == "text"


def test_a_question_spoken_during_a_lesson_interrupts_it_and_the_lesson_waits(
    server, fake, student
):
    fake.answer("al cuadrado", document_reply(FOLLOW_UP))  # the short answer about the step
    audio = recording("pregunta.webm")
    fake.hears(audio, SPOKEN, confidence=0.8)
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    lesson = ana.wait_for("explanation_start")
    ana.wait_until(lambda: len(named(ana, "content_chunk")) >= 3, timeout=10)
    ana.client.emit("voice_start", {})
    paused = ana.wait_for("explanation_paused")
    send_in_pieces(ana, audio, 2)
    result = transcribed(ana)  # the pieces are the whole recording
    assert result["requires_confirmation"] is True and result["confidence"] == 0.8
    ana.client.emit("voice_confirm", {"transcription": result["transcription"]})
    offer = ana.wait_for("continue_offer", timeout=20)
    follow_up = next(d for d in named(ana, "explanation_start") if d["kind"] == "interruption")
    assert follow_up["parent_explanation_id"] == lesson["explanation_id"]
    assert texts_by_step(ana) == {1: FOLLOW_UP["steps"][0]["content"]}
    assert (offer["step_number"], offer["position"]) == (paused["step_number"], paused["position"])
    # The doubt was about the step on the student's screen.
    [doubt] = fake.calls()
    assert LESSONS[0]["steps"][paused["step_number"] - 1]["title"] in doubt.user_message
    ana.events.clear()
    ana.client.emit("resume_explanation", {})
    ana.wait_for("feedback_request", timeout=20)
    whole = LESSONS[0]["steps"][paused["step_number"] - 1]["content"]
    assert texts_by_step(ana)[paused["step_number"]] == whole[paused["position"] :]


def test_bad_recordings_get_clear_errors_and_leave_the_session_as_it_was(server, fake, student):
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_until(lambda: len(named(ana, "content_chunk")) >= 2, timeout=10)

    def reason(event: str, data) -> str:
        error = refusal(ana, event, data)
        assert error["code"] == "INVALID_INPUT" and error["message"]
        return error["details"]["reason"]

    # Another session's recording, or none at all.
    assert reason("voice_start", {"session_id": "00000000-0000-0000-0000-000000000000"}) == (
        "wrong_session"
    )
    assert refusal(ana, "voice_start", {"session_id": ["x"]})["code"] == "INVALID_INPUT"
    assert reason("voice_complete", {"audio_data": b64(recording("pregunta.ogg"))}) == (
        "no_recording"
    )
    assert reason("voice_chunk", {"index": 0, "audio_data": "QUJD"}) == "no_recording"
    start(ana)
    send_in_pieces(ana, recording("larga.webm"), 3)  # 68 s of speech
    assert reason("voice_complete", {}) == "too_long"
    assert start(ana)["lesson_paused"] is True  # recorded again, the lesson still paused
    assert reason("voice_complete", {"audio_data": "", "duration": 61_000}) == "too_long"
    assert reason("voice_complete", {"audio_data": ""}) == "empty_audio"
    webm = recording("pregunta.webm")
    header = webm[: webm.index(bytes.fromhex("1f43b675"))]  # before the first cluster: no audio
    assert reason("voice_complete", {"audio_data": b64(header)}) == "empty_audio"
    not_audio = b64(b"Esto no es audio, es un texto cualquiera." * 20)
    assert reason("voice_complete", {"audio_data": not_audio}) == "not_audio"
    assert reason("voice_complete", {"audio_data": "¡no es base64!"}) == "invalid_base64"
    assert reason("voice_chunk", {"index": 0, "audio_data": "%%%"}) == "invalid_base64"
    assert reason("voice_complete", {"audio_data": b64(bytes(4) + b"ftypM4A " + bytes(64))}) == (
        "unsupported_format"
    )
    # Pieces: in order, and no more than the limit.
    assert reason("voice_chunk", {"index": 1, "audio_data": "QUJD"}) == "missing_chunk"
    assert refusal(ana, "voice_chunk", {"index": 3, "audio_data": "QUJD"})["details"] == {
        "reason": "missing_chunk",
        "expected_index": 0,
    }
    piece = b64(bytes(70_000))  # three are over the 200 KB this server takes
    assert ana.client.call("voice_chunk", {"index": 0, "audio_data": piece})["chunks_received"] == 1
    assert ana.client.call("voice_chunk", {"index": 1, "audio_data": piece})["chunks_received"] == 2
    error = refusal(ana, "voice_chunk", {"index": 2, "audio_data": piece})
    assert error["details"] == {"reason": "too_large", "max_audio_bytes": MAX_AUDIO_BYTES}
    # Malformed payloads.
    for event, data in [
        ("voice_complete", {"transcript": "hola", "audio_data": "QUJD"}),
        ("voice_complete", {"confidence": 7}),
        ("voice_complete", "no es un objeto"),
        ("voice_chunk", {"index": "0", "audio_data": "QUJD"}),
        ("voice_chunk", {"index": -1, "audio_data": "QUJD"}),
        ("voice_confirm", {"transcription": "   "}),
        ("voice_confirm", {"transcription": "¿?"}),
        ("voice_confirm", {}),
    ]:
        assert refusal(ana, event, data)["code"] == "INVALID_INPUT"
    assert reason("voice_confirm", {"transcription": "¿Qué es?"}) == "no_transcription"
    # No provider was paid for any of it, the student still connected, the lesson still
    # paused where the recording stopped it: cancelling resumes it.
    assert fake.calls("/v1/audio/transcriptions") == []
    assert ana.client.connected
    ana.events.clear()
    ana.client.emit("voice_cancel")
    assert ana.wait_for("voice_cancelled") == {"lesson_resumed": True}
    ana.wait_for("feedback_request", timeout=20)


def test_pieces_of_a_replaced_recording_are_not_mixed_into_the_new_one(server, fake, student):
    ana = student()
    old = start(ana)["recording_id"]
    ana.client.call("voice_chunk", {"index": 0, "audio_data": "QUJD", "recording_id": old})
    new = start(ana)["recording_id"]
    late = {"index": 0, "audio_data": "QUJD", "recording_id": old}
    assert refusal(ana, "voice_chunk", late)["details"] == {"reason": "replaced"}
    assert refusal(ana, "voice_complete", {"recording_id": old})["details"] == {
        "reason": "replaced"
    }
    ack = ana.client.call("voice_chunk", {"index": 0, "audio_data": "QUJD", "recording_id": new})
    assert ack == {"index": 0, "chunks_received": 1, "bytes_received": 3}


def test_a_recording_cancelled_while_it_is_transcribed_shows_nothing_more(server, fake, student):
    audio = recording("pregunta.ogg")
    fake.hears(audio, SPOKEN)
    fake.script_transcriptions(Reply(status=200, delay=1.5))  # a slow provider
    ana = student()
    start(ana)
    ana.events.clear()
    ana.client.emit("voice_complete", {"audio_data": b64(audio)})
    time.sleep(0.5)
    ana.client.emit("voice_cancel", {})
    assert ana.wait_for("voice_cancelled") == {"lesson_resumed": False}
    time.sleep(2)
    assert [name for name, _ in ana.events] == ["voice_cancelled"]
    assert len(credit_rows(server, "voice")) == 1  # the provider was paid: metered all the same


def test_an_expired_recording_is_refused(server, fake, redis_client, student):
    ana = student()
    session_id = start(ana)["session_id"]
    redis_client.pexpire(f"voice_state:{session_id}", 1)  # five minutes later
    time.sleep(0.05)
    error = refusal(ana, "voice_complete", {"transcript": "¿Qué es una derivada?"})
    assert error["details"]["reason"] == "no_recording" and "5 minutos" in error["message"]


def test_a_failing_provider_keeps_the_recording_to_send_again(server, fake, student):
    audio = recording("pregunta.ogg")
    fake.hears(audio, SPOKEN)
    fake.script_transcriptions(error_reply(500, "server_error"), error_reply(502, "bad_gateway"))
    ana = student()
    start(ana)
    send_in_pieces(ana, audio, 1)
    error = refusal(ana, "voice_complete", {}, timeout=20)
    assert error["code"] == "AI_UNAVAILABLE" and "Escribe tu pregunta" in error["message"]
    assert len(fake.calls("/v1/audio/transcriptions")) == 2  # retried once
    assert credit_rows(server, "voice") == []  # nothing transcribed, nothing metered
    assert transcribed(ana)["transcription"] == SPOKEN  # the same pieces, sent again


def silent_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(bytes(int(seconds * 16_000) * 2))
    return out.getvalue()


def test_silence_is_heard_as_nothing_and_the_student_records_again(server, fake, student):
    silence, speech = silent_wav(1.5), recording("pregunta.ogg")
    fake.hears(silence, "")
    fake.hears(speech, SPOKEN)
    ana = student()
    start(ana)
    send_in_pieces(ana, silence, 2)
    error = refusal(ana, "voice_complete", {}, timeout=20)
    assert error["details"]["reason"] == "no_speech" and "micrófono" in error["message"]
    # The same recording session takes a new recording, without voice_start.
    assert transcribed(ana, audio_data=b64(speech))["transcription"] == SPOKEN
    assert [row["credits_used"] for row in credit_rows(server, "voice")] == [0, 0]


def test_audio_the_provider_cannot_decode_is_refused_as_such(server, fake, student):
    ana = student()
    start(ana)  # the fake has not heard this recording: a 400, as OpenAI for a broken file
    error = refusal(ana, "voice_complete", {"audio_data": b64(recording("pregunta.mp3"))})
    assert error["code"] == "INVALID_INPUT" and error["details"] == {"reason": "unreadable_audio"}
    assert len(fake.calls("/v1/audio/transcriptions")) == 1  # not retried


def test_server_transcriptions_are_rate_limited_per_student(server, fake, student):
    audio = recording("pregunta.ogg")
    fake.hears(audio, SPOKEN)
    ana = student()
    for _ in range(4):
        start(ana)
        transcribed(ana, audio_data=b64(audio))
    start(ana)
    error = refusal(ana, "voice_complete", {"audio_data": b64(audio)})
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and 0 < error["retry_after"] <= 60
    assert len(fake.calls("/v1/audio/transcriptions")) == 4
    # The browser's own transcripts cost nothing and are not limited.
    assert transcribed(ana, transcript="¿Qué es una derivada?")["source"] == "browser"


def test_a_student_who_cannot_ask_is_not_transcribed_for(server, fake, student):
    audio = recording("pregunta.ogg")
    fake.hears(audio, SPOKEN)
    ana = student()
    with server.container.db.transaction() as conn:
        conn.execute("UPDATE profiles SET credits_remaining = 0")
    start(ana)
    error = refusal(ana, "voice_complete", {"audio_data": b64(audio)})
    assert error["code"] == "INSUFFICIENT_CREDITS"
    assert fake.calls("/v1/audio/transcriptions") == []


def test_a_recording_survives_its_server_process(pg_server_url, redis_url, tmp_path, fake):
    # Half the pieces go to a process that is then killed; the student reconnects to another
    # process of the deployment with their session, sends the rest and is transcribed there.
    audio = recording("pregunta.webm")
    fake.hears(audio, SPOKEN)
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_server(pg_server_url, redis_url, tmp_path / "a", **env) as first,
        running_server(
            pg_server_url, redis_url, tmp_path / "b", database_url=first.database_url, **env
        ) as second,
    ):
        token = first.container.dev_tokens.issue(email="viaje@example.com")
        ana = Student(first.url, "203.0.113.250")
        session_id = ana.connect(token)["session_id"]
        start(ana)
        half = len(audio) // 2
        ana.client.call("voice_chunk", {"index": 0, "audio_data": b64(audio[:half])})
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        ana.close()
        again = Student(second.url, "203.0.113.251")
        assert again.connect(token, session_id=session_id)["resumed"] is True
        ack = again.client.call("voice_chunk", {"index": 1, "audio_data": b64(audio[half:])})
        assert ack == {"index": 1, "chunks_received": 2, "bytes_received": len(audio)}
        assert transcribed(again)["transcription"] == SPOKEN
        again.close()


def test_a_student_records_in_one_tab_at_a_time(server, fake, student):
    # The same student in two tabs (two sessions): starting a recording in the second drops
    # the first one's, so one student never holds more than one recording's audio.
    audio = recording("pregunta.webm")
    fake.hears(audio, SPOKEN)
    first = student("dos.pestanas@example.com")
    start(first)
    first.client.call("voice_chunk", {"index": 0, "audio_data": b64(audio[:100])})
    token = server.container.dev_tokens.issue(email="dos.pestanas@example.com")
    second = Student(server.url, "203.0.113.249")
    second.connect(token)
    try:
        start(second)
        assert (
            refusal(first, "voice_chunk", {"index": 1, "audio_data": b64(audio[100:])})["details"][
                "reason"
            ]
            == "no_recording"
        )
        send_in_pieces(second, audio, 2)
        assert transcribed(second)["transcription"] == SPOKEN
    finally:
        second.close()


def test_recordings_open_at_once_are_bounded(pg_server_url, redis_url, redis_client, tmp_path):
    # Each open recording may hold VOICE_MAX_AUDIO_BYTES in Redis: past the deployment's bound
    # a student is told to type or come back shortly, and their lesson goes on untouched.
    redis_client.delete("voice_recordings")  # (recordings other tests left open)
    with running_server(pg_server_url, redis_url, tmp_path, VOICE_MAX_OPEN_RECORDINGS="2") as live:
        live.container.answers.import_answers(LESSONS)
        ana, bea, carla = (Student(live.url, "203.0.113.246") for _ in range(3))
        try:
            for one, name in ((ana, "ana"), (bea, "bea"), (carla, "carla")):
                one.connect(live.container.dev_tokens.issue(email=f"{name}.voz@example.com"))
            start(ana)
            start(bea)
            carla.client.emit("ask_question", {"question": LESSONS[0]["question"]})
            carla.wait_for("step_start", timeout=10)
            refused = refusal(carla, "voice_start", {})
            assert refused["code"] == "RATE_LIMIT_EXCEEDED" and refused["retry_after"] == 30
            assert "Escribe tu pregunta" in refused["message"]
            carla.wait_for("explanation_complete", timeout=30)
            assert not named(carla, "explanation_paused")
            ana.client.emit("voice_cancel", {})
            ana.wait_for("voice_cancelled")
            assert start(carla)["recording_id"]
        finally:
            for one in (ana, bea, carla):
                one.close()
