"""flask answers preview: the board after each step of a stored answer, as PNG files."""

import io
import json
from pathlib import Path

from PIL import Image

from app.utils.board_render import render_board
from app.utils.canvas_commands import prepare_commands
from app.utils.canvas_templates import TEMPLATES
from app.utils.text_processing import generate_hash

FIXTURE = Path(__file__).parents[1] / "fixtures" / "answers.json"


def ink(png: bytes) -> int:
    """How many pixels are not white."""
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (800, 600)
    return sum(image.histogram()[:250])


def test_preview_writes_one_png_per_step_with_the_board_so_far(cli_runner, container, tmp_path):
    documents = json.loads(FIXTURE.read_text())
    container.answers.import_answers(documents)
    question_hash = generate_hash(documents[0]["question"])
    result = cli_runner.invoke(args=["answers", "preview", question_hash, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "4 step(s) rendered, 0 problem(s)" in result.output
    sizes = [ink((tmp_path / f"step-{n}.png").read_bytes()) for n in range(1, 5)]
    assert sizes[0] > 1000  # the axes and a label
    assert sizes[1] > sizes[0]  # the formula is added; nothing was cleared
    assert sizes[2] == sizes[1] == sizes[3]  # steps without drawings leave the board as it was


def test_preview_by_bank_code_and_its_refusals(cli_runner, container, tmp_path):
    container.answers.import_answers(
        [
            {
                "question": "¿Cuáles son las soluciones de $x^2 - 5x + 6 = 0$?",
                "steps": [
                    {
                        "title": "La parábola",
                        "content": "Las raíces son los cortes con el eje x.",
                        "canvas": [
                            {
                                "type": "template",
                                "name": "parabola",
                                "params": {"a": 1, "b": -5, "c": 6},
                            },
                            {"type": "text", "x": 790, "y": 590, "text": "muy lejos del borde"},
                            {"type": "text", "x": 10, "y": 300, "text": "demasiado " * 20},
                        ],
                    }
                ],
            }
        ]
    )
    result = cli_runner.invoke(args=["answers", "preview", "2024Algebra14", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # The layout moved the label near the corner back onto the board; one wider than the board
    # cannot be moved onto it, and the preview says so.
    assert "muy lejos" not in result.output
    assert "text demasiado demasiado" in result.output and "1 problem(s)" in result.output
    assert ink((tmp_path / "step-1.png").read_bytes()) > 2000
    missing = cli_runner.invoke(args=["answers", "preview", "2099Nada01", "--out", str(tmp_path)])
    assert missing.exit_code != 0 and "2099Nada01" in missing.output
    unanswered = cli_runner.invoke(args=["answers", "preview", "0" * 64, "--out", str(tmp_path)])
    assert unanswered.exit_code != 0


def test_every_template_renders_on_the_board_without_running_off_it():
    for name in TEMPLATES:
        rendered = render_board(prepare_commands([{"type": "template", "name": name}]))
        assert rendered.problems == [], name
        assert ink(rendered.png) > 500, name


def test_latex_the_renderer_cannot_draw_is_reported_not_fatal():
    rendered = render_board([{"type": "latex", "x": 100, "y": 100, "latex": "\\begin{cases}"}])
    assert any("LaTeX" in problem for problem in rendered.problems)
    assert ink(rendered.png) > 0
