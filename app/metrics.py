"""What this process has done, for Prometheus (`GET /metrics`): questions by where their answer
came from, the LLM's calls (latency, tokens, cost), live lessons, events sent to students,
errors by code, and the database pool.

Metrics are per process (one gunicorn worker each): Prometheus scrapes every process and sums.
They are module-level, as prometheus_client intends, so any number of apps in one process (the
tests) share them; readers compare before and after.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

QUESTIONS = Counter(
    "pizarra_questions",
    "Questions answered (charged), by where the answer came from: cache (Redis), database, "
    "near (a rephrasing's stored answer), generated (written by the LLM now). The cache hit "
    "ratio is cache over all.",
    ["source"],
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "pizarra_llm_calls",
    "Calls to the LLM provider, by kind (chat, transcription, moderation) and outcome (ok, "
    "error: after the SDK's retries)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
LLM_SECONDS = Histogram(
    "pizarra_llm_call_seconds",
    "How long a call to the LLM provider took, whole (a streamed answer: to its last token)",
    ["kind"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "pizarra_llm_tokens",
    "Tokens of the LLM's chat calls, by direction (input, output)",
    ["direction"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "pizarra_llm_cost_usd",
    "Estimated cost of the LLM's chat calls in USD (OPENAI_PRICE_INPUT/_OUTPUT per million)",
    registry=REGISTRY,
)
LIVE_LESSONS = Gauge(
    "pizarra_live_lessons",
    "Lessons streaming from this process now",
    registry=REGISTRY,
)
EVENTS = Counter(
    "pizarra_socket_events_sent",
    "Lesson events sent to students, by event",
    ["event"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "pizarra_errors",
    "Errors answered to clients, by code and channel (http, socket)",
    ["code", "channel"],
    registry=REGISTRY,
)

_event_counters: dict[str, Any] = {}


def count_event(event: str) -> None:
    """One lesson event sent (on the hot path: the labelled child is looked up once)."""
    counter = _event_counters.get(event)
    if counter is None:
        counter = _event_counters[event] = EVENTS.labels(event)
    counter.inc()


def count_llm_tokens(prompt: int, completion: int, *, price_in: float, price_out: float) -> None:
    LLM_TOKENS.labels("input").inc(prompt)
    LLM_TOKENS.labels("output").inc(completion)
    LLM_COST.inc((prompt * price_in + completion * price_out) / 1_000_000)


class _PoolCollector(Collector):
    """The database pools' connections at scrape time (psycopg_pool's own statistics)."""

    def __init__(self) -> None:
        self.pools: weakref.WeakSet[Any] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pizarra_db_pool_connections",
            "Database connections of the pool: size (open), available (idle), waiting "
            "(requests queued for one), max",
            labels=["state"],
        )
        totals = {"size": 0, "available": 0, "waiting": 0, "max": 0}
        for pool in list(self.pools):
            stats = pool.get_stats()
            totals["size"] += stats.get("pool_size", 0)
            totals["available"] += stats.get("pool_available", 0)
            totals["waiting"] += stats.get("requests_waiting", 0)
            totals["max"] += pool.max_size
        for state, value in totals.items():
            family.add_metric([state], value)
        yield family


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


def watch_pool(pool: Any) -> None:
    """Report this psycopg_pool ConnectionPool's connections while it lives."""
    _POOLS.pools.add(pool)
