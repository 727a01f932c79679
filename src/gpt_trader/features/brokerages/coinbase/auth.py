"""Request signing for Coinbase Advanced Trade: CDP JWT (ES256 / EdDSA) and legacy HMAC.

Secrets live only inside the signer objects; every error raised here names the env key or file that
was wrong and never the secret itself (COINBASE.md §2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from gpt_trader.features.brokerages.coinbase.jws_keys import (
    Backend,
    KeyMaterialError,
    SigningKey,
    key_from_ed25519_seed,
    key_from_pem,
)
from gpt_trader.features.brokerages.coinbase.profile_config import AUTH_TYPES, normalize_auth_type
from gpt_trader.features.brokerages.core.interfaces import AuthError
from gpt_trader.secret_files import exposure

JWT_TTL_S = 120

ENV_AUTH_TYPE = "COINBASE_AUTH_TYPE"
ENV_CDP_KEY = "COINBASE_PROD_CDP_API_KEY"
ENV_CDP_SECRET = "COINBASE_PROD_CDP_PRIVATE_KEY"
ENV_CDP_KEY_FILE = "COINBASE_CDP_KEY_FILE"
ENV_HMAC_KEY = "COINBASE_API_KEY"
ENV_HMAC_SECRET = "COINBASE_API_SECRET"


class CredentialError(AuthError):
    """Start-up configuration error for credentials. The message names keys, never values."""


class Signer(Protocol):
    """What the REST and WS clients need from a credential."""

    kind: str

    def rest_headers(self, method: str, host: str, path: str, body: bytes) -> dict[str, str]: ...

    def ws_fields(self, channel: str, product_ids: Sequence[str]) -> dict[str, str]: ...


# ----------------------------------------------------------------------------------------- CDP JWT
def _load_private_key(material: str, source: str, backend: Backend | None = None) -> SigningKey:
    """The signing key (its `algorithm` is ES256 or EdDSA). `source` names where the key came from, for errors."""
    text = material.strip().replace("\\n", "\n")
    if not text:
        raise CredentialError(f"{source} is empty; expected a PEM private key or a base64 Ed25519 seed")
    if text.startswith("-----BEGIN"):
        try:
            return key_from_pem(text.encode(), backend)
        except KeyMaterialError as exc:
            raise CredentialError(f"{source} {exc}") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{source} is neither PEM nor base64; expected a PEM key or an Ed25519 seed") from None
    if len(raw) not in (32, 64):
        raise CredentialError(
            f"{source} decodes to {len(raw)} bytes; an Ed25519 key must be 32 (seed) or 64 (seed||public) bytes"
        )
    try:
        return key_from_ed25519_seed(raw[:32], backend)
    except KeyMaterialError as exc:
        raise CredentialError(f"{source} {exc}") from None


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_json(obj: Mapping[str, object]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


class CdpJwtSigner:
    """Signs a fresh short-lived JWT for every REST request and every WS (un)subscribe."""

    kind = "cdp"

    def __init__(
        self,
        key_name: str,
        private_key: str,
        *,
        source: str = ENV_CDP_SECRET,
        clock: Callable[[], float] = time.time,
        backend: Backend | None = None,
    ) -> None:
        if not key_name.strip():
            raise CredentialError(f"{ENV_CDP_KEY} (the key name, organizations/.../apiKeys/...) is empty")
        self.key_name = key_name.strip()
        self._key = _load_private_key(private_key, source, backend)
        self.algorithm = self._key.algorithm
        self._clock = clock

    def __repr__(self) -> str:
        return f"CdpJwtSigner(key_name={self.key_name!r}, algorithm={self.algorithm})"

    def public_key_der(self) -> bytes:
        """The public half as DER SubjectPublicKeyInfo (what the exchange verifies with)."""
        return self._key.public_key_der()

    def build_jwt(self, uri: str | None = None) -> str:
        now = int(self._clock())
        claims: dict[str, object] = {"sub": self.key_name, "iss": "cdp", "nbf": now, "exp": now + JWT_TTL_S}
        if uri is not None:
            claims["uri"] = uri
        header = {"alg": self.algorithm, "typ": "JWT", "kid": self.key_name, "nonce": secrets.token_hex()}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}".encode()
        # The key signs in JWS form itself (jws_keys: OpenSSL's EVP API; PyJWT would load every key type
        # and X.509, +4 MB in the bot).
        return f"{signing_input.decode()}.{_b64url(self._key.sign(signing_input))}"

    @staticmethod
    def format_uri(method: str, host: str, path: str) -> str:
        """`METHOD host/path`: no scheme, no query (COINBASE.md §2.1)."""
        return f"{method.upper()} {host}{path.split('?', 1)[0]}"

    def rest_headers(self, method: str, host: str, path: str, body: bytes) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.build_jwt(self.format_uri(method, host, path))}"}

    def ws_fields(self, channel: str, product_ids: Sequence[str]) -> dict[str, str]:
        return {"jwt": self.build_jwt(None)}


def load_cdp_key_file(path: str | Path) -> CdpJwtSigner:
    """The CDP portal's JSON download: `{"name"|"id", "privateKey", ...}`."""
    p = Path(path)
    problem = exposure(p)
    if problem:
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: {problem}")
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: key file {p} does not exist") from None
    except (OSError, ValueError):
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: key file {p} is not readable JSON") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: key file {p} must hold a JSON object")
    name = data.get("name") or data.get("id")
    secret = data.get("privateKey")
    if not isinstance(name, str) or not name:
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: key file {p} lacks 'name' (or 'id')")
    if not isinstance(secret, str) or not secret:
        raise CredentialError(f"{ENV_CDP_KEY_FILE}: key file {p} lacks 'privateKey'")
    return CdpJwtSigner(name, secret, source=f"{ENV_CDP_KEY_FILE} ({p.name}) privateKey")


# -------------------------------------------------------------------------------------------- HMAC
class HmacSigner:
    """Legacy API key: hex HMAC-SHA256 over timestamp + METHOD + path (no query) + body."""

    kind = "hmac"

    def __init__(self, api_key: str, api_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        if not api_key.strip():
            raise CredentialError(f"{ENV_HMAC_KEY} is empty")
        if not api_secret.strip():
            raise CredentialError(f"{ENV_HMAC_SECRET} is empty")
        self.api_key = api_key.strip()
        self._secret = api_secret.strip().encode()
        self._clock = clock

    def __repr__(self) -> str:
        return f"HmacSigner(api_key={self.api_key[:4]}...)"

    def sign(self, timestamp: str, method: str, path: str, body: str | bytes = b"") -> str:
        body_b = body.encode() if isinstance(body, str) else body
        prehash = timestamp.encode() + method.upper().encode() + path.split("?", 1)[0].encode() + body_b
        return hmac.new(self._secret, prehash, hashlib.sha256).hexdigest()

    def rest_headers(self, method: str, host: str, path: str, body: bytes) -> dict[str, str]:
        ts = str(int(self._clock()))
        return {
            "CB-ACCESS-KEY": self.api_key,
            "CB-ACCESS-TIMESTAMP": ts,
            "CB-ACCESS-SIGN": self.sign(ts, method, path, body),
        }

    def ws_fields(self, channel: str, product_ids: Sequence[str]) -> dict[str, str]:
        ts = str(int(self._clock()))
        msg = (ts + channel + ",".join(product_ids)).encode()
        return {
            "api_key": self.api_key,
            "timestamp": ts,
            "signature": hmac.new(self._secret, msg, hashlib.sha256).hexdigest(),
        }


# --------------------------------------------------------------------------------------------- env
def load_signer(env: Mapping[str, str], *, required: bool = True) -> Signer | None:
    """Build the signer the env describes. With no credentials at all: None, or an error if required."""
    auth_type = normalize_auth_type(env.get(ENV_AUTH_TYPE, ""))
    has_cdp = bool(env.get(ENV_CDP_KEY) or env.get(ENV_CDP_SECRET) or env.get(ENV_CDP_KEY_FILE))
    has_hmac = bool(env.get(ENV_HMAC_KEY) or env.get(ENV_HMAC_SECRET))
    if not auth_type:
        auth_type = "cdp" if has_cdp else "hmac" if has_hmac else ""
    if not auth_type:
        if required:
            raise CredentialError(
                f"no Coinbase credentials: set {ENV_AUTH_TYPE}=cdp with {ENV_CDP_KEY} and {ENV_CDP_SECRET} "
                f"(or {ENV_CDP_KEY_FILE}), or {ENV_AUTH_TYPE}=hmac with {ENV_HMAC_KEY} and {ENV_HMAC_SECRET}"
            )
        return None
    if auth_type not in AUTH_TYPES:
        raise CredentialError(
            f"{ENV_AUTH_TYPE}={auth_type!r} is not allowed; allowed values: {', '.join(AUTH_TYPES)} (jwt = cdp)"
        )
    if auth_type == "cdp":
        key_file = env.get(ENV_CDP_KEY_FILE, "").strip()
        if key_file:
            return load_cdp_key_file(key_file)
        name, secret = env.get(ENV_CDP_KEY, ""), env.get(ENV_CDP_SECRET, "")
        if not name:
            raise CredentialError(f"{ENV_AUTH_TYPE}=cdp but {ENV_CDP_KEY} is not set (or set {ENV_CDP_KEY_FILE})")
        if not secret:
            raise CredentialError(f"{ENV_AUTH_TYPE}=cdp but {ENV_CDP_SECRET} is not set (or set {ENV_CDP_KEY_FILE})")
        return CdpJwtSigner(name, secret)
    key, secret = env.get(ENV_HMAC_KEY, ""), env.get(ENV_HMAC_SECRET, "")
    if not key:
        raise CredentialError(f"{ENV_AUTH_TYPE}=hmac but {ENV_HMAC_KEY} is not set")
    if not secret:
        raise CredentialError(f"{ENV_AUTH_TYPE}=hmac but {ENV_HMAC_SECRET} is not set")
    return HmacSigner(key, secret)
