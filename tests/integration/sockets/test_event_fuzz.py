"""Every Socket.IO event the server handles, fuzzed by hypothesis against a real server process:
any payload of any event, and any order of the lesson's events while a lesson streams.

After each example the server has answered the student with documented events only, or an
`error` with a documented code (never INTERNAL_ERROR), the student is still connected, the
server printed no traceback, and a bystander on the same server, streaming one lesson after
another the whole time, received each of them intact."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.utils.canvas_commands import prepare_steps
from tests.conftest import TEST_JWT_SECRET
from tests.fake_openai import document_reply
from tests.integration.sockets.test_connection import ADDRESSES, Student
from tests.integration.sockets.test_lessons import LESSON_EVENTS
from tests.live_server import running_server

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
LESSONS = json.loads(FIXTURE.read_text())
LESSON = LESSONS[0]  # ¿Qué es una derivada? (4 steps, drawings)
FOLLOW_UP = LESSONS[1]  # ¿Cómo resuelvo x^2 - 5x + 6 = 0? (2 steps)
CONTENT = {i + 1: s["content"] for i, s in enumerate(LESSON["steps"])}
DRAWINGS = [c for s in prepare_steps(LESSON["steps"]) for c in s["canvas"]]
INTERVAL_MS = 15
GENERATED = {
    "refusal": None,
    "subject": "algebra",
    "total_steps": 1,
    "steps": [{"title": "Idea", "content_type": "text", "content": "Una explicación breve.",
               "duration": 10, "canvas": []}],
}  # fmt: skip

CLIENT_EVENTS = (
    "ask_question",
    "interrupt",
    "pause_explanation",
    "resume_explanation",
    "stop_explanation",
    "submit_feedback",
    "step_feedback",
    "reauthenticate",
    "voice_start",
    "voice_chunk",
    "voice_complete",
    "voice_confirm",
    "voice_cancel",
)
SERVER_EVENTS = LESSON_EVENTS | {
    "connection_established",
    "reauthenticated",
    "waiting_phrase",
    "step_feedback_received",
    "feedback_received",
    "voice_recording_started",
    "voice_transcription_result",
    "voice_cancelled",
    "error",
}
ERROR_CODES = {  # ARCHITECTURE.md section 7, less INTERNAL_ERROR (the stores are up)
    "INVALID_INPUT",
    "UNAUTHORIZED",
    "RATE_LIMIT_EXCEEDED",
    "TOO_MANY_CONNECTIONS",
    "INSUFFICIENT_CREDITS",
    "DAILY_LIMIT_REACHED",
    "AI_UNAVAILABLE",
    "CONTENT_REFUSED",
    "NOT_FOUND",
}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PAYLOAD_EXAMPLES = int(os.environ.get("FUZZ_PAYLOAD_EXAMPLES", "24"))  # per event
ORDER_EXAMPLES = int(os.environ.get("FUZZ_ORDER_EXAMPLES", "36"))


# -- the server, its output and the bystander ------------------------------------------------
class ServerOutput:
    """The server process's output, read as it comes (so a full pipe never stalls it)."""

    def __init__(self, process):
        self.text = ""
        self.lock = threading.Lock()
        self.fd = process.stdout.fileno()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.text += data.decode("utf-8", "replace")

    def mark(self) -> int:
        with self.lock:
            return len(self.text)

    def since(self, mark: int) -> str:
        time.sleep(0.05)  # what was written just now
        with self.lock:
            return self.text[mark:]


def fund(server, email: str) -> str:
    token = server.container.dev_tokens.issue(email=email, ttl_seconds=7200)
    with server.container.db.transaction() as conn:
        conn.execute(
            "UPDATE profiles SET daily_limit = 100000, credits_remaining = 100000 WHERE email = %s",
            (email,),
        )
    return token


def texts_by_step(events) -> dict[int, str]:
    steps: dict[int, str] = {}
    for name, data in events:
        if name == "content_chunk":
            steps[data["step_number"]] = steps.get(data["step_number"], "") + data["chunk"]
    return steps


class Bystander:
    """A student asking the stored lesson again and again, checking every one arrives whole."""

    def __init__(self, server):
        self.student = Student(server.url, next(ADDRESSES))
        self.student.connect(fund(server, "bystander@example.com"))
        self.completed = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        student = self.student
        while not self.stopping.is_set():
            with student.arrived:
                student.events.clear()
            student.client.emit("ask_question", {"question": LESSON["question"]})
            if not student.wait_until(
                lambda: any(n in ("feedback_request", "error") for n, _ in student.events), 20
            ):
                self.failures.append(f"lesson {self.completed + 1} did not finish")
                return
            with student.arrived:
                events = list(student.events)
            problem = self._problem(events)
            if problem:
                self.failures.append(f"lesson {self.completed + 1}: {problem}: {events}")
                return
            self.completed += 1

    @staticmethod
    def _problem(events) -> str | None:
        if any(n in ("error", "session_ended") for n, _ in events):
            return "an error"
        events = [(n, d) for n, d in events if n in LESSON_EVENTS]  # (a waiting phrase first)
        names = [n for n, _ in events]
        if names[0] != "explanation_start" or names[-2:] != [
            "explanation_complete",
            "feedback_request",
        ]:
            return "not a whole lesson"
        if texts_by_step(events) != CONTENT:
            return "its text differs"
        if [d["command"] for n, d in events if n == "canvas_command"] != DRAWINGS:
            return "its drawings differ"
        if [d["step_number"] for n, d in events if n == "step_start"] != [1, 2, 3, 4]:
            return "its steps differ"
        return None

    def healthy(self) -> bool:
        return not self.failures and self.student.client.connected

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=25)
        self.student.close()


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory, fake_openai):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("event-fuzz"),
        STREAM_CHUNK_INTERVAL_MS=str(INTERVAL_MS),
        STREAM_CHUNK_CHARS="10",
        RATE_LIMIT_QUESTIONS="100000",
        TRUSTED_PROXIES="127.0.0.1",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_MAX_RETRIES="0",
        SOCKET_MAX_MESSAGE_BYTES="20000",
    ) as live:
        live.output = ServerOutput(live.process)
        yield live
        assert "Traceback" not in live.output.text, live.output.text


@pytest.fixture
def stage(server, openai_fake):
    """The lessons imported (the database is emptied between tests), the AI writing any new
    question, and the bystander streaming."""
    openai_fake.default = lambda request: document_reply(GENERATED)
    server.container.answers.import_answers(LESSONS)
    bystander = Bystander(server)
    yield bystander
    bystander.stop()
    assert not bystander.failures, bystander.failures
    assert bystander.completed >= 1, "the bystander never finished a lesson"


# -- payloads ----------------------------------------------------------------------------------
SQL = [
    "'; DROP TABLE ai_answers; --",
    "¿Qué es una derivada?' OR '1'='1",
    "1; SELECT pg_sleep(10); --",
    "%' UNION SELECT email FROM profiles --",
    "\\'; TRUNCATE profiles CASCADE; --",
    "x_%\\",
]
LATEX = [
    "\\input{/etc/passwd}",
    "$\\def\\x{\\x}\\x$ ¿qué es?",
    "$$\\begin{verbatim}\\end{document}",
    "\\immediate\\write18{rm -rf /} derivada",
    "$" * 41 + " integral",
    "\\href{javascript:alert(1)}{clic} <script>alert(1)</script>",
    "$\\frac{" * 200,
]
ODD = [
    "",
    " ",
    "\x00",
    "deriva\x00da",
    "\ud800",
    "a\udfffb",
    "\u202e¿Qué es una derivada?",
    "🙂" * 300,
    "x" * 1001,
    "¿" * 5000,
]
QUESTIONS = [LESSON["question"], FOLLOW_UP["question"], "que es una DERIVADA"]
TOKENS = ["@self", "@other", "@forged", "@expired", "@none-alg", "a.b.c"]

text = (
    st.sampled_from(SQL + LATEX + ODD)
    | st.text(max_size=40)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=-2, max_value=8)
    | st.floats()
    | text
)
json_value = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
question = st.sampled_from(QUESTIONS) | text | json_value
small_int = st.integers(min_value=-1, max_value=6) | leaf
audio = (
    st.sampled_from(
        [
            base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode(),
            base64.b64encode(b"\x1aE\xdf\xa3" + b"\x00" * 30).decode(),
            "data:audio/webm;base64," + base64.b64encode(b"OggS" + b"\x00" * 40).decode(),
            "no es base64!",
            "",
        ]
    )
    | text
)
session_ids = (
    st.sampled_from(["@own-session", "@other-session", "00000000-0000-0000-0000-000000000000"])
    | leaf
)
FIELDS = {
    "ask_question": {"question": question, "context": json_value},
    "interrupt": {"question": question, "context": json_value},
    "pause_explanation": {"current_step": small_int, "position_in_step": small_int},
    "resume_explanation": {},
    "stop_explanation": {},
    "submit_feedback": {"rating": small_int, "understood": leaf, "seen_in_exam": leaf},
    "step_feedback": {"step_number": small_int, "understood": leaf},
    "reauthenticate": {"token": st.sampled_from(TOKENS) | leaf},
    "voice_start": {"session_id": session_ids},
    "voice_chunk": {"index": small_int, "audio_data": audio, "recording_id": leaf},
    "voice_complete": {
        "transcript": question,
        "confidence": st.floats(min_value=-1, max_value=2) | leaf,
        "audio_data": audio,
        "duration": small_int,
        "mime_type": text,
        "recording_id": leaf,
    },
    "voice_confirm": {"transcription": question},
    "voice_cancel": {},
    # Reserved and unknown names, sent as events by a connected client.
    "connect": {
        "token": st.sampled_from(TOKENS) | leaf,
        "session_id": session_ids,
        "last_seq": small_int,
    },
    "disconnect": {},
    "no_such_event": {},
}  # fmt: skip


def payloads(event: str):
    fields = FIELDS[event]
    shaped = st.fixed_dictionaries({}, optional=fields)
    with_extra = st.tuples(shaped, st.dictionaries(st.text(max_size=8), leaf, max_size=2)).map(
        lambda pair: {**pair[1], **pair[0]}
    )
    return (
        shaped
        | with_extra
        | json_value
        | st.binary(max_size=40)
        | st.tuples(shaped, json_value)  # several arguments
        | st.just(None)  # no argument at all
    )


def resolve(value, names: dict):
    """Replace the `@name` placeholders hypothesis drew by what exists only at run time."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve(v, names) for v in value)
    return value


def placeholders(server, token: str, own_session: str) -> dict[str, str]:
    claims = jwt.decode(token, options={"verify_signature": False})
    other = fund(server, "otra@example.com")
    expired = dict(claims, iat=claims["iat"] - 7200, exp=claims["iat"] - 3600)
    return {
        "@self": token,
        "@other": other,
        "@forged": jwt.encode(claims, "not-the-secret-of-this-server-0123456789", "HS256"),
        "@expired": jwt.encode(expired, TEST_JWT_SECRET, algorithm="HS256"),
        "@none-alg": jwt.encode(claims, None, algorithm="none"),
        "@own-session": own_session,
        "@other-session": "@other-session",  # filled in once the other student connects
    }


# -- the checks after every example ----------------------------------------------------------
def check_answers(student: Student, mark: int, output: ServerOutput, log_mark: int) -> None:
    with student.arrived:
        received = list(student.events[mark:])
    for name, data in received:
        assert name in SERVER_EVENTS, f"undocumented event {name}: {received}"
        if name == "error":
            assert data["code"] in ERROR_CODES, received
            assert isinstance(data["message"], str) and data["message"], received
    assert student.client.connected, f"disconnected after {received}"
    printed = output.since(log_mark)
    assert "Traceback" not in printed, printed


def settle(student: Student) -> None:
    """Wait until nothing more arrives for a few chunk intervals (a lesson may be streaming)."""
    count = -1
    for _ in range(200):
        with student.arrived:
            now = len(student.events)
        if now == count:
            return
        count = now
        time.sleep(INTERVAL_MS * 4 / 1000)


def answered(student: Student, event: str, payload, mark: int, timeout: float = 10) -> bool:
    """Send the event asking for an acknowledgement, which comes once its handler has run (after
    anything the handler emitted); a message over the size limit is not handled at all and
    gets `error` with reason `message_too_large` instead."""
    acked = threading.Event()
    student.client.emit(event, payload, callback=lambda *_: acked.set())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with student.arrived:
            refused = any(
                n == "error" and "message_too_large" in json.dumps(d.get("details"))
                for n, d in student.events[mark:]
            )
        if acked.is_set() or refused:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("event", [*CLIENT_EVENTS, "connect", "disconnect", "no_such_event"])
def test_any_payload_of_any_event_gets_a_documented_answer(server, stage, event):
    token = fund(server, "fuzz@example.com")
    fuzzer = Student(server.url, next(ADDRESSES))
    own_session = fuzzer.connect(token)["session_id"]
    names = placeholders(server, token, own_session)
    other = Student(server.url, next(ADDRESSES))
    names["@other-session"] = other.connect(names["@other"])["session_id"]
    tried = []

    @settings(FUZZ, max_examples=PAYLOAD_EXAMPLES)
    @given(payload=payloads(event))
    def example(payload):
        payload = resolve(payload, names)
        tried.append(payload)
        mark, log_mark = len(fuzzer.events), server.output.mark()
        if not answered(fuzzer, event, payload, mark):
            pytest.fail(f"no answer to {event} {payload!r}; got {fuzzer.events[mark:]}")
        check_answers(fuzzer, mark, server.output, log_mark)
        assert stage.healthy(), stage.failures

    try:
        example()
        fuzzer.client.emit("stop_explanation", {})
        settle(fuzzer)
        check_answers(fuzzer, 0, server.output, 0)
        # The session still works: a lesson asked now streams whole.
        with fuzzer.arrived:
            fuzzer.events.clear()
        fuzzer.client.emit("voice_cancel", {})
        fuzzer.client.emit("ask_question", {"question": LESSON["question"]})
        fuzzer.wait_for("feedback_request", timeout=20)
        lesson = [(n, d) for n, d in fuzzer.events if n in LESSON_EVENTS]
        last = [d["explanation_id"] for n, d in lesson if n == "explanation_start"][-1]
        assert texts_by_step([(n, d) for n, d in lesson if d["explanation_id"] == last]) == CONTENT
    finally:
        fuzzer.close()
        other.close()
    assert len(tried) >= min(PAYLOAD_EXAMPLES, 5)


# -- event order -------------------------------------------------------------------------------
ACTIONS = {
    "ask": ("ask_question", {"question": LESSON["question"]}),
    "ask_other": ("ask_question", {"question": FOLLOW_UP["question"]}),
    "ask_new": ("ask_question", {"question": "¿Qué es una matriz inversa?"}),
    "doubt": ("interrupt", {"question": FOLLOW_UP["question"]}),
    "pause": ("pause_explanation", {}),
    "resume": ("resume_explanation", {}),
    "stop": ("stop_explanation", {}),
    "lost": ("step_feedback", {"step_number": 1}),
    "lost_late": ("step_feedback", {"step_number": 4}),
    "rate": ("submit_feedback", {"rating": 4, "understood": True}),
    "voice": ("voice_start", {}),
    "voice_text": ("voice_complete", {"transcript": FOLLOW_UP["question"], "confidence": 0.95}),
    "voice_yes": ("voice_confirm", {"transcription": FOLLOW_UP["question"]}),
    "voice_no": ("voice_cancel", {}),
    "reauth": ("reauthenticate", {"token": "@self"}),
}
sequences = st.lists(
    st.tuples(
        st.sampled_from([*ACTIONS, "reconnect"]),
        st.integers(min_value=0, max_value=8),  # chunk intervals to wait before it
    ),
    min_size=1,
    max_size=8,
)


def check_lesson_text(events) -> None:
    """Per explanation, in seq order and each seq once, every step's chunks join into a prefix
    of the step's content: nothing repeated, nothing skipped."""
    contents = {
        LESSON["question"]: CONTENT,
        FOLLOW_UP["question"]: {i + 1: s["content"] for i, s in enumerate(FOLLOW_UP["steps"])},
    }
    by_explanation: dict[str, dict[int, tuple[str, dict]]] = {}
    for name, data in events:
        if name in LESSON_EVENTS:
            by_explanation.setdefault(data["explanation_id"], {})[data["seq"]] = (name, data)
    known = {c for steps in contents.values() for c in steps.values()}
    known.add(GENERATED["steps"][0]["content"])  # what the AI writes for any new question
    for explanation, by_seq in by_explanation.items():
        ordered = [by_seq[seq] for seq in sorted(by_seq)]
        for step, joined in texts_by_step(ordered).items():
            assert any(c.startswith(joined) for c in known), (
                f"step {step} of {explanation} is not a prefix of any content: {joined!r}"
            )
            positions = [
                d["position"]
                for n, d in ordered
                if n == "content_chunk" and d["step_number"] == step
            ]
            assert positions == sorted(set(positions)), f"chunks repeated: {positions}"


@settings(FUZZ, max_examples=ORDER_EXAMPLES)
@given(steps=sequences)
def test_lesson_events_in_any_order_keep_the_lesson_consistent(server, stage, steps):
    # (`stage` is function-scoped: one bystander streams through all the examples.)
    token = fund(server, "orden@example.com")
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    server.container.redis.delete(f"rate_limit:{user_id}:questions")
    student = Student(server.url, next(ADDRESSES))
    session_id = student.connect(token)["session_id"]
    log_mark = server.output.mark()
    everything: list[tuple[str, object]] = []
    try:
        student.client.emit("ask_question", {"question": LESSON["question"]})
        student.wait_for("explanation_start")
        for action, wait in steps:
            time.sleep(wait * INTERVAL_MS / 1000)
            if action == "reconnect":  # a network blip: the same session, from the last seq
                with student.arrived:
                    seen = [d["seq"] for n, d in student.events if n in LESSON_EVENTS]
                    everything.extend(student.events)
                student.close()
                student = Student(server.url, next(ADDRESSES))
                again = student.connect(token, session_id=session_id, last_seq=max(seen, default=0))
                assert again["resumed"] is True
                continue
            event, payload = ACTIONS[action]
            student.client.emit(event, resolve(payload, {"@self": token}))
        settle(student)
        check_answers(student, 0, server.output, log_mark)
        with student.arrived:
            everything.extend(student.events)
        check_lesson_text(everything)
        # Whatever happened, the session still works: stop what is on, then a whole lesson.
        student.client.emit("voice_cancel", {})
        student.client.emit("stop_explanation", {})
        settle(student)
        with student.arrived:
            student.events.clear()
        student.client.emit("ask_question", {"question": FOLLOW_UP["question"]})
        student.wait_for("feedback_request", timeout=20)
        start = student.wait_for("explanation_start")
        mine = [(n, d) for n, d in student.events if n in LESSON_EVENTS]
        mine = [(n, d) for n, d in mine if d["explanation_id"] == start["explanation_id"]]
        assert texts_by_step(mine) == {
            i + 1: s["content"] for i, s in enumerate(FOLLOW_UP["steps"])
        }
        check_answers(student, 0, server.output, log_mark)
        assert stage.healthy(), stage.failures
    finally:
        student.close()
