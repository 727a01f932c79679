"""The profile's `coinbase:` section: every adapter setting, typed and bounded, in one place.

The slice owns its config (DESIGN.md §1.7); `orchestration.configuration.BotConfig` composes it and
`ConfigManager` maps each COINBASE_* env var onto a field, so a setting works the same from the
profile, `.env` or the real environment, and a bad value exits 2 naming the key. This module imports
nothing heavy: the config path stays lean on the mock venue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

#: Accepted spellings of `auth_type` (compared case-insensitively) -> the scheme they mean.
#: `JWT` is what the original setup notes say: CDP keys sign a JWT per request.
AUTH_TYPE_ALIASES: dict[str, str] = {"jwt": "cdp"}
AUTH_TYPES: tuple[str, ...] = ("cdp", "hmac")
CLIENT_SIDE_STOP_MODES: tuple[str, ...] = ("auto", "always", "never")

RequestsPerSecond = Annotated[float, msgspec.Meta(gt=0, le=1000)]
Attempts = Annotated[int, msgspec.Meta(ge=1, le=20)]
BackoffSeconds = Annotated[float, msgspec.Meta(gt=0, le=60)]
RecheckSeconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]
StaleSeconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]
#: 0 = never wait (a burst at start-up exits 1 at once); at most an hour
StartupWaitSeconds = Annotated[float, msgspec.Meta(ge=0, le=3600)]
#: order-creation JWTs kept signed ahead, each used once (0 = sign each order's token when it is sent)
PresignDepth = Annotated[int, msgspec.Meta(ge=0, le=50)]


def normalize_auth_type(raw: str) -> str:
    """`JWT` / `Cdp` / ` hmac ` -> `cdp` / `cdp` / `hmac`; anything else is returned lower-cased."""
    value = raw.strip().lower()
    return AUTH_TYPE_ALIASES.get(value, value)


def check_venue_urls(api_base_url: str, ws_url: str, ws_user_url: str) -> None:
    """REST over http(s), streams over ws(s); the error names the field."""
    for name, url, schemes in (
        ("api_base_url", api_base_url, ("http://", "https://")),
        ("ws_url", ws_url, ("ws://", "wss://")),
        ("ws_user_url", ws_user_url, ("ws://", "wss://")),
    ):
        if not url.startswith(schemes):
            raise ValueError(f"{name} must start with {' or '.join(schemes)}, got {url!r}")


class CoinbaseConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Coinbase adapter settings (profile `coinbase:`; env COINBASE_*). Holds no secrets.

    auth_type None: use the scheme of the keys given (CDP preferred). cdp_key_file is the path of the
    CDP portal's JSON key download (its contents are read only by the signer, never shown)."""

    api_mode: Literal["advanced"] = "advanced"
    auth_type: Literal["cdp", "hmac"] | None = None
    enable_derivatives: bool = False
    api_base_url: str = "https://api.coinbase.com"
    ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    ws_user_url: str = "wss://advanced-trade-ws-user.coinbase.com"
    cdp_key_file: str | None = None
    ca_bundle: str | None = None  # PEM file of CAs to trust (e.g. the simulator's --tls cert)
    rate_limit_private: RequestsPerSecond = 30.0
    rate_limit_public: RequestsPerSecond = 10.0
    stale_after_s: StaleSeconds = 30.0
    client_side_stops: Literal["auto", "always", "never"] = "auto"
    intx_detect_attempts: Attempts = 3
    intx_detect_backoff_s: BackoffSeconds = 0.5
    intx_recheck_s: RecheckSeconds = 60.0
    #: total seconds start-up waits out a 429/5xx/timeout burst (Retry-After honoured) before exit 1
    startup_wait_s: StartupWaitSeconds = 300.0
    #: order-creation JWTs signed ahead with a CDP key (each used once; ~0.1 ms off every order's send)
    presign_depth: PresignDepth = 10

    def __post_init__(self) -> None:
        check_venue_urls(self.api_base_url, self.ws_url, self.ws_user_url)
        for name, path in (("ca_bundle", self.ca_bundle), ("cdp_key_file", self.cdp_key_file)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} must name an existing file, got {path!r}")
