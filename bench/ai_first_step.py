"""Answers written on a miss: how soon the student sees the first step, and how many LLM calls a
crowd asking one new question costs.

It starts the fake OpenAI-compatible server of the test suite (tokens written at `--rate` per
second, 50 by default, as a real model does) and one server process (run.py) pointed at it, on a
new database of `--database-url`'s server and on `--redis-url`, then:

1. one student asks a new question: time to its first `step_start`, against the time the model
   takes to write the whole answer (what the seed's flow, generate then stream, makes a student
   wait before the first step), measured with a non-streamed call to the same fake;
2. `--crowd` students ask another new question at the same moment: LLM calls made, and their
   times to the first `step_start`.

    .venv/bin/python bench/ai_first_step.py --rate 50 --crowd 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from app.models.generation import answer_schema  # noqa: E402
from tests.fake_openai import document_reply, running_fake_openai  # noqa: E402
from tests.integration.sockets.test_connection import Student  # noqa: E402
from tests.live_server import running_server  # noqa: E402


def lesson() -> dict:
    """A lesson as the seed's are: five steps of about 300 characters, with drawings (about
    1,000 tokens once written as a strict-mode model writes it)."""
    document = json.loads((ROOT / "seed/answers/calculo.json").read_text())[0]
    return {
        "refusal": None,
        "subject": "calculo",
        "total_steps": len(document["steps"]),
        "steps": document["steps"],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ask(live, token: str, question: str, address: str, results: list, barrier=None) -> None:
    student = Student(live.url, address)
    student.connect(token)
    if barrier is not None:
        barrier.wait()
    asked = time.monotonic()
    student.client.emit("ask_question", {"question": question})
    try:
        student.wait_for("step_start", timeout=300)
        first = time.monotonic() - asked
        student.wait_for("feedback_request", timeout=600)
        results.append((first, time.monotonic() - asked))
    finally:
        student.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="tokens per second of the model")
    parser.add_argument("--crowd", type=int, default=100, help="students asking one new question")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    args = parser.parse_args()

    with running_fake_openai(tokens_per_second=args.rate) as fake:
        fake.default = lambda request: document_reply(lesson())
        with running_server(
            args.database_url,
            args.redis_url,
            Path(tempfile.mkdtemp()),
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=fake.base_url,
            MAX_CONNECTIONS_PER_IP="10000",
            TRUSTED_PROXIES="127.0.0.1",
        ) as live:
            live.container.redis.flushdb()
            tokens = [
                live.container.dev_tokens.issue(email=f"bench-{n}@example.com", ttl_seconds=3600)
                for n in range(args.crowd + 1)
            ]
            with live.container.db.transaction() as conn:
                conn.execute("UPDATE profiles SET credits_remaining = 1000, daily_limit = 1000")

            # 1. One student, one new question.
            one: list = []
            ask(live, tokens[0], "¿Qué es una derivada?", "198.51.100.1", one)
            first, whole_lesson = one[0]
            started = time.monotonic()
            client = openai.OpenAI(api_key="sk-bench", base_url=fake.base_url)
            client.chat.completions.create(  # the same structured output, in one piece
                model="bench",
                messages=[{"role": "user", "content": "¿Qué es una derivada?"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "leccion", "strict": True, "schema": answer_schema()},
                },
            )
            whole_answer = time.monotonic() - started
            print(f"model rate: {args.rate:.0f} tokens/s")
            print(f"first step_start on a miss (streamed generation): {first * 1000:8.0f} ms")
            print(
                f"whole answer written (generate, then stream):     {whole_answer * 1000:8.0f} ms"
            )
            print(
                f"whole lesson seen (to feedback_request):          {whole_lesson * 1000:8.0f} ms"
            )

            # 2. A crowd asks one new question at once.
            calls_before = len(fake.calls())
            crowd: list = []
            barrier = threading.Barrier(args.crowd)
            threads = [
                threading.Thread(
                    target=ask,
                    args=(live, tokens[n], "¿Qué es una integral?",
                          f"198.51.100.{n % 250 + 2}", crowd, barrier),
                )
                for n in range(1, args.crowd + 1)
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            firsts = [f for f, _ in crowd]
            print(
                f"{args.crowd} students asking one new question at once: "
                f"{len(fake.calls()) - calls_before} LLM call(s); {len(crowd)} lessons complete; "
                f"first step_start p50 {statistics.median(firsts) * 1000:.0f} ms, "
                f"p99 {percentile(firsts, 0.99) * 1000:.0f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
