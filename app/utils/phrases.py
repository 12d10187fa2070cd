"""Spanish phrases shown while the student waits, by category, never the same twice in a row."""

from __future__ import annotations

import random

PHRASES: dict[str, list[str]] = {
    "searching": [
        "Déjame buscar eso...",
        "Buscando la mejor explicación...",
        "Un momento, reviso mis apuntes...",
        "Ya casi lo encuentro...",
        "Revisando qué sabemos de esto...",
    ],
    "thinking": [
        "Pensando cómo explicártelo...",
        "Déjame pensar el mejor camino...",
        "Armando la explicación paso a paso...",
        "Preparando la pizarra...",
        "Ordenando las ideas...",
    ],
    # The seed's phrase when the AI provider fails (then the error follows).
    "problem": ["Disculpa, hay un problema temporal"],
    "resuming": [
        "Seguimos donde lo dejamos...",
        "Retomemos la explicación...",
        "Volvamos a la pizarra...",
        "Continuemos...",
    ],
}

# Milliseconds the client may expect to wait, by category (a hint for its progress animation).
ESTIMATED_MS = {"searching": 1000, "thinking": 4000, "resuming": 300, "problem": 0}


def pick_phrase(category: str, last: str | None, rng: random.Random | None = None) -> str:
    options = [phrase for phrase in PHRASES[category] if phrase != last] or PHRASES[category]
    return (rng or random).choice(options)
