"""Request signing for Coinbase Advanced Trade: CDP JWT (ES256 / EdDSA) and legacy HMAC.

Secrets live only inside the signer objects; every error raised here names the env key or file that
was wrong and never the secret itself (COINBASE.md §2).

Pre-signed REST tokens (the order path): signing a JWT costs ~40-140 us, most of the adapter's time before
an order's bytes leave. The rule (COINBASE.md §2.1, from the SDK and the docs): a REST JWT carries a random
64-hex `nonce` in its header, lives 2 minutes (`nbf`..`exp`), names one `uri` ("METHOD host/path"), and
"a new one must be made for each request"; a token is therefore NEVER sent twice. What we do instead: for a
uri registered with `presign` (the REST client registers order creation), `CdpJwtSigner` keeps a small
stock of tokens signed ahead, each with its own nonce, each handed out at most once (taken from the stock
as it is used), and only while at least `PRESIGN_MIN_LIFE_S` (60 s) of its life is left; an empty or
stale stock means a token signed on the spot, exactly as before. `presign_step` refills the stock one
signature at a time, off the send path (the REST client runs it from the event loop after a request
returns and on a timer), and re-signs a token once it is `PRESIGN_REFRESH_AGE_S` old, so a fresh one is
normally waiting. A pre-signed token has the same claims as one signed on demand; only its `nbf` is older.
A uri registered with depth 0 keeps no stock: its tokens are all signed on the spot, and only counted
(`presign_stats["on_demand"]`), so the metrics show what signing ahead would save.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
from collections import deque
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
#: a pre-signed REST token is handed out only while at least this much of its life is left (s): well above
#: the clock skew preflight allows (30 s) plus the time a request takes
PRESIGN_MIN_LIFE_S = 60
#: a pre-signed token is re-signed in the background once this old (s), so a fresh one is normally waiting
PRESIGN_REFRESH_AGE_S = 30

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


class _Stock:
    """Tokens signed ahead for one uri, oldest first, as (nbf, token); each leaves the stock when used."""

    __slots__ = ("depth", "tokens", "uri")

    def __init__(self, uri: str, depth: int) -> None:
        self.uri = uri
        self.depth = depth
        self.tokens: deque[tuple[int, str]] = deque()

    def prune(self, now: float) -> int:
        """Drop the tokens unfit to hand out: too little life left, or an `nbf` after `now` (the wall clock
        went back, so the venue may not accept them yet). Returns how many were dropped."""
        tokens = self.tokens
        before = len(tokens)
        while tokens and now - tokens[0][0] > JWT_TTL_S - PRESIGN_MIN_LIFE_S:
            tokens.popleft()
        while tokens and tokens[-1][0] > now:
            tokens.pop()
        return before - len(tokens)


class CdpJwtSigner:
    """Signs a fresh short-lived JWT for every REST request and every WS (un)subscribe; tokens for a uri
    registered with `presign` are signed ahead of need and each used once (module docstring)."""

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
        self._stocks: dict[str, _Stock] = {}
        #: pre-signed tokens: signed ahead / handed out / dropped unused (too old, or replaced by a fresher one);
        #: tokens signed on the spot for a registered uri because none was ready (or its depth is 0)
        self.presign_stats = {"signed": 0, "used": 0, "retired": 0, "on_demand": 0}

    def __repr__(self) -> str:
        return f"CdpJwtSigner(key_name={self.key_name!r}, algorithm={self.algorithm})"

    def public_key_der(self) -> bytes:
        """The public half as DER SubjectPublicKeyInfo (what the exchange verifies with)."""
        return self._key.public_key_der()

    def build_jwt(self, uri: str | None = None) -> str:
        return self._jwt(uri, int(self._clock()))

    def _jwt(self, uri: str | None, now: int) -> str:
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
        uri = self.format_uri(method, host, path)
        stock = self._stocks.get(uri)
        if stock is not None:
            token = self._take(stock)
            if token is not None:
                return {"Authorization": f"Bearer {token}"}
            self.presign_stats["on_demand"] += 1
        return {"Authorization": f"Bearer {self.build_jwt(uri)}"}

    def ws_fields(self, channel: str, product_ids: Sequence[str]) -> dict[str, str]:
        return {"jwt": self.build_jwt(None)}

    # ------------------------------------------------------------------------- signed ahead
    def presign(self, method: str, host: str, path: str, depth: int) -> str:
        """Keep up to `depth` tokens for this request signed ahead (filled by `presign_step`); depth 0 keeps
        none and only counts the tokens signed on the spot. Returns the uri."""
        if depth < 0:
            raise ValueError(f"presign depth={depth} must be >= 0 (tokens kept signed ahead; 0: none, counted only)")
        uri = self.format_uri(method, host, path)
        stock = self._stocks.setdefault(uri, _Stock(uri, depth))
        stock.depth = max(stock.depth, depth)
        return uri

    def presigned(self, uri: str) -> int:
        """How many tokens for `uri` are ready to hand out now."""
        stock = self._stocks.get(uri)
        if stock is None:
            return 0
        self.presign_stats["retired"] += stock.prune(self._clock())
        return len(stock.tokens)

    def _take(self, stock: _Stock) -> str | None:
        """The oldest token still fit to send, removed from the stock (never handed out twice)."""
        if not stock.tokens:  # nothing to prune either (depth 0, or used up)
            return None
        self.presign_stats["retired"] += stock.prune(self._clock())
        if not stock.tokens:
            return None
        self.presign_stats["used"] += 1
        return stock.tokens.popleft()[1]

    def presign_step(self) -> float:
        """One signature of background work where it is most needed: fill a short stock, else re-sign the
        oldest token once it is PRESIGN_REFRESH_AGE_S old. Returns the seconds until the next step is due
        (0.0: due now; inf: nothing registered with a depth above 0)."""
        now = self._clock()
        oldest: _Stock | None = None
        for stock in self._stocks.values():
            if not stock.depth:
                continue
            self.presign_stats["retired"] += stock.prune(now)
            if len(stock.tokens) < stock.depth:
                self._sign_into(stock, now)
                return 0.0
            if oldest is None or stock.tokens[0][0] < oldest.tokens[0][0]:
                oldest = stock
        if oldest is None:
            return math.inf
        due = oldest.tokens[0][0] + PRESIGN_REFRESH_AGE_S - now
        if due > 0:
            return due
        oldest.tokens.popleft()
        self.presign_stats["retired"] += 1
        self._sign_into(oldest, now)
        return 0.0

    def _sign_into(self, stock: _Stock, now: float) -> None:
        nbf = int(now)
        stock.tokens.append((nbf, self._jwt(stock.uri, nbf)))
        self.presign_stats["signed"] += 1


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
