"""Adapter settings: the profile's `coinbase:` section (CoinbaseConfig) plus a signer, as one object.

There is one env parser, `orchestration.configuration.ConfigManager`: it maps every COINBASE_* variable
onto `CoinbaseConfig` (profile_config.py). This module never reads the environment; it turns a parsed
CoinbaseConfig and the credentials into the settings the broker runs on.
"""

from __future__ import annotations

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
from gpt_trader.features.brokerages.coinbase.profile_config import (
    CLIENT_SIDE_STOP_MODES,
    CoinbaseConfig,
    check_venue_urls,
)

_DEFAULT = CoinbaseConfig()
_SECRET_ATTRS = (
    (ENV_CDP_KEY, "cdp_api_key"),
    (ENV_CDP_SECRET, "cdp_private_key"),
    (ENV_HMAC_KEY, "api_key"),
    (ENV_HMAC_SECRET, "api_secret"),
)


@dataclass
class CoinbaseSettings:
    """What CoinbaseBroker runs on. Build it with `from_config` / `from_bot_config`; the plain
    constructor (defaults from CoinbaseConfig) is for tests and tools that need no profile."""

    api_base_url: str = _DEFAULT.api_base_url
    ws_url: str = _DEFAULT.ws_url
    ws_user_url: str = _DEFAULT.ws_user_url
    signer: Signer | None = field(default=None, repr=False)
    enable_derivatives: bool = _DEFAULT.enable_derivatives
    ca_bundle: str | None = _DEFAULT.ca_bundle
    private_rps: float = _DEFAULT.rate_limit_private
    public_rps: float = _DEFAULT.rate_limit_public
    stale_after_s: float = _DEFAULT.stale_after_s
    client_side_stops: str = _DEFAULT.client_side_stops
    request_timeout_s: float = 10.0
    confirm_orders: bool = True
    intx_detect_attempts: int = _DEFAULT.intx_detect_attempts
    intx_detect_backoff_s: float = _DEFAULT.intx_detect_backoff_s
    intx_recheck_s: float = _DEFAULT.intx_recheck_s
    presign_depth: int = _DEFAULT.presign_depth

    def __post_init__(self) -> None:
        # Values from ConfigManager are already checked; this guards direct construction.
        if self.intx_detect_attempts < 1:
            raise ValueError(f"intx_detect_attempts={self.intx_detect_attempts} must be >= 1")
        if self.presign_depth < 0:
            raise ValueError(f"presign_depth={self.presign_depth} must be >= 0 (0: no tokens signed ahead)")
        for name in ("intx_detect_backoff_s", "intx_recheck_s", "stale_after_s", "private_rps", "public_rps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be > 0")
        if self.client_side_stops not in CLIENT_SIDE_STOP_MODES:
            raise ValueError(
                f"client_side_stops={self.client_side_stops!r} is not allowed; "
                f"allowed: {', '.join(CLIENT_SIDE_STOP_MODES)}"
            )
        check_venue_urls(self.api_base_url, self.ws_url, self.ws_user_url)

    @classmethod
    def from_config(cls, cb: CoinbaseConfig, credentials: Any, *, require_credentials: bool = True) -> CoinbaseSettings:
        """A parsed `coinbase:` section + Credentials. With no credentials and `require_credentials`
        False the settings have no signer (public market data only)."""
        secrets: dict[str, str] = {}
        for key, attr in _SECRET_ATTRS:
            value = getattr(credentials, attr, None)
            if value:
                secrets[key] = value
        if cb.cdp_key_file:
            secrets[ENV_CDP_KEY_FILE] = cb.cdp_key_file
        if secrets and cb.auth_type is not None:  # with no keys at all, "no credentials" is the error
            secrets[ENV_AUTH_TYPE] = cb.auth_type
        return cls(
            api_base_url=cb.api_base_url,
            ws_url=cb.ws_url,
            ws_user_url=cb.ws_user_url,
            signer=load_signer(secrets, required=require_credentials),
            enable_derivatives=cb.enable_derivatives,
            ca_bundle=cb.ca_bundle,
            private_rps=cb.rate_limit_private,
            public_rps=cb.rate_limit_public,
            stale_after_s=cb.stale_after_s,
            client_side_stops=cb.client_side_stops,
            intx_detect_attempts=cb.intx_detect_attempts,
            intx_detect_backoff_s=cb.intx_detect_backoff_s,
            intx_recheck_s=cb.intx_recheck_s,
            presign_depth=cb.presign_depth,
        )

    @classmethod
    def from_bot_config(cls, config: Any, credentials: Any, *, require_credentials: bool = True) -> CoinbaseSettings:
        """The orchestrator's BotConfig (`config.coinbase`) + Credentials."""
        return cls.from_config(config.coinbase, credentials, require_credentials=require_credentials)
