"""Credits under the production server (gevent, pooled connections), over real HTTP."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live_server import running_server

FIXTURE = Path(__file__).parent.parent / "fixtures" / "answers.json"
pytestmark = pytest.mark.slow


def test_fifty_concurrent_asks_against_ten_credits_are_answered_exactly_ten_times(
    pg_server_url, redis_url, tmp_path
):
    with running_server(pg_server_url, redis_url, tmp_path, RATE_LIMIT_QUESTIONS="1000") as server:
        container = server.container
        container.answers.import_answers(json.loads(FIXTURE.read_text()))
        token = container.dev_tokens.issue(email="ana@example.com")
        with container.db.transaction() as conn:
            conn.execute("UPDATE profiles SET daily_limit = 100")
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}

        def ask(_):
            response = requests.post(
                f"{server.url}/api/v1/questions/ask",
                json={"question": "¿Qué es una derivada?"},
                headers=headers,
                timeout=30,
            )
            return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(ask, range(50)))

        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * 10 + [402] * 40
        assert {body["error"]["code"] for status, body in results if status == 402} == {
            "INSUFFICIENT_CREDITS"
        }
        remaining = sorted(body["credits_remaining"] for status, body in results if status == 200)
        assert remaining == list(range(10))
        with container.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS spends, (SELECT credits_remaining FROM profiles) AS left "
                "FROM credit_usage WHERE action_type = 'ai_question'"
            ).fetchone()
            interactions = conn.execute("SELECT count(*) AS n FROM interactions").fetchone()
        assert (row["spends"], row["left"], interactions["n"]) == (10, 0, 10)
