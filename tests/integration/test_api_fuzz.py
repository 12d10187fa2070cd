"""The whole HTTP API fuzzed by schemathesis from its own OpenAPI document, against a real server
process with a real token: no 5xx, and every response matches what the document promises.

Questions without a stored answer are written through the fake OpenAI server, so no 5xx at all
is allowed. A NUL character, which the document does not forbid string by string, is refused
everywhere with INVALID_INPUT (PostgreSQL text cannot hold it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fake_openai import document_reply
from tests.live_server import running_server

FIXTURE = Path(__file__).parent.parent / "fixtures" / "answers.json"
pytestmark = pytest.mark.slow
ANY_LESSON = {
    "refusal": None,
    "subject": "algebra",
    "total_steps": 1,
    "steps": [{"title": "Idea", "content_type": "text", "content": "Una explicación breve.",
               "duration": 10, "canvas": []}],
}  # fmt: skip


@pytest.fixture(scope="module")
def live_server(pg_server_url, redis_url, tmp_path_factory, fake_openai):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path_factory.mktemp("fuzz"),
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_openai.base_url,
    ) as server:
        server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        token = server.container.dev_tokens.issue(email="fuzz@example.com", full_name="Fuzz")
        yield server.url, token


def test_every_operation_keeps_its_documented_contract(live_server, openai_fake):
    openai_fake.default = lambda request: document_reply(ANY_LESSON)
    base_url, token = live_server
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{base_url}/apispec_1.json")
    failures: dict[str, str] = {}
    tested = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=50,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers=headers, timeout=15)
            excluded = []
            sent = json.dumps([case.query, case.body, case.path_parameters], default=str)
            if "\\u0000" in sent:
                assert response.status_code == 400, response.text
                excluded.append(positive_data_acceptance)
            case.validate_response(response, excluded_checks=excluded, headers=headers)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - try every operation
            failures[operation.label] = str(exc)[:2000]
        tested += 1

    assert tested >= 12, "the document lost operations"
    assert openai_fake.calls(), "no fuzzed question reached the AI service"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
