"""Local verification of Supabase access tokens.

Supabase signs access tokens either with the project's legacy shared secret (HS256) or with an
asymmetric key published in the project's JWKS (ES256 or RS256, identified by `kid`). Both are
verified here, without a network call per request:

- the algorithm comes from an explicit allow-list and decides where the key comes from: HS256
  only with `SUPABASE_JWT_SECRET`, asymmetric algorithms only with a JWKS key whose type matches
  (so a public key can never be used as an HMAC secret, and `none` is never accepted);
- `exp`, `iat`, `aud` = `authenticated`, `role` = `authenticated`, `sub` a UUID, the issuer when
  configured; anonymous users only when allowed;
- JWKS keys are cached; an unknown `kid` triggers a refresh (key rotation), at most one fetch per
  throttle window however many unknown kids arrive, and with a short timeout: when the endpoint
  is down or slow, cached keys keep verifying and unknown ones fail closed.

Nothing here reads `user_metadata` to authorize: the user can edit it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from app.auth.supabase import SupabaseAuth, SupabaseAuthUnavailable
from app.errors import Unauthorized

log = logging.getLogger(__name__)

AUDIENCE = "authenticated"
ASYMMETRIC_ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}
SYMMETRIC_ALGORITHMS = {"HS256"}
MAX_TOKEN_LENGTH = 16_384

INVALID_TOKEN = "La sesión no es válida. Inicia sesión de nuevo."  # noqa: S105 - a message
EXPIRED_TOKEN = "Tu sesión expiró. Inicia sesión de nuevo."  # noqa: S105 - a message


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified token."""

    user_id: str
    email: str | None
    session_id: str | None
    is_anonymous: bool
    expires_at: int
    claims: dict[str, Any] = field(repr=False, compare=False)

    @property
    def full_name(self) -> str | None:
        """Display data only (user-editable metadata): never used to authorize."""
        meta = self.claims.get("user_metadata") or {}
        name = meta.get("full_name") or meta.get("name")
        return name if isinstance(name, str) else None

    @property
    def avatar_url(self) -> str | None:
        meta = self.claims.get("user_metadata") or {}
        url = meta.get("avatar_url") or meta.get("picture")
        return url if isinstance(url, str) else None


def fetch_json(url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read(1_000_000))


def _infer_algorithm(entry: dict[str, Any]) -> str | None:
    if entry.get("kty") == "EC" and entry.get("crv") == "P-256":
        return "ES256"
    if entry.get("kty") == "RSA":
        return "RS256"
    return None


class JwksCache:
    """Signing keys by `kid`, refreshed on an unknown kid at most once per throttle window."""

    def __init__(
        self,
        url: str,
        *,
        fetch_timeout: float = 2.0,
        throttle_seconds: float = 30.0,
        fetch: Callable[[str, float], dict[str, Any]] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url = url
        self.fetch_timeout = fetch_timeout
        self.throttle_seconds = throttle_seconds
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_attempt: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def get(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        # Only one caller fetches; the others do not queue behind a slow endpoint.
        if not self._lock.acquire(blocking=False):
            return None
        try:
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < self.throttle_seconds:
                return self._keys.get(kid)
            self._last_attempt = now
            self._refresh()
        finally:
            self._lock.release()
        return self._keys.get(kid)

    def _refresh(self) -> None:
        self.fetch_count += 1
        try:
            document = self._fetch(self.url, self.fetch_timeout)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the cached keys
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            kid, alg = entry.get("kid"), entry.get("alg") or _infer_algorithm(entry)
            if not kid or alg not in ASYMMETRIC_ALGORITHMS:
                continue
            try:
                keys[kid] = jwt.PyJWK(entry, algorithm=alg)
            except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                log.warning("ignoring JWKS key %s: %s", kid, exc)
        if keys:
            self._keys = keys
        else:
            log.warning("JWKS at %s has no usable signing keys; keeping the cached ones", self.url)


class TokenVerifier:
    def __init__(
        self,
        *,
        jwt_secret: str | None,
        jwks: JwksCache | None,
        issuer: str | None,
        allow_anonymous: bool = False,
        leeway_seconds: int = 30,
        remote: SupabaseAuth | None = None,
        remote_cache_seconds: float = 60.0,
    ):
        if not jwt_secret and jwks is None and remote is None:
            raise ValueError("a JWT secret, a JWKS URL or Supabase Auth is needed to verify tokens")
        self.remote = remote
        self.remote_cache_seconds = remote_cache_seconds
        self._remote_cache: dict[str, tuple[str, float]] = {}
        self.jwt_secret = jwt_secret
        self.jwks = jwks
        self.issuer = issuer
        self.allow_anonymous = allow_anonymous
        self.leeway_seconds = leeway_seconds

    def verify(self, token: object) -> Principal:
        """The verified caller; raises Unauthorized (with a safe Spanish message) otherwise."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized(INVALID_TOKEN)
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        algorithm = header.get("alg")
        key = self._key_for(algorithm, header.get("kid"))
        if key is None:
            return self._verify_with_supabase(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=AUDIENCE,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "aud", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(EXPIRED_TOKEN) from exc
        except jwt.PyJWTError as exc:
            log.info("token refused: %s", exc)
            raise Unauthorized(INVALID_TOKEN) from exc
        return self._principal(claims)

    def _key_for(self, algorithm: object, kid: object) -> Any:
        """The key that must have signed the token; None when this server holds no key for it
        and Supabase Auth is to be asked instead."""
        if algorithm in SYMMETRIC_ALGORITHMS and self.jwt_secret:
            return self.jwt_secret
        if algorithm in ASYMMETRIC_ALGORITHMS and self.jwks is not None and isinstance(kid, str):
            key = self.jwks.get(kid)
            if key is not None and key.algorithm_name == algorithm:
                return key.key
            log.info("token with unknown signing key %r", kid)
        if self.remote is not None and algorithm in SYMMETRIC_ALGORITHMS | set(
            ASYMMETRIC_ALGORITHMS
        ):
            return None
        raise Unauthorized(INVALID_TOKEN)

    def _verify_with_supabase(self, token: str) -> Principal:
        """No local key: Supabase Auth itself says whose token this is. The claims are read
        unverified and trusted only when Supabase confirms the same user."""
        assert self.remote is not None
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + self.leeway_seconds < time.time():
            raise Unauthorized(EXPIRED_TOKEN)
        if claims.get("aud") != AUDIENCE or (self.issuer and claims.get("iss") != self.issuer):
            raise Unauthorized(INVALID_TOKEN)
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._remote_cache.get(digest)
        if cached and cached[1] > time.monotonic():
            user_id = cached[0]
        else:
            try:
                user = self.remote.user_for_token(token)
            except SupabaseAuthUnavailable as exc:
                log.warning("Supabase Auth unavailable to verify a token: %s", exc)
                raise Unauthorized(INVALID_TOKEN) from exc
            if user is None:
                raise Unauthorized(INVALID_TOKEN)
            user_id = str(user.get("id"))
            if len(self._remote_cache) > 10_000:
                self._remote_cache.clear()
            self._remote_cache[digest] = (user_id, time.monotonic() + self.remote_cache_seconds)
        if user_id != claims.get("sub"):
            raise Unauthorized(INVALID_TOKEN)
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        if claims.get("role") != AUDIENCE:
            raise Unauthorized(INVALID_TOKEN)
        try:
            user_id = str(uuid.UUID(str(claims["sub"])))
        except ValueError as exc:
            raise Unauthorized(INVALID_TOKEN) from exc
        is_anonymous = claims.get("is_anonymous") is True
        if is_anonymous and not self.allow_anonymous:
            raise Unauthorized("Necesitas una cuenta para usar Pizarra.")
        session_id = claims.get("session_id")
        email = claims.get("email")
        return Principal(
            user_id=user_id,
            email=email if isinstance(email, str) and email else None,
            session_id=str(session_id) if session_id else None,
            is_anonymous=is_anonymous,
            expires_at=int(claims["exp"]),
            claims=claims,
        )
