"""Near-duplicate questions: how many paraphrases trigram similarity finds, and how many near
misses it would wrongly reuse, with and without the math guard, threshold by threshold.

The fixture (tests/fixtures/paraphrases.json) holds pairs of the same question in other words
(`paraphrases`) and pairs of similar text that ask something else (`near_misses`). Each pair is
normalized with `normalize_text` and compared with pg_trgm `similarity()`; a pair is a hit when
the similarity reaches the threshold (and, with the guard, `same_math` agrees). The hit rate
is over paraphrases, the false-match rate over near misses. NEAR_DUPLICATE_THRESHOLD in
app/utils/math_guard.py is chosen from this table.

    .venv/bin/python bench/near_duplicates.py --database-url postgresql://postgres@127.0.0.1/postgres

It only reads: `CREATE EXTENSION IF NOT EXISTS pg_trgm` is the one statement that may change
the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "paraphrases.json"
THRESHOLDS = [round(0.30 + 0.05 * step, 2) for step in range(11)]  # 0.30 .. 0.80


def similarities(database_url: str, pairs: list[tuple[str, str]]) -> list[float]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        rows = conn.execute(
            """
            SELECT similarity(a, b)
              FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(a, b, n)
             ORDER BY n
            """,
            ([a for a, _ in pairs], [b for _, b in pairs]),
        ).fetchall()
    return [float(row[0]) for row in rows]


def rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server with pg_trgm available (default: %(default)s)",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from app.utils.math_guard import NEAR_DUPLICATE_THRESHOLD, same_math
    from app.utils.text_processing import normalize_text

    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    groups: dict[str, list[tuple[str, str]]] = {
        name: [(normalize_text(a), normalize_text(b)) for a, b in fixture[name]]
        for name in ("paraphrases", "near_misses")
    }
    scores = {name: similarities(args.database_url, pairs) for name, pairs in groups.items()}
    guard = {name: [same_math(a, b) for a, b in pairs] for name, pairs in groups.items()}

    print(
        f"{len(groups['paraphrases'])} paraphrase pairs, {len(groups['near_misses'])} near-miss"
        f" pairs; guard alone accepts {rate(guard['paraphrases']):.1%} of paraphrases and"
        f" {rate(guard['near_misses']):.1%} of near misses"
    )
    print("threshold | hit (trgm) | hit (trgm+guard) | false (trgm) | false (trgm+guard)")
    for threshold in THRESHOLDS:
        cells = []
        for name in ("paraphrases", "near_misses"):
            close = [score >= threshold for score in scores[name]]
            guarded = [c and g for c, g in zip(close, guard[name], strict=True)]
            cells.append((rate(close), rate(guarded)))
        (hit, hit_guarded), (false, false_guarded) = cells
        marker = "  <- NEAR_DUPLICATE_THRESHOLD" if threshold == NEAR_DUPLICATE_THRESHOLD else ""
        print(
            f"     {threshold:.2f} |     {hit:6.1%} |           {hit_guarded:6.1%} |"
            f"       {false:6.1%} |             {false_guarded:6.1%}{marker}"
        )


if __name__ == "__main__":
    main()
