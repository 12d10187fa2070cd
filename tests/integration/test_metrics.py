"""GET /metrics of a real server process, as Prometheus scrapes it, after what students do: a
stored answer streamed over Socket.IO, an answer the LLM writes (the fake OpenAI server), a
refused question, the pool at rest; and the token that guards it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_openai import document_reply, running_fake_openai
from tests.integration.sockets.test_connection import connected_students
from tests.live_server import running_server

FIXTURE = Path(__file__).parents[1] / "fixtures" / "answers.json"
LESSON = json.loads(FIXTURE.read_text())[0]  # ¿Qué es una derivada?
METRICS_TOKEN = "a-scraper-token-0123456789"
pytestmark = pytest.mark.slow


def scrape(url: str, token: str | None = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{url}/metrics", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def fake():
    with running_fake_openai(tokens_per_second=5_000) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(pg_server_url, redis_url, tmp_path_factory, fake):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("metrics"),
        STREAM_CHUNK_INTERVAL_MS="5",
        STREAM_CHUNK_CHARS="60",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_MODERATION="false",
        OPENAI_PRICE_INPUT="1",
        OPENAI_PRICE_OUTPUT="2",
        METRICS_TOKEN=METRICS_TOKEN,
    ) as live:
        live.container.answers.import_answers([LESSON])
        yield live


@pytest.fixture
def student(server):
    yield from connected_students(server)


def test_metrics_need_their_token_when_one_is_set(server):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        refused = requests.get(f"{server.url}/metrics", headers=headers, timeout=5)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert value(scrape(server.url), "pizarra_db_pool_connections", state="max") == 10


def test_a_streamed_lesson_counts_its_question_events_and_no_live_lesson_after(server, student):
    before = scrape(server.url)
    ana = student()
    ana.client.emit("ask_question", {"question": "¿Qué es una derivada?"})
    ana.wait_for("feedback_request", timeout=30)
    after = scrape(server.url)
    sources = ("database", "cache")
    asked = sum(
        value(after, "pizarra_questions_total", source=s)
        - value(before, "pizarra_questions_total", source=s)
        for s in sources
    )
    assert asked == 1
    chunks = len([1 for event, _ in ana.events if event == "content_chunk"])
    sent = value(after, "pizarra_socket_events_sent_total", event="content_chunk") - value(
        before, "pizarra_socket_events_sent_total", event="content_chunk"
    )
    assert sent == chunks > 0
    assert value(after, "pizarra_live_lessons") == 0  # the lesson is over


def test_an_answer_the_llm_writes_counts_its_call_tokens_and_cost(server, fake, student):
    fake.reset()
    fake.answer("Laplace", document_reply({**_generated(), "subject": "calculo"}))
    before = scrape(server.url)
    ana = student("ben@example.com")
    ana.client.emit(
        "ask_question", {"question": "¿Qué es la transformada de Laplace de una exponencial?"}
    )
    ana.wait_for("feedback_request", timeout=30)
    after = scrape(server.url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("pizarra_questions_total", source="generated") == 1
    assert grew("pizarra_llm_calls_total", kind="chat", outcome="ok") == 1
    assert grew("pizarra_llm_call_seconds_count", kind="chat") == 1
    tokens_in = grew("pizarra_llm_tokens_total", direction="input")
    tokens_out = grew("pizarra_llm_tokens_total", direction="output")
    assert tokens_in > 0 and tokens_out > 0
    # At 1 and 2 USD per million tokens.
    assert grew("pizarra_llm_cost_usd_total") == pytest.approx(
        (tokens_in + 2 * tokens_out) / 1_000_000
    )


def test_errors_are_counted_by_code_and_channel(server, student):
    before = scrape(server.url)
    ana = student("eva@example.com")
    ana.client.emit("ask_question", {"question": ""})
    ana.wait_for("error", timeout=10)
    requests.post(f"{server.url}/api/v1/questions/ask", json={}, timeout=5)  # no token
    after = scrape(server.url)
    socket_errors = value(
        after, "pizarra_errors_total", code="INVALID_INPUT", channel="socket"
    ) - value(before, "pizarra_errors_total", code="INVALID_INPUT", channel="socket")
    http_errors = value(after, "pizarra_errors_total", code="UNAUTHORIZED", channel="http") - value(
        before, "pizarra_errors_total", code="UNAUTHORIZED", channel="http"
    )
    assert (socket_errors, http_errors) == (1, 1)


def _generated() -> dict:
    return {"refusal": None, "total_steps": 2, "steps": LESSON["steps"][:2]}
