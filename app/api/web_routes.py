"""The student page (web/, built by `npm run build` into web/dist) at `/`, and what it needs to
know of this deployment: where Supabase is, and whether local sign-in is on."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from werkzeug.exceptions import NotFound as NoSuchFile

from app.errors import NotFound

bp = Blueprint("web", __name__)

NOT_BUILT = """<!doctype html>
<html lang="es"><meta charset="utf-8"><title>Pizarra</title>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Pizarra</h1>
<p>La página de estudiantes aún no está compilada. Instala Node.js y npm y vuelve a
ejecutar <code>make run</code>, o compílala con
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<p>La API sigue disponible: <a href="/apidocs/">/apidocs</a>.</p>
</body></html>
"""


def _dist() -> Path:
    return Path(current_app.extensions["pizarra"].settings.web_dist_dir)


@bp.get("/")
def index():
    """The student page (not part of the API)."""
    page = _dist() / "index.html"
    if not page.is_file():
        return Response(NOT_BUILT, status=503, mimetype="text/html")
    response = send_from_directory(_dist(), "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"  # it names the assets of the latest build
    return response


@bp.get("/assets/<path:filename>")
def assets(filename: str):
    """The page's scripts, styles and fonts; their names carry a hash of their content."""
    try:
        response = send_from_directory(_dist() / "assets", filename, max_age=31_536_000)
    except NoSuchFile:
        raise NotFound("Ese archivo no existe.") from None
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.get("/api/v1/client-config")
def client_config():
    """What the student page needs to sign in: Supabase's URL and anon key (both public by
    design), or that this is a local deployment with dev sign-in.
    ---
    tags: [auth]
    responses:
      200:
        description: The sign-in the page offers.
        schema:
          type: object
          properties:
            supabase_url: {type: string, x-nullable: true}
            supabase_anon_key: {type: string, x-nullable: true}
            local_auth: {type: boolean}
    """
    settings = current_app.extensions["pizarra"].settings
    supabase = bool(settings.supabase_url and settings.supabase_key)
    return jsonify(
        {
            "supabase_url": settings.supabase_url if supabase else None,
            "supabase_anon_key": settings.supabase_key if supabase else None,
            "local_auth": bool(settings.local_auth),
        }
    )
