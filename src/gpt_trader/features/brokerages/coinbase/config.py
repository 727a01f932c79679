"""Adapter settings from the environment (or the bot's config), validated at start-up.

Env keys: COINBASE_API_BASE_URL, COINBASE_WS_URL, COINBASE_WS_USER_URL, COINBASE_ENABLE_DERIVATIVES,
COINBASE_AUTH_TYPE + credentials (see `auth`), COINBASE_CA_BUNDLE (trust a local TLS cert, e.g. the
simulator's), COINBASE_RATE_LIMIT_PRIVATE / _PUBLIC (req/s), COINBASE_STALE_AFTER_S,
COINBASE_CLIENT_SIDE_STOPS (auto|always|never), COINBASE_INTX_DETECT_ATTEMPTS /
COINBASE_INTX_DETECT_BACKOFF_S (start-up INTX probes on transient failures, doubling backoff) and
COINBASE_INTX_RECHECK_S (first re-check delay while access stays unverified; doubles up to 8x).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpt_trader.features.brokerages.coinbase.auth import (
    ENV_AUTH_TYPE,
    ENV_CDP_KEY,
    ENV_CDP_KEY_FILE,
    ENV_CDP_SECRET,
    ENV_HMAC_KEY,
    ENV_HMAC_SECRET,
    Signer,
    load_signer,
)
from gpt_trader.features.brokerages.coinbase.rate_limit import DEFAULT_PRIVATE_RPS, DEFAULT_PUBLIC_RPS
from gpt_trader.features.brokerages.coinbase.rest import DEFAULT_BASE_URL
from gpt_trader.features.brokerages.coinbase.ws import DEFAULT_WS_URL, DEFAULT_WS_USER_URL

CLIENT_SIDE_STOP_MODES = ("auto", "always", "never")
_AUTH_KEYS = frozenset({ENV_AUTH_TYPE, ENV_CDP_KEY, ENV_CDP_SECRET, ENV_CDP_KEY_FILE, ENV_HMAC_KEY, ENV_HMAC_SECRET})
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _bool(env: Mapping[str, str], key: str, default: bool = False) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{key}={raw!r} is not a boolean; allowed: 1/0, true/false, yes/no, on/off")


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{key}={raw!r} must be > 0")
    return value


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"{key}={raw!r} must be >= 1")
    return value


@dataclass
class CoinbaseSettings:
    api_base_url: str = DEFAULT_BASE_URL
    ws_url: str = DEFAULT_WS_URL
    ws_user_url: str = DEFAULT_WS_USER_URL
    signer: Signer | None = field(default=None, repr=False)
    enable_derivatives: bool = False
    ca_bundle: str | None = None
    private_rps: float = DEFAULT_PRIVATE_RPS
    public_rps: float = DEFAULT_PUBLIC_RPS
    stale_after_s: float = 30.0
    client_side_stops: str = "auto"
    request_timeout_s: float = 10.0
    confirm_orders: bool = True
    intx_detect_attempts: int = 3
    intx_detect_backoff_s: float = 0.5
    intx_recheck_s: float = 60.0

    def __post_init__(self) -> None:
        if self.intx_detect_attempts < 1:
            raise ValueError(f"COINBASE_INTX_DETECT_ATTEMPTS={self.intx_detect_attempts} must be >= 1")
        for key, seconds in (
            ("COINBASE_INTX_DETECT_BACKOFF_S", self.intx_detect_backoff_s),
            ("COINBASE_INTX_RECHECK_S", self.intx_recheck_s),
        ):
            if seconds <= 0:
                raise ValueError(f"{key}={seconds} must be > 0")
        if self.client_side_stops not in CLIENT_SIDE_STOP_MODES:
            raise ValueError(
                f"COINBASE_CLIENT_SIDE_STOPS={self.client_side_stops!r} is not allowed; "
                f"allowed: {', '.join(CLIENT_SIDE_STOP_MODES)}"
            )
        for key, url, schemes in (
            ("COINBASE_API_BASE_URL", self.api_base_url, ("http://", "https://")),
            ("COINBASE_WS_URL", self.ws_url, ("ws://", "wss://")),
            ("COINBASE_WS_USER_URL", self.ws_user_url, ("ws://", "wss://")),
        ):
            if not url.startswith(schemes):
                raise ValueError(f"{key}={url!r} must start with {' or '.join(schemes)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_credentials: bool = True) -> CoinbaseSettings:
        e = os.environ if env is None else env
        return cls(
            api_base_url=e.get("COINBASE_API_BASE_URL") or DEFAULT_BASE_URL,
            ws_url=e.get("COINBASE_WS_URL") or DEFAULT_WS_URL,
            ws_user_url=e.get("COINBASE_WS_USER_URL") or DEFAULT_WS_USER_URL,
            signer=load_signer(e, required=require_credentials),
            enable_derivatives=_bool(e, "COINBASE_ENABLE_DERIVATIVES"),
            ca_bundle=e.get("COINBASE_CA_BUNDLE") or None,
            private_rps=_float(e, "COINBASE_RATE_LIMIT_PRIVATE", DEFAULT_PRIVATE_RPS),
            public_rps=_float(e, "COINBASE_RATE_LIMIT_PUBLIC", DEFAULT_PUBLIC_RPS),
            stale_after_s=_float(e, "COINBASE_STALE_AFTER_S", 30.0),
            client_side_stops=(e.get("COINBASE_CLIENT_SIDE_STOPS") or "auto").strip().lower(),
            intx_detect_attempts=_int(e, "COINBASE_INTX_DETECT_ATTEMPTS", 3),
            intx_detect_backoff_s=_float(e, "COINBASE_INTX_DETECT_BACKOFF_S", 0.5),
            intx_recheck_s=_float(e, "COINBASE_INTX_RECHECK_S", 60.0),
        )

    @classmethod
    def from_bot_config(cls, config: Any, credentials: Any, env: Mapping[str, str] | None = None) -> CoinbaseSettings:
        """The orchestrator's BotConfig (`config.coinbase.*`) + Credentials; other knobs from env."""
        e = dict(os.environ if env is None else env)
        cb = config.coinbase
        secrets: dict[str, str] = {"COINBASE_AUTH_TYPE": str(cb.auth_type)}
        for key, attr in (
            ("COINBASE_PROD_CDP_API_KEY", "cdp_api_key"),
            ("COINBASE_PROD_CDP_PRIVATE_KEY", "cdp_private_key"),
            ("COINBASE_API_KEY", "api_key"),
            ("COINBASE_API_SECRET", "api_secret"),
        ):
            value = getattr(credentials, attr, None)
            if value:
                secrets[key] = value
        if "COINBASE_CDP_KEY_FILE" in e:
            secrets["COINBASE_CDP_KEY_FILE"] = e["COINBASE_CDP_KEY_FILE"]
        has_cdp = ENV_CDP_KEY in secrets or ENV_CDP_KEY_FILE in secrets
        has_hmac = ENV_HMAC_KEY in secrets
        if ENV_AUTH_TYPE not in e and (
            (cb.auth_type == "cdp" and not has_cdp) or (cb.auth_type == "hmac" and not has_hmac)
        ):
            del secrets[ENV_AUTH_TYPE]  # the profile default does not match the keys given: infer from them
        signer = load_signer(secrets, required=True)
        base = cls.from_env({k: v for k, v in e.items() if k not in _AUTH_KEYS}, require_credentials=False)
        base.api_base_url = cb.api_base_url
        base.ws_url = cb.ws_url
        base.ws_user_url = cb.ws_user_url
        base.enable_derivatives = bool(cb.enable_derivatives)
        base.signer = signer
        base.__post_init__()
        return base
