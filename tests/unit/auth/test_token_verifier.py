"""Token verification against a real JWKS endpoint on loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from app.auth.verifier import JwksCache, TokenVerifier
from app.errors import Unauthorized
from tests.jwt_factory import KeyPair, sign_hs256, supabase_claims

SECRET = "legacy-jwt-secret-with-at-least-32-characters"
ISSUER = "https://proyecto.supabase.co/auth/v1"


class JwksServer:
    """A JWKS endpoint whose keys, delay and health the test controls."""

    def __init__(self):
        self.keys: list[dict] = []
        self.delay = 0.0
        self.status = 200
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                time.sleep(server.delay)
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that gives up (a timeout under test) is expected, not a server error.
        self.httpd.handle_error = lambda request, client_address: None
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/auth/v1/.well-known/jwks.json"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def es_key():
    return KeyPair("ES256", "key-es-1")


@pytest.fixture
def verifier(jwks_server, es_key):
    jwks_server.keys = [es_key.jwk()]
    cache = JwksCache(jwks_server.url, fetch_timeout=0.5, throttle_seconds=30)
    return TokenVerifier(jwt_secret=SECRET, jwks=cache, issuer=ISSUER)


def refused(verifier, token) -> str:
    with pytest.raises(Unauthorized) as info:
        verifier.verify(token)
    assert info.value.code == "UNAUTHORIZED"
    return info.value.message


def test_legacy_hs256_token_is_accepted(verifier):
    claims = supabase_claims()
    principal = verifier.verify(sign_hs256(claims, SECRET))
    assert principal.user_id == claims["sub"]
    assert principal.session_id == claims["session_id"]
    assert principal.email == "ana@example.com"
    assert principal.full_name == "Ana Pérez"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_asymmetric_tokens_verify_with_the_project_jwks(jwks_server, algorithm):
    key = KeyPair(algorithm, f"kid-{algorithm}")
    jwks_server.keys = [key.jwk()]
    verifier = TokenVerifier(jwt_secret=None, jwks=JwksCache(jwks_server.url), issuer=ISSUER)
    claims = supabase_claims()
    assert verifier.verify(key.sign(claims)).user_id == claims["sub"]
    assert verifier.verify("Bearer " + key.sign(claims)).user_id == claims["sub"]


def test_expired_token_says_the_session_expired(verifier, es_key):
    past = int(time.time()) - 3600
    message = refused(verifier, es_key.sign(supabase_claims(iat=past - 60, exp=past)))
    assert "expiró" in message


@pytest.mark.parametrize(
    "claims",
    [
        supabase_claims(iat=int(time.time()) + 3600),  # not yet valid
        supabase_claims(aud="anon"),
        supabase_claims(aud=None),
        supabase_claims(iss="https://otro-proyecto.supabase.co/auth/v1"),
        supabase_claims(role="anon"),
        supabase_claims(role="service_role"),
        supabase_claims(role=None),
        supabase_claims(sub="no-es-un-uuid"),
        supabase_claims(sub=None),
        supabase_claims(exp=None),
        supabase_claims(iat=None),
        supabase_claims(is_anonymous=True),
    ],
    ids=[
        "not-yet-valid",
        "wrong-audience",
        "no-audience",
        "wrong-issuer",
        "anon-role",
        "service-role",
        "no-role",
        "sub-not-uuid",
        "no-sub",
        "no-exp",
        "no-iat",
        "anonymous",
    ],
)
def test_tokens_with_wrong_or_missing_claims_are_refused(verifier, es_key, claims):
    refused(verifier, es_key.sign(claims))


def test_anonymous_users_only_when_allowed(jwks_server, es_key):
    jwks_server.keys = [es_key.jwk()]
    verifier = TokenVerifier(
        jwt_secret=None, jwks=JwksCache(jwks_server.url), issuer=ISSUER, allow_anonymous=True
    )
    assert verifier.verify(es_key.sign(supabase_claims(is_anonymous=True))).is_anonymous


def test_wrong_signature_is_refused(verifier, es_key):
    claims = supabase_claims()
    refused(verifier, sign_hs256(claims, "another-secret-of-enough-length-0123456789"))
    impostor = KeyPair("ES256", es_key.kid)  # same kid, different key
    refused(verifier, impostor.sign(claims))
    header, payload, signature = es_key.sign(claims).split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "00000000-0000-0000-0000-000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    refused(verifier, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(verifier):
    token = jwt.encode(supabase_claims(), None, algorithm="none")
    refused(verifier, token)
    refused(verifier, token.rstrip(".") + ".")


def test_hs256_signed_with_the_public_key_is_refused(jwks_server, es_key):
    """The classic algorithm confusion: the public key used as an HMAC secret."""
    rsa_key = KeyPair("RS256", "kid-rsa")
    jwks_server.keys = [rsa_key.jwk()]
    verifier = TokenVerifier(jwt_secret=SECRET, jwks=JwksCache(jwks_server.url), issuer=ISSUER)
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in (header, supabase_claims())
    ]
    signing_input = b".".join(segments)
    signature = hmac.new(rsa_key.public_pem(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
    refused(verifier, token)
    # And without a shared secret configured, HS256 is not accepted at all.
    only_jwks = TokenVerifier(jwt_secret=None, jwks=JwksCache(jwks_server.url), issuer=ISSUER)
    refused(only_jwks, token)


def test_a_key_of_another_algorithm_under_the_kid_is_refused(jwks_server):
    es_key = KeyPair("ES256", "shared-kid")
    jwks_server.keys = [KeyPair("RS256", "shared-kid").jwk()]
    verifier = TokenVerifier(jwt_secret=None, jwks=JwksCache(jwks_server.url), issuer=ISSUER)
    refused(verifier, es_key.sign(supabase_claims()))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b.c",
        "Bearer ",
        "é" * 50,
        "x" * 20_000,
        None,
        42,
        {"token": "x"},
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        ".....",
    ],
)
def test_garbage_is_refused(verifier, garbage):
    refused(verifier, garbage)


def test_rotated_key_is_fetched_on_first_sight(jwks_server, verifier, es_key):
    verifier.verify(es_key.sign(supabase_claims()))
    assert jwks_server.hits == 1
    new_key = KeyPair("ES256", "key-es-2")
    jwks_server.keys = [es_key.jwk(), new_key.jwk()]
    verifier.jwks.throttle_seconds = 0
    assert verifier.verify(new_key.sign(supabase_claims()))
    assert jwks_server.hits == 2
    verifier.verify(new_key.sign(supabase_claims()))
    assert jwks_server.hits == 2, "known keys are served from the cache"


def test_a_flood_of_unknown_kids_fetches_once_per_window(jwks_server, es_key):
    jwks_server.keys = [es_key.jwk()]
    now = [1000.0]
    cache = JwksCache(jwks_server.url, throttle_seconds=30, clock=lambda: now[0])
    verifier = TokenVerifier(jwt_secret=None, jwks=cache, issuer=ISSUER)
    verifier.verify(es_key.sign(supabase_claims()))
    attackers = [KeyPair("ES256", f"attacker-{i}").sign(supabase_claims()) for i in range(100)]
    for token in attackers:
        refused(verifier, token)
    assert jwks_server.hits == 1, "the window opened by the first fetch is still running"
    now[0] += 31
    for token in attackers:
        refused(verifier, token)
    assert jwks_server.hits == 2
    assert verifier.verify(es_key.sign(supabase_claims()))


def test_endpoint_down_keeps_cached_keys_and_fails_unknown_ones_fast(jwks_server, verifier, es_key):
    verifier.verify(es_key.sign(supabase_claims()))
    jwks_server.status = 503
    jwks_server.keys = []
    verifier.jwks.throttle_seconds = 0
    refused(verifier, KeyPair("ES256", "unknown").sign(supabase_claims()))
    assert verifier.verify(es_key.sign(supabase_claims()))


def test_slow_endpoint_does_not_hang_verification(jwks_server, es_key):
    jwks_server.keys = [es_key.jwk()]
    jwks_server.delay = 3
    cache = JwksCache(jwks_server.url, fetch_timeout=0.3)
    verifier = TokenVerifier(jwt_secret=None, jwks=cache, issuer=ISSUER)
    started = time.monotonic()
    refused(verifier, es_key.sign(supabase_claims()))
    assert time.monotonic() - started < 2.5  # bounded by the fetch timeout, not the endpoint
