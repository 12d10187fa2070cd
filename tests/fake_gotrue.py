"""A local stand-in for the few Supabase Auth (GoTrue) endpoints the backend calls, on loopback:
GET /auth/v1/user, POST /auth/v1/logout and the JWKS document. It records what it receives."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeGoTrue:
    def __init__(self, anon_key: str = "anon-key", service_key: str = "service-key"):
        self.anon_key = anon_key
        self.service_key = service_key
        self.users_by_token: dict[str, dict] = {}
        self.jwks_keys: list[dict] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: object | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> tuple[str, str | None]:
                url = urlsplit(self.path)
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "apikey": self.headers.get("apikey"),
                        "token": token or None,
                    }
                )
                return url.path, token or None

            def do_GET(self):
                path, token = self._record()
                if path == "/auth/v1/.well-known/jwks.json":
                    return self._reply(200, {"keys": fake.jwks_keys})
                if path == "/auth/v1/user":
                    if self.headers.get("apikey") != fake.anon_key:
                        return self._reply(401, {"code": 401, "msg": "Invalid API key"})
                    user = fake.users_by_token.get(token or "")
                    if user is None:
                        return self._reply(
                            403, {"code": 403, "error_code": "bad_jwt", "msg": "invalid JWT"}
                        )
                    return self._reply(200, user)
                return self._reply(404, {"msg": "not found"})

            def do_POST(self):
                path, token = self._record()
                if path == "/auth/v1/logout":
                    fake.users_by_token.pop(token or "", None)
                    return self._reply(204)
                return self._reply(404, {"msg": "not found"})

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that gives up (a timeout under test) is expected, not a server error.
        self.httpd.handle_error = lambda request, client_address: None
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def user(self, user_id: str, email: str) -> dict:
        return {
            "id": user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "app_metadata": {"provider": "google"},
            "user_metadata": {"full_name": "Lu Remota"},
            "created_at": "2026-01-01T00:00:00Z",
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
