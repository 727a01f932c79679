"""Credential checks the way Coinbase does them: CDP JWT bearer tokens (ES256/EdDSA) and legacy HMAC.

The simulator must reject what the exchange rejects, or the live adapter's auth code is never exercised.
Both the official SDK's token shape and ccxt's variants (COINBASE.md §2.1) are accepted. Auth always uses
the real wall clock: clients sign with `time.time()`, whatever the simulated market clock says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ACCEPTED_ISSUERS = frozenset({"cdp", "coinbase-cloud"})
ACCEPTED_AUDIENCES = frozenset({"retail_rest_api_proxy", "cdp_service"})
KEY_TYPES = ("ec", "ed25519")


class AuthFailure(Exception):
    """Credentials refused. The message is for logs/tests and never contains secret material."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the engine account and the credential that proved it."""

    account_id: str
    key_id: str
    method: str  # "jwt" | "hmac"


@dataclass(frozen=True)
class CdpKey:
    name: str
    private_key: str  # exactly the text handed to clients (PEM or base64 seed)
    algorithm: str  # ES256 | EdDSA
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey = field(repr=False)
    account_id: str = ""

    def __repr__(self) -> str:
        return f"CdpKey(name={self.name!r}, algorithm={self.algorithm!r}, account_id={self.account_id!r})"


@dataclass(frozen=True)
class HmacKey:
    key: str
    secret: str = field(repr=False)
    account_id: str = ""


def new_key_name() -> str:
    return f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    """Parse a CDP secret as Coinbase issues it: EC SEC1/PKCS8 PEM, Ed25519 PEM, or base64 Ed25519 seed."""
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise ValueError(f"EC key must be P-256 (secp256r1), got {key.curve.name}")
            return key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
        raise ValueError(f"unsupported private key type {type(key).__name__}; allowed: EC P-256, Ed25519")
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("privateKey is neither PEM nor base64") from exc
    if len(raw) not in (32, 64):
        raise ValueError(f"base64 Ed25519 privateKey must decode to 32 or 64 bytes, got {len(raw)}")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])


def make_cdp_key(private_key_text: str, *, name: str | None = None, account_id: str = "") -> CdpKey:
    key = load_private_key(private_key_text)
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    return CdpKey(
        name=name or new_key_name(),
        private_key=private_key_text,
        algorithm=algorithm,
        public_key=key.public_key(),
        account_id=account_id,
    )


def generate_cdp_key(kind: str = "ec", *, name: str | None = None, account_id: str = "") -> CdpKey:
    """A fresh key in the format the CDP portal hands out (EC: SEC1 PEM; Ed25519: base64 seed||pubkey)."""
    if kind == "ec":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        text = ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
    elif kind == "ed25519":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        seed = ed_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pub = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        text = base64.b64encode(seed + pub).decode()
    else:
        raise ValueError(f"key kind {kind!r} not supported; allowed: {', '.join(KEY_TYPES)}")
    return make_cdp_key(text, name=name, account_id=account_id)


def load_cdp_key_file(path: str | Path, *, account_id: str = "") -> CdpKey:
    """Read a CDP key file: JSON with `name` (or `id`) and `privateKey`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read CDP key file {path}: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"CDP key file {path} must hold a JSON object with name and privateKey")
    name = data.get("name") or data.get("id")
    secret = data.get("privateKey")
    if not isinstance(name, str) or not name:
        raise ValueError(f"CDP key file {path}: missing 'name' (or 'id')")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"CDP key file {path}: missing 'privateKey'")
    return make_cdp_key(secret, name=name, account_id=account_id)


def generate_hmac_key(*, account_id: str = "") -> HmacKey:
    return HmacKey(key=secrets.token_hex(8), secret=secrets.token_urlsafe(24), account_id=account_id)


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str | bytes) -> str:
    body_text = body.decode() if isinstance(body, bytes) else body
    prehash = f"{timestamp}{method.upper()}{path}{body_text}"
    return hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).hexdigest()


def uri_path(uri: str) -> tuple[str, str]:
    """Split a JWT `uri` claim into (METHOD, path), dropping any scheme, host and query string."""
    method, sep, rest = uri.strip().partition(" ")
    if not sep or not rest:
        raise AuthFailure("uri claim is not '<METHOD> <host><path>'")
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return method.upper(), path.split("?", 1)[0]


class KeyStore:
    """The credentials the simulator accepts and the account each one acts for."""

    def __init__(self) -> None:
        self._cdp: dict[str, CdpKey] = {}
        self._hmac: dict[str, HmacKey] = {}

    def add_cdp(self, key: CdpKey) -> CdpKey:
        self._cdp[key.name] = key
        return key

    def add_hmac(self, key: HmacKey) -> HmacKey:
        self._hmac[key.key] = key
        return key

    def cdp(self, name: str) -> CdpKey | None:
        return self._cdp.get(name)

    def hmac_key(self, key: str) -> HmacKey | None:
        return self._hmac.get(key)

    @property
    def cdp_keys(self) -> list[CdpKey]:
        return list(self._cdp.values())

    @property
    def hmac_keys(self) -> list[HmacKey]:
        return list(self._hmac.values())


class Authenticator:
    """Verifies CDP JWTs and legacy HMAC signatures against a KeyStore."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        now: Callable[[], float] = time.time,
        jwt_leeway_s: float = 5.0,
        hmac_window_s: float = 30.0,
        max_jwt_lifetime_s: float = 300.0,
    ) -> None:
        self.keys = keys
        self._now = now
        self.jwt_leeway_s = jwt_leeway_s
        self.hmac_window_s = hmac_window_s
        self.max_jwt_lifetime_s = max_jwt_lifetime_s

    # ------------------------------------------------------------------------------------ JWT
    def verify_jwt(self, token: str, *, method: str | None = None, path: str | None = None) -> Principal:
        """Check signature, issuer, audience, time window and (for REST) the method+path binding."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"malformed JWT: {exc.__class__.__name__}") from exc
        kid = header.get("kid")
        alg = header.get("alg")
        if not isinstance(kid, str):
            raise AuthFailure("JWT header has no kid")
        key = self.keys.cdp(kid)
        if key is None:
            raise AuthFailure("unknown API key")
        if alg != key.algorithm:
            raise AuthFailure(f"JWT alg {alg!r} does not match key type {key.algorithm}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                options={"verify_exp": False, "verify_nbf": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"JWT signature invalid: {exc.__class__.__name__}") from exc
        self._check_claims(claims, kid)
        if method is not None and path is not None:
            self._check_uri(claims, method, path)
        return Principal(account_id=key.account_id, key_id=key.name, method="jwt")

    def _check_claims(self, claims: Mapping[str, Any], kid: str) -> None:
        if claims.get("iss") not in ACCEPTED_ISSUERS:
            raise AuthFailure(f"JWT iss must be one of {sorted(ACCEPTED_ISSUERS)}")
        if claims.get("sub") not in (None, kid):
            raise AuthFailure("JWT sub does not match kid")
        aud = claims.get("aud")
        if aud is not None:
            auds = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
            if not auds or not set(auds) <= ACCEPTED_AUDIENCES:
                raise AuthFailure(f"JWT aud must be within {sorted(ACCEPTED_AUDIENCES)}")
        now = self._now()
        exp = claims.get("exp")
        nbf = claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AuthFailure("JWT exp missing")
        if now >= exp + self.jwt_leeway_s:
            raise AuthFailure("JWT expired")
        if isinstance(nbf, int | float) and not isinstance(nbf, bool):
            if nbf > now + self.jwt_leeway_s:
                raise AuthFailure("JWT not yet valid")
            if exp - nbf > self.max_jwt_lifetime_s:
                raise AuthFailure("JWT lifetime too long")

    @staticmethod
    def _check_uri(claims: Mapping[str, Any], method: str, path: str) -> None:
        uri = claims.get("uri")
        if uri is None:
            uris = claims.get("uris")
            if isinstance(uris, list) and uris:
                uri = uris[0]
        if not isinstance(uri, str):
            raise AuthFailure("JWT has no uri claim")
        got_method, got_path = uri_path(uri)
        if got_method != method.upper() or got_path != path:
            raise AuthFailure("JWT uri does not match the request")

    # ----------------------------------------------------------------------------------- HMAC
    def verify_hmac(
        self, key_id: str, timestamp: str, signature: str, method: str, path: str, body: bytes
    ) -> Principal:
        key = self.keys.hmac_key(key_id)
        if key is None:
            raise AuthFailure("unknown API key")
        try:
            ts = int(timestamp)
        except ValueError as exc:
            raise AuthFailure("CB-ACCESS-TIMESTAMP is not integer seconds") from exc
        if abs(self._now() - ts) > self.hmac_window_s:
            raise AuthFailure("CB-ACCESS-TIMESTAMP outside the allowed window")
        expected = hmac_signature(key.secret, timestamp, method, path, body)
        if not hmac.compare_digest(expected, signature):
            raise AuthFailure("CB-ACCESS-SIGN mismatch")
        return Principal(account_id=key.account_id, key_id=key.key, method="hmac")

    def verify_ws_hmac(
        self, key_id: str, timestamp: str, signature: str, channel: str, product_ids: list[str]
    ) -> Principal:
        """ccxt-pro style legacy-key WS auth: HMAC(timestamp + channel + ','.join(product_ids))."""
        key = self.keys.hmac_key(key_id)
        if key is None:
            raise AuthFailure("unknown API key")
        try:
            ts = int(timestamp)
        except ValueError as exc:
            raise AuthFailure("timestamp is not integer seconds") from exc
        if abs(self._now() - ts) > self.hmac_window_s:
            raise AuthFailure("timestamp outside the allowed window")
        prehash = f"{timestamp}{channel}{','.join(product_ids)}"
        expected = hmac.new(key.secret.encode(), prehash.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise AuthFailure("signature mismatch")
        return Principal(account_id=key.account_id, key_id=key.key, method="hmac")

    # ----------------------------------------------------------------------------------- REST
    def authenticate_rest(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, query: str = ""
    ) -> Principal:
        """JWT (bound to METHOD + path) or legacy HMAC. A legacy key signs the path alone on v3 but the
        path with its query string on Coinbase App v2 (`/v2/accounts?limit=250`), as v2's docs and ccxt do."""
        auth = headers.get("Authorization") or headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise AuthFailure("Authorization must be 'Bearer <jwt>'")
            return self.verify_jwt(token.strip(), method=method, path=path)
        key_id = headers.get("CB-ACCESS-KEY")
        if key_id:
            ts = headers.get("CB-ACCESS-TIMESTAMP", "")
            sig = headers.get("CB-ACCESS-SIGN", "")
            signed_path = f"{path}?{query}" if query and path.startswith("/v2/") else path
            return self.verify_hmac(key_id, ts, sig, method, signed_path, body)
        raise AuthFailure("no credentials")
