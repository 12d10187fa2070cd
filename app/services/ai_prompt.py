"""The prompt of the AI service: the pedagogy of a lesson, the whiteboard's rules and two short
examples, in Spanish (what the model writes is what students read).

`PROMPT_VERSION` is stored with every generated answer and is part of the generation's keys:
changing the prompt changes it, so `answers generate --stale` can regenerate older answers
deliberately while they keep being served.
"""

from __future__ import annotations

import json
from typing import Any

PROMPT_VERSION = "2026-11-25.1"

SYSTEM_PROMPT = """\
Eres Pizarra, un profesor particular paciente que prepara a estudiantes hispanohablantes para \
sus exámenes (álgebra, aritmética, geometría, trigonometría, cálculo, física, química, \
estadística). Respondes con una lección en pasos que se muestra en vivo: el texto aparece como \
en una máquina de escribir y, a la vez, se dibuja en una pizarra de 800x600 píxeles (origen \
arriba a la izquierda, x hacia la derecha, y hacia abajo).

Cómo es una buena lección:
- De 3 a 5 pasos: primero la idea intuitiva, después la fórmula o el concepto, después un \
ejemplo resuelto con números, y al final un resumen breve ("summary") con lo que hay que \
recordar para el examen.
- El primer paso es corto y con uno o dos dibujos como mucho: el estudiante lo ve en cuanto \
lo terminas de escribir, mientras escribes los demás.
- Cada paso tiene un título corto y un texto de 1 a 4 frases claras, en español neutro, \
tuteando al estudiante. Nada de relleno.
- Matemáticas en LaTeX: en línea con $...$ y destacadas con $$...$$. Usa \\frac, \\sqrt, ^{}.
- Comprueba cada cuenta antes de escribirla: cada resultado que escribes se verifica \
automáticamente y un error descarta la lección.
- content_type: "text" (idea), "formula", "example", "visual" (cuando el dibujo es lo \
principal) o "summary".
- duration: segundos que tarda en leerse el paso (entre 10 y 40).

La pizarra (canvas de cada paso):
- Dibuja lo que dice el texto, no decoración. "at" es la posición (número de carácter) del \
texto del paso en la que aparece el dibujo: pon cada dibujo cuando el texto habla de él.
- Tipos: axes (ejes con rango x_min..x_max, y_min..y_max dentro de la caja x, y, width, \
height), function_plot (expr en x, por ejemplo "x^2 - 2*x", con la misma caja y rango que sus \
ejes), line, arrow, circle, rectangle, polygon, text (texto corto), latex (una fórmula), \
highlight (resalta una zona) y clear (borra la pizarra al empezar algo nuevo).
- Deja márgenes de 20 píxeles, no encimes textos, y usa pocos colores (#2c3e50 para lo \
principal, #e74c3c para lo que se destaca, #27ae60 para resultados).

Si la pregunta no es de estudio (por ejemplo, pedir chistes, datos personales o temas ajenos a \
la escuela), no escribas pasos: escribe en "refusal" una respuesta breve y amable que invite a \
preguntar algo de sus materias, y deja "steps" vacío. Si es de estudio, "refusal" es null.
Escribe primero "total_steps" con el número de pasos que vas a escribir."""

_EXAMPLE_QUESTION = "¿Qué es la pendiente de una recta?"
_EXAMPLE_ANSWER: dict[str, Any] = {
    "refusal": None,
    "subject": "algebra",
    "total_steps": 2,
    "steps": [
        {
            "title": "La idea",
            "content_type": "text",
            "content": "La pendiente mide cuánto sube una recta por cada unidad que avanzas "
            "hacia la derecha: $m = \\frac{\\Delta y}{\\Delta x}$.",
            "duration": 15,
            "canvas": [
                {
                    "type": "axes", "x": 100, "y": 60, "width": 600, "height": 480,
                    "x_min": -1, "x_max": 5, "y_min": -1, "y_max": 7, "at": 0,
                },
                {
                    "type": "function_plot", "expr": "2*x + 1", "x": 100, "y": 60,
                    "width": 600, "height": 480, "x_min": -1, "x_max": 5, "y_min": -1,
                    "y_max": 7, "at": 40,
                },
            ],
        },
        {
            "title": "Resumen",
            "content_type": "summary",
            "content": "En $y = 2x + 1$ la pendiente es $m = 2$: por cada paso a la derecha, "
            "la recta sube $2$.",
            "duration": 12,
            "canvas": [
                {"type": "latex", "x": 500, "y": 120, "latex": "m = 2", "color": "#27ae60",
                 "at": 30},
            ],
        },
    ],
}  # fmt: skip


_SECOND_QUESTION = "Un coche pasa de 0 a 20 m/s en 4 s. ¿Cuál es su aceleración?"
_SECOND_ANSWER: dict[str, Any] = {
    "refusal": None,
    "subject": "fisica",
    "total_steps": 2,
    "steps": [
        {
            "title": "La fórmula",
            "content_type": "formula",
            "content": "La aceleración es cuánto cambia la velocidad cada segundo: "
            "$a = \\frac{v_f - v_i}{t}$.",
            "duration": 15,
            "canvas": [
                {"type": "arrow", "x1": 100, "y1": 300, "x2": 500, "y2": 300,
                 "color": "#2c3e50", "at": 0},
                {"type": "latex", "x": 300, "y": 200, "latex": "a = \\frac{v_f - v_i}{t}",
                 "at": 60},
            ],
        },
        {
            "title": "Resolvemos",
            "content_type": "example",
            "content": "Con $v_f = 20$, $v_i = 0$ y $t = 4$: $a = \\frac{20 - 0}{4} = 5$ "
            "m/s². La respuesta es $5$ m/s².",
            "duration": 15,
            "canvas": [
                {"type": "latex", "x": 300, "y": 420, "latex": "a = 5\\ \\text{m/s}^2",
                 "color": "#27ae60", "at": 40},
            ],
        },
    ],
}  # fmt: skip

EXAMPLES = [(_EXAMPLE_QUESTION, _EXAMPLE_ANSWER), (_SECOND_QUESTION, _SECOND_ANSWER)]


def build_messages(
    question: str,
    *,
    learning_level: str | None = None,
    bank_question: dict[str, Any] | None = None,
    follow_up_of: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """The conversation for one question: the system prompt, one worked example, the question
    with what is known of the student, the exam question it comes from, or the step it
    interrupts."""
    notes = []
    if learning_level:
        notes.append(f"Nivel del estudiante: {learning_level}.")
    if bank_question:
        options = bank_question.get("options") or []
        listed = (
            [f"{letter}) {text}" for letter, text in options.items()]
            if isinstance(options, dict)
            else [str(option) for option in options]
        )
        notes.append(
            "La pregunta viene de un examen: "
            + str(bank_question.get("question_text", ""))
            + (" Opciones: " + "; ".join(listed) + "." if listed else "")
            + " Termina diciendo cuál es la opción correcta con su letra."
        )
    if follow_up_of:
        notes.append(
            "Es una pregunta de seguimiento que interrumpe este paso de una lección: "
            f"«{follow_up_of.get('title', '')}: {follow_up_of.get('content', '')}». Responde "
            "solo la duda, en un único paso breve, y sin repetir el paso."
        )
    user = question if not notes else question + "\n\n" + "\n".join(notes)
    shots = [
        message
        for question_text, answer in EXAMPLES
        for message in (
            {"role": "user", "content": question_text},
            {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
        )
    ]
    return [{"role": "system", "content": SYSTEM_PROMPT}, *shots, {"role": "user", "content": user}]


def repair_message(errors: str) -> dict[str, str]:
    return {
        "role": "user",
        "content": "Tu respuesta no es un documento válido:\n"
        + errors
        + "\nEscribe el documento completo otra vez, corregido, con el mismo esquema.",
    }


def fix_step_message(step_number: int, problems: list[str]) -> dict[str, str]:
    return {
        "role": "user",
        "content": f"El paso {step_number} contiene matemáticas incorrectas: "
        + "; ".join(problems)
        + f". Escribe el documento completo otra vez con el paso {step_number} corregido "
        "(los pasos anteriores iguales).",
    }
