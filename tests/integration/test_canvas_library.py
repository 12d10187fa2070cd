"""The canvas_library table lists exactly the templates the server can draw, and counts the
lessons that draw with them."""

import json
from pathlib import Path

from app.utils.canvas_templates import TEMPLATES
from tests.conftest import auth_header

FIXTURE = Path(__file__).parents[1] / "fixtures" / "answers.json"


def test_the_table_lists_every_template_with_its_parameters(container):
    with container.db.connection() as conn:
        rows = {row["name"]: row for row in container.canvas_library.list_all(conn)}
    assert set(rows) == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        row = rows[name]
        assert row["category"] == template.category
        assert row["commands"]["description"] == template.description
        defaults = {key: spec["default"] for key, spec in row["commands"]["params"].items()}
        assert defaults == {key: param.default for key, param in template.params.items()}
        assert row["tags"] == list(template.tags)


def test_a_lesson_drawing_with_a_template_counts_its_use(client, container, issue_token):
    documents = json.loads(FIXTURE.read_text())
    documents[0]["steps"][0]["canvas"].append(
        {"type": "template", "name": "unit_circle", "params": {"angle": 45}, "at": 5}
    )
    container.answers.import_answers(documents)
    headers = auth_header(issue_token("plantilla@example.com"))
    for _ in range(2):  # a database hit, then a cache hit
        answer = client.post(
            "/api/v1/questions/ask", json={"question": "¿Qué es una derivada?"}, headers=headers
        ).json["answer"]
        drawn = [c for c in answer["steps"][0]["canvas"] if c["at"] == 5]
        assert drawn and {c["type"] for c in drawn} >= {"circle", "arrow", "line"}
    with container.db.connection() as conn:
        uses = {row["name"]: row["usage_count"] for row in container.canvas_library.list_all(conn)}
    assert uses["unit_circle"] == 2 and uses["parabola"] == 0
