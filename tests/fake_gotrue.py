"""A local stand-in for Supabase Auth (GoTrue) on loopback, for what the backend and the student
page ask of it. It records what it receives (`requests`).

- `GET /auth/v1/user`, `POST /auth/v1/logout` and the JWKS document: what the backend calls.
- Sign-in with Google in the PKCE flow, as @supabase/supabase-js drives it from the browser:
  `GET /auth/v1/authorize` stands in for Google's consent screen and for GoTrue's callback: it
  signs in `google_account` and redirects to `redirect_to` with `?code=`; then
  `POST /auth/v1/token?grant_type=pkce` checks the code against the challenge and returns a
  session whose access token is signed with `jwt_secret` (HS256, claims as Supabase writes them).

The fake has no database: the test creates the `auth.users` and `auth.sessions` rows of the
account it signs in (`GoogleAccount`), as Supabase would on the first sign-in. Like Supabase's
gateway it answers CORS preflights, since the page calls it from another origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import jwt

API_VERSION = "2024-01-01"  # the X-Supabase-Api-Version GoTrue answers with
SESSION_SECONDS = 3600


@dataclass(frozen=True)
class GoogleAccount:
    """Who signs in at the stand-in for Google's consent screen, and the login session
    (`auth.sessions.id`) Supabase would create for them."""

    user_id: str
    session_id: str
    email: str
    full_name: str


@dataclass
class _PendingCode:
    challenge: str
    method: str
    account: GoogleAccount


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), *params.items()])
    return urlunsplit(parts._replace(query=query))


class FakeGoTrue:
    def __init__(
        self,
        anon_key: str = "anon-key",
        service_key: str = "service-key",
        jwt_secret: str | None = None,
    ):
        self.anon_key = anon_key
        self.service_key = service_key
        # Signs the access tokens of the sessions it issues; without one (a secret nobody else
        # has) they can only be verified by asking GET /auth/v1/user.
        self.jwt_secret = jwt_secret or secrets.token_urlsafe(32)
        self.google_account: GoogleAccount | None = None
        self.users_by_token: dict[str, dict] = {}
        self.jwks_keys: list[dict] = []
        self.requests: list[dict] = []
        self._codes: dict[str, _PendingCode] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _cors(self) -> None:
                origin = self.headers.get("Origin")
                if origin:
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Vary", "Origin")
                    self.send_header("Access-Control-Expose-Headers", "X-Supabase-Api-Version")

            def _reply(self, status: int, body: object | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self._cors()
                self.send_header("X-Supabase-Api-Version", API_VERSION)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, error_code: str, msg: str) -> None:
                self._reply(status, {"code": status, "error_code": error_code, "msg": msg})

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _record(self) -> tuple[str, dict[str, list[str]], str | None, object]:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": query,
                        "apikey": self.headers.get("apikey"),
                        "token": token or None,
                        "origin": self.headers.get("Origin"),
                        "body": body,
                    }
                )
                return url.path, query, token or None, body

            def do_OPTIONS(self):  # CORS preflight, as Supabase's gateway answers it
                self._record()
                self.send_response(204)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
                requested = self.headers.get("Access-Control-Request-Headers")
                if requested:
                    self.send_header("Access-Control-Allow-Headers", requested)
                self.send_header("Access-Control-Max-Age", "3600")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path, query, token, _ = self._record()
                if path == "/auth/v1/.well-known/jwks.json":
                    return self._reply(200, {"keys": fake.jwks_keys})
                if path == "/auth/v1/authorize":
                    return self._authorize(query)
                if path == "/auth/v1/user":
                    if self.headers.get("apikey") != fake.anon_key:
                        return self._reply(401, {"code": 401, "msg": "Invalid API key"})
                    user = fake.users_by_token.get(token or "")
                    if user is None:
                        return self._error(403, "bad_jwt", "invalid JWT")
                    return self._reply(200, user)
                return self._reply(404, {"msg": "not found"})

            def do_POST(self):
                path, query, token, body = self._record()
                if path == "/auth/v1/token":
                    if self.headers.get("apikey") != fake.anon_key:
                        return self._reply(401, {"code": 401, "msg": "Invalid API key"})
                    if query.get("grant_type") != ["pkce"]:
                        return self._error(400, "validation_failed", "unsupported grant_type")
                    return self._exchange(body)
                if path == "/auth/v1/logout":
                    if self.headers.get("apikey") not in (fake.anon_key, fake.service_key):
                        return self._reply(401, {"code": 401, "msg": "Invalid API key"})
                    scope = query.get("scope", ["global"])[0]
                    if not fake._sign_out(token or "", scope):
                        return self._error(
                            403,
                            "session_not_found",
                            "Session from session_id claim in JWT does not exist",
                        )
                    return self._reply(204)
                return self._reply(404, {"msg": "not found"})

            def _authorize(self, query: dict[str, list[str]]) -> None:
                """Google's consent, granted at once by `google_account`, then GoTrue's redirect
                back to the app with a one-time code for the PKCE exchange."""
                one = {name: values[0] for name, values in query.items()}
                if one.get("provider") != "google":
                    return self._error(400, "validation_failed", "Unsupported provider")
                redirect_to = one.get("redirect_to")
                challenge = one.get("code_challenge")
                method = one.get("code_challenge_method", "").lower()
                if not redirect_to or not challenge or method not in ("s256", "plain"):
                    return self._error(
                        400, "validation_failed", "PKCE code challenge and redirect_to needed"
                    )
                account = fake.google_account
                if account is None:
                    return self._error(400, "validation_failed", "no Google account to sign in")
                code = str(uuid.uuid4())
                with fake._lock:
                    fake._codes[code] = _PendingCode(challenge, method, account)
                return self._redirect(_with_query(redirect_to, code=code))

            def _exchange(self, body: object) -> None:
                if not isinstance(body, dict):
                    return self._error(400, "validation_failed", "JSON body expected")
                with fake._lock:
                    pending = fake._codes.pop(str(body.get("auth_code")), None)
                if pending is None:
                    return self._error(404, "flow_state_not_found", "invalid flow state")
                verifier = str(body.get("code_verifier") or "")
                expected = pkce_challenge(verifier) if pending.method == "s256" else verifier
                if not verifier or expected != pending.challenge:
                    return self._error(400, "bad_code_verifier", "code challenge does not match")
                return self._reply(200, fake._session(pending.account))

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

    def user(self, user_id: str, email: str, full_name: str = "Lu Remota") -> dict:
        return {
            "id": user_id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "email_confirmed_at": "2026-01-01T00:00:00Z",
            "phone": "",
            "app_metadata": {"provider": "google", "providers": ["google"]},
            "user_metadata": {
                "email": email,
                "email_verified": True,
                "full_name": full_name,
                "name": full_name,
                "iss": "https://accounts.google.com",
            },
            "identities": [],
            "created_at": "2026-01-01T00:00:00Z",
            "is_anonymous": False,
        }

    def _session(self, account: GoogleAccount) -> dict:
        """A session as GoTrue returns it, its access token signed as Supabase signs them."""
        now = int(time.time())
        user = self.user(account.user_id, account.email, account.full_name)
        claims = {
            "iss": f"{self.url}/auth/v1",
            "sub": account.user_id,
            "aud": "authenticated",
            "exp": now + SESSION_SECONDS,
            "iat": now,
            "email": account.email,
            "phone": "",
            "app_metadata": user["app_metadata"],
            "user_metadata": user["user_metadata"],
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "oauth", "timestamp": now}],
            "session_id": account.session_id,
            "is_anonymous": False,
        }
        access_token = jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        with self._lock:
            self.users_by_token[access_token] = user
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": SESSION_SECONDS,
            "expires_at": now + SESSION_SECONDS,
            "refresh_token": secrets.token_urlsafe(12),
            "user": user,
        }

    def _sign_out(self, token: str, scope: str) -> bool:
        """Ends the token's session (scope local), every session of its user (global) or the
        others (others); False when the token's session no longer exists."""
        with self._lock:
            user = self.users_by_token.get(token)
            if user is None:
                return False
            for other, owner in list(self.users_by_token.items()):
                same = other == token
                if owner["id"] == user["id"] and (scope == "global" or (scope == "local") == same):
                    del self.users_by_token[other]
        return True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
