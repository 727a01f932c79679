"""Typed, validated bot configuration: profile file < environment (.env, then real env) < CLI.

A bad value never starts the bot: `ConfigError` names the key, the value, where it came from and what
is allowed; the CLI turns it into exit code 2. Secrets live in `Credentials`, never in `BotConfig`, and
are never echoed.
"""

from __future__ import annotations

import json
import math
import os
import re
import typing
from collections.abc import Mapping
from datetime import time
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from gpt_trader.errors import ConfigError
from gpt_trader.features.brokerages.coinbase.profile_config import CoinbaseConfig, normalize_auth_type
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.strategies.base import Exits
from gpt_trader.features.live_trade.tiers import TierTable
from gpt_trader.features.monitor.config import PAGERDUTY_EVENTS_URL, AlertsConfig, AlertSecrets, MonitoringConfig
from gpt_trader.orchestration.limit_entry import EntryConfig
from gpt_trader.secret_files import exposure

PROFILES = ("dev", "canary", "prod", "demo")
BrokerKind = Literal["mock", "coinbase", "paper"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
SizingMethod = Literal["fixed_size", "fixed_notional", "fraction_of_equity", "volatility_target", "kelly"]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class TradingWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start: str
    end: str

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if not _HHMM.match(value):
                raise ValueError(f"{name} must be HH:MM (UTC, 00:00-23:59), got {value!r}")

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


GRANULARITIES_S = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 86400)


class StrategyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str = "baseline"
    params: dict[str, Any] = {}
    granularity_s: int = 60  # bar size the strategy decides on (Coinbase candle granularities)

    def __post_init__(self) -> None:
        if self.granularity_s not in GRANULARITIES_S:
            raise ValueError(f"granularity_s must be one of {list(GRANULARITIES_S)}, got {self.granularity_s}")
        from gpt_trader.features.live_trade.strategies import get_strategy

        get_strategy(self.name, **self.params)  # unknown name, bad parameter or unusable model: refuse now


class RegimeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which detector classifies each symbol's regime live: `rules`, or `hmm` with an exported model
    (`perps-bot regime --detector hmm --save-model FILE`)."""

    detector: Literal["rules", "hmm"] = "rules"
    model: str | None = None

    def __post_init__(self) -> None:
        from gpt_trader.features.live_trade.regime import make_detector

        make_detector(self.detector, self.model)  # a missing or unusable model file: refuse now


class SizingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    method: SizingMethod = "fixed_size"
    sizes: dict[str, Decimal] = {}  # base units per symbol (fixed_size)
    default_size: Decimal | None = None
    notional: Decimal | None = None  # USD per order (fixed_notional)
    fraction: Decimal | None = None  # of equity (fraction_of_equity), 0..1
    target_volatility: Decimal | None = None  # annualized, volatility_target
    kelly_fraction: Decimal = Decimal("0.5")
    kelly_min_trades: PositiveInt = 20

    def __post_init__(self) -> None:
        for sym, size in self.sizes.items():
            if size <= 0:
                raise ValueError(f"sizes must be > 0, got {sym}: {size}")
        if self.fraction is not None and not Decimal(0) < self.fraction <= Decimal(1):
            raise ValueError(f"fraction must be between 0 (excluded) and 1, got {self.fraction}")
        if not Decimal(0) < self.kelly_fraction <= Decimal(1):
            raise ValueError(f"kelly_fraction must be between 0 (excluded) and 1, got {self.kelly_fraction}")
        if self.notional is not None and self.notional <= 0:
            raise ValueError(f"notional must be > 0, got {self.notional}")


class MockConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seed: int = 42
    starting_cash: Decimal = Decimal("100000")
    market_step_s: PositiveFloat = 60.0
    #: true: the synthetic market is `seed`'s, the same every run; false: a fresh seed per run (shown in the
    #: start-up notices, so a session worth replaying can be rerun with `mock.seed`)
    deterministic: bool = True
    maker_fee_rate: Decimal | None = None
    taker_fee_rate: Decimal | None = None


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    starting_cash: Decimal = Decimal("10000")


class ShutdownConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cancel_open_orders: bool = True


class ReconciliationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Start-up and periodic reconciliation with the exchange (orchestration/reconciliation.py).

    unknown_orders: adopt exchange orders the store never saw (track them, count their fills as the
    bot's) or only flag them. resend_max_age_s: an intent the exchange never received is resent (same
    client_order_id) only while younger than this; older ones are marked FAILED (a stale decision)."""

    unknown_orders: Literal["adopt", "flag"] = "flag"
    resend_max_age_s: PositiveFloat = 120.0
    fill_lookback_s: PositiveFloat = 300.0
    position_tolerance: Decimal = Decimal(0)
    periodic_every_cycles: PositiveInt = 10
    lookup_attempts: PositiveInt = 3

    def __post_init__(self) -> None:
        # also checked here, not only by the annotations: code builds this struct directly too
        if self.unknown_orders not in ("adopt", "flag"):
            raise ValueError(f"unknown_orders must be 'adopt' or 'flag', got {self.unknown_orders!r}")
        for name in ("periodic_every_cycles", "lookup_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.position_tolerance < 0:
            raise ValueError(f"position_tolerance must be >= 0, got {self.position_tolerance}")


class BotConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    profile: str
    broker: BrokerKind = "mock"
    symbols: list[str]
    bot_id: str = "gpt-trader"
    cycle_interval_s: PositiveFloat = 5.0
    cycles: PositiveInt | None = None
    dev_fast: bool = False
    dry_run: bool = False
    log_level: LogLevel = "INFO"
    trading_window: TradingWindow | None = None
    strategy: StrategyConfig = StrategyConfig()
    sizing: SizingConfig = SizingConfig()
    risk: RiskConfig = RiskConfig()
    mock: MockConfig = MockConfig()
    paper: PaperConfig = PaperConfig()
    coinbase: CoinbaseConfig = CoinbaseConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    #: protective exits placed at the venue on every entry fill when the decision carries none
    exits: Exits | None = None
    #: how entries are sent: market IOC (default) or a resting limit that re-prices and times out
    entry: EntryConfig = EntryConfig()
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    regime: RegimeSettings = RegimeSettings()
    tiers: TierTable | None = None  # equity tiers (live_trade/tiers.py): when set, they size entries
    monitoring: MonitoringConfig = MonitoringConfig()
    alerts: AlertsConfig = AlertsConfig()
    spot_force_live: bool = False
    perps_paper: bool = False
    data_root: str = "var/data"
    log_dir: str = "var/logs"
    health_file: str | None = None
    #: on a streaming venue (coinbase, paper) run on its WebSocket streams; False: the REST poll loop
    streams: bool = True
    #: how a committed order intent is made durable before its order is sent. "full": fsynced at every
    #: commit (survives power loss before the send; a commit costs one disk flush, ~0.5 ms here, tens of
    #: ms when the disk is busy). "normal": the commit reaches the OS (survives a crash or kill of the bot)
    #: and the disk is flushed in a worker thread right after the round's orders leave (a power loss in
    #: those milliseconds can lose an intent; reconciliation then finds the order by client_order_id).
    store_sync: Literal["full", "normal"] = "full"

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must list at least one product, e.g. [BTC-USD]")
        for sym in self.symbols:
            if not re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+(-[A-Z0-9]+)?", sym):
                raise ValueError(f"symbols entries look like BTC-USD or BTC-PERP-INTX, got {sym!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols has duplicates: {self.symbols}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", self.bot_id):
            raise ValueError(f"bot_id must be 1-40 of [A-Za-z0-9_.-], got {self.bot_id!r}")

    # ---- derived paths (var/ is git-ignored)
    @property
    def store_dir(self) -> Path:
        return Path(self.data_root) / self.profile

    @property
    def metrics_dir(self) -> Path:
        return Path(self.data_root) / "perps_bot" / self.profile

    @property
    def health_path(self) -> Path:
        return Path(self.health_file) if self.health_file else self.metrics_dir / "health.json"

    def redacted(self) -> dict[str, Any]:
        """The config as a plain dict (BotConfig holds no secrets; safe to log and snapshot)."""
        return typing.cast(dict[str, Any], json.loads(msgspec.json.encode(self)))


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """Exchange secrets from the environment. repr never shows values."""

    cdp_api_key: str | None = None
    cdp_private_key: str | None = None
    api_key: str | None = None
    api_secret: str | None = None

    def __repr__(self) -> str:
        present = [f for f in self.__struct_fields__ if getattr(self, f)]
        return f"Credentials(present={present})"

    __str__ = __repr__

    @property
    def has_cdp(self) -> bool:
        return bool(self.cdp_api_key and self.cdp_private_key)

    @property
    def has_hmac(self) -> bool:
        return bool(self.api_key and self.api_secret)


# ------------------------------------------------------------------------------------ env overrides
#: env var -> (dotted config key, kind)
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "RISK_MAX_DAILY_LOSS_PCT": ("risk.max_daily_loss_pct", "decimal"),
    "RISK_REDUCE_ONLY_MODE": ("risk.reduce_only_mode", "bool"),
    "RISK_MAX_LEVERAGE": ("risk.max_leverage", "decimal"),
    "COINBASE_API_MODE": ("coinbase.api_mode", "str"),
    "COINBASE_AUTH_TYPE": ("coinbase.auth_type", "choice"),
    "COINBASE_ENABLE_DERIVATIVES": ("coinbase.enable_derivatives", "bool"),
    "COINBASE_API_BASE_URL": ("coinbase.api_base_url", "str"),
    "COINBASE_WS_URL": ("coinbase.ws_url", "str"),
    "COINBASE_WS_USER_URL": ("coinbase.ws_user_url", "str"),
    "COINBASE_CDP_KEY_FILE": ("coinbase.cdp_key_file", "str"),
    "COINBASE_CA_BUNDLE": ("coinbase.ca_bundle", "str"),
    "COINBASE_RATE_LIMIT_PRIVATE": ("coinbase.rate_limit_private", "float"),
    "COINBASE_RATE_LIMIT_PUBLIC": ("coinbase.rate_limit_public", "float"),
    "COINBASE_STALE_AFTER_S": ("coinbase.stale_after_s", "float"),
    "COINBASE_CLIENT_SIDE_STOPS": ("coinbase.client_side_stops", "choice"),
    "COINBASE_INTX_DETECT_ATTEMPTS": ("coinbase.intx_detect_attempts", "int"),
    "COINBASE_INTX_DETECT_BACKOFF_S": ("coinbase.intx_detect_backoff_s", "float"),
    "COINBASE_INTX_RECHECK_S": ("coinbase.intx_recheck_s", "float"),
    "COINBASE_STARTUP_WAIT_S": ("coinbase.startup_wait_s", "float"),
    "COINBASE_PRESIGN_DEPTH": ("coinbase.presign_depth", "int"),
    "SPOT_FORCE_LIVE": ("spot_force_live", "bool"),
    "PERPS_PAPER": ("perps_paper", "bool"),
    "GPT_TRADER_RECONCILE_UNKNOWN_ORDERS": ("reconciliation.unknown_orders", "str"),
    "GPT_TRADER_RECONCILE_EVERY_CYCLES": ("reconciliation.periodic_every_cycles", "int"),
    "GPT_TRADER_RECONCILE_RESEND_MAX_AGE_S": ("reconciliation.resend_max_age_s", "float"),
    "GPT_TRADER_METRICS_PORT": ("monitoring.metrics_port", "int"),
    "GPT_TRADER_STORE_SYNC": ("store_sync", "choice"),
}
#: alert secrets (environment only; never in a profile, a log line or an error message)
ALERT_SECRET_ENV = {
    "GPT_TRADER_SLACK_WEBHOOK_URL": "slack_webhook_url",
    "GPT_TRADER_PAGERDUTY_ROUTING_KEY": "pagerduty_routing_key",
    "GPT_TRADER_PAGERDUTY_URL": "pagerduty_url",
}
SECRET_ENV = {
    "COINBASE_PROD_CDP_API_KEY": "cdp_api_key",
    "COINBASE_PROD_CDP_PRIVATE_KEY": "cdp_private_key",
    "COINBASE_API_KEY": "api_key",
    "COINBASE_API_SECRET": "api_secret",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(raw: str, *, name: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; allowed: 1/0, true/false, yes/no, on/off")


def read_dotenv(path: Path) -> dict[str, str]:
    """Minimal .env reader: KEY=VALUE lines, # comments, optional quotes, \\n escapes in double quotes."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    problem = exposure(path)
    if problem:
        raise ConfigError(problem)
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[7:].lstrip()
        if "=" not in stripped:
            raise ConfigError(f"{path}:{lineno}: expected KEY=VALUE, got a line without '='")
        key, _, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n")
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def _refuse_exposed_key_file(key_file: str | None) -> None:
    """A CDP key file others can read is refused at start (exit 2), before anything connects."""
    problem = exposure(Path(key_file)) if key_file else None
    if problem:
        raise ConfigError(f"COINBASE_CDP_KEY_FILE: {problem}")


# ------------------------------------------------------------------------------------- the manager
#: accepted spellings that are not the canonical value, shown next to the allowed values on an error
_ALIAS_NOTES = {"coinbase.auth_type": "jwt, any case, means cdp"}


def _normalize_aliases(tree: dict[str, Any]) -> None:
    """Canonical values for accepted aliases, whatever their source: `auth_type: JWT` -> `cdp`."""
    coinbase = tree.get("coinbase")
    if isinstance(coinbase, dict) and isinstance(coinbase.get("auth_type"), str):
        coinbase["auth_type"] = normalize_auth_type(coinbase["auth_type"])


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _float_to_decimal(obj: Any) -> Any:
    """YAML floats become exact Decimals via their shortest repr (0.001 -> Decimal('0.001'))."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ConfigError(f"a profile number is {obj!r}; allowed: finite numbers (no .nan / .inf)")
        return Decimal(repr(obj))
    if isinstance(obj, dict):
        return {k: _float_to_decimal(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_float_to_decimal(v) for v in obj]
    return obj


def _struct_at(path: list[str]) -> type[msgspec.Struct] | None:
    """The Struct type found by following `path` (field names) from BotConfig; None if not a Struct."""
    tp: Any = BotConfig
    for part in path:
        hints = typing.get_type_hints(tp, include_extras=False) if isinstance(tp, type) else {}
        if part not in hints:
            return None
        tp = hints[part]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
            tp = args[0]
    return tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None


def _allowed_for(path: list[str], field: str) -> str | None:
    struct = _struct_at(path)
    if struct is None:
        return None
    hints = typing.get_type_hints(struct, include_extras=True)
    tp = hints.get(field)
    if tp is None:
        return None
    literal = _find_literal(tp)
    if literal:
        return "one of " + ", ".join(repr(v) for v in literal)
    return None


def _find_literal(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    for arg in typing.get_args(tp):
        found = _find_literal(arg)
        if found:
            return found
    return None


def _lookup(tree: Any, path: list[str]) -> Any:
    node = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class ConfigManager:
    """Builds a `BotConfig` from a profile, the environment and CLI overrides."""

    def __init__(self, env: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")) -> None:
        dotenv = read_dotenv(dotenv_path) if dotenv_path is not None else {}
        real_env = dict(os.environ) if env is None else dict(env)
        self.env: dict[str, str] = {**dotenv, **real_env}  # real environment wins over .env
        self._dotenv_keys = frozenset(dotenv) - frozenset(real_env)
        self._dotenv_path = dotenv_path

    # -- profile files
    @staticmethod
    def available_profiles() -> list[str]:
        return sorted(
            p.name[:-5] for p in resources.files("gpt_trader.config.profiles").iterdir() if p.name.endswith(".yaml")
        )

    def _read_profile(self, profile: str) -> tuple[str, dict[str, Any]]:
        if profile.endswith((".yaml", ".yml")) or "/" in profile:
            path = Path(profile)
            if not path.is_file():
                raise ConfigError(f"profile file {profile!r} does not exist")
            name, text = path.stem, path.read_text()
        else:
            if profile not in self.available_profiles():
                raise ConfigError(
                    f"unknown profile {profile!r}; allowed: {', '.join(self.available_profiles())} "
                    "(or a path to a .yaml profile file)"
                )
            name = profile
            text = resources.files("gpt_trader.config.profiles").joinpath(f"{profile}.yaml").read_text()
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"profile {profile!r} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"profile {profile!r} must be a YAML mapping of config keys")
        return name, data

    def load(self, profile: str, cli_overrides: Mapping[str, Any] | None = None) -> BotConfig:
        name, tree = self._read_profile(profile)
        tree = _float_to_decimal(tree)
        tree.setdefault("profile", name)
        sources = self._apply_env(tree)

        for dotted, value in (cli_overrides or {}).items():
            if value is None:
                continue
            _set_dotted(tree, dotted, _float_to_decimal(value))
            sources[dotted] = "command line"

        # Mode switches (documented in README): SPOT_FORCE_LIVE sends dev to Coinbase, PERPS_PAPER to paper.
        if tree.get("perps_paper") is True:
            tree["broker"] = "paper"
        elif tree.get("spot_force_live") is True:
            tree["broker"] = "coinbase"

        _normalize_aliases(tree)
        config = self._convert(tree, sources, name)
        self._apply_limits_file(config)
        _refuse_exposed_key_file(config.coinbase.cdp_key_file)
        return config

    def coinbase_config(self) -> CoinbaseConfig:
        """The `coinbase:` section from the environment alone, for tools and tests that talk to a venue
        without a profile. Same parser, same errors as `load`."""
        tree: dict[str, Any] = {"profile": "env", "symbols": ["BTC-USD"]}
        sources = self._apply_env(tree, prefix="coinbase.")
        _normalize_aliases(tree)
        coinbase = self._convert(tree, sources, "(environment only)").coinbase
        _refuse_exposed_key_file(coinbase.cdp_key_file)
        return coinbase

    def _source(self, var: str) -> str:
        return f"{self._dotenv_path} {var}" if var in self._dotenv_keys else f"env {var}"

    def _apply_env(self, tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
        """Set every ENV_OVERRIDES key present in the environment; returns dotted key -> its source."""
        sources: dict[str, str] = {}
        for var, (dotted, kind) in ENV_OVERRIDES.items():
            raw = self.env.get(var)
            if raw is None or raw == "" or not dotted.startswith(prefix):
                continue
            value: Any = raw
            if kind == "bool":
                value = parse_bool(raw, name=var)
            elif kind == "choice":
                value = raw.strip().lower()
            elif kind == "decimal":
                try:
                    value = Decimal(raw)
                    if not value.is_finite():
                        raise InvalidOperation
                except InvalidOperation:
                    raise ConfigError(
                        f"{var}={raw!r} is not a number (from {self._source(var)}); it sets {dotted}, "
                        "allowed: a finite decimal"
                    ) from None
            elif kind in ("int", "float"):
                try:
                    value = int(raw) if kind == "int" else float(raw)
                    if not math.isfinite(value):  # nan would pass every `<= 0` check: a guard that never trips
                        raise ValueError
                except ValueError:
                    allowed = "an integer" if kind == "int" else "a number"
                    raise ConfigError(
                        f"{var}={raw!r} is not a valid {kind} (from {self._source(var)}); it sets {dotted}, "
                        f"allowed: {allowed}"
                    ) from None
            _set_dotted(tree, dotted, value)
            sources[dotted] = self._source(var)
        return sources

    def _convert(self, tree: dict[str, Any], sources: dict[str, str], name: str) -> BotConfig:
        try:
            return msgspec.convert(tree, BotConfig, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(self._explain(str(exc), tree, sources, name)) from None
        except ArithmeticError:  # a "NaN"/"Infinity" string reached a Decimal check
            raise ConfigError(f"profile {name!r}: a setting is NaN or Infinity; allowed: finite numbers") from None

    @staticmethod
    def _explain(message: str, tree: dict[str, Any], sources: dict[str, str], name: str) -> str:
        m = re.match(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", message, re.S)
        detail = m.group("msg") if m else message
        raw_path = (m.group("path") if m else "") or ""
        path = [p for p in re.split(r"\.|\[.*?\]", raw_path) if p]

        unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", detail)
        if unknown:
            field = unknown.group("f")
            struct = _struct_at(path)
            allowed = sorted(struct.__struct_fields__) if struct else []
            key = ".".join([*path, field])
            return f"invalid config (profile {name}): unknown key {key!r}; allowed keys here: {', '.join(allowed)}"

        missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", detail)
        if missing:
            key = ".".join([*path, missing.group("f")])
            return f"invalid config (profile {name}): required key {key!r} is missing"

        # Errors raised in __post_init__ start with the field name: point at it.
        first = detail.split(" ", 1)[0]
        struct = _struct_at(path)
        if struct is not None and first in struct.__struct_fields__:
            path = [*path, first]
        key = ".".join(path) or "(top level)"
        value = _lookup(tree, path)
        source = next(
            (sources[k] for k in sorted(sources, key=len, reverse=True) if key == k or key.startswith(k + ".")),
            f"profile {name}",
        )
        allowed_values = _allowed_for(path[:-1], path[-1]) if path else None
        shown = (
            "<hidden>"
            if any(s in key for s in ("key", "secret")) and not key.endswith("_file")
            else (str(value) if isinstance(value, Decimal) else repr(value))
        )
        text = f"invalid config: {key} = {shown} (from {source}): {detail}"
        if allowed_values:
            text += f"; allowed: {allowed_values}"
            if key in _ALIAS_NOTES:
                text += f" ({_ALIAS_NOTES[key]})"
        return text

    @staticmethod
    def _apply_limits_file(config: BotConfig) -> None:
        """Validate both caps files now, so a bad file stops start-up (not the first perps order)."""
        load_symbol_limits(config.risk)
        load_perps_limits(config.risk)

    def credentials(self) -> Credentials:
        return Credentials(**{field: self.env.get(var) or None for var, field in SECRET_ENV.items()})

    def alert_secrets(self) -> AlertSecrets:
        """Slack / PagerDuty secrets from the environment. A malformed URL is named, never echoed."""
        values = {field: (self.env.get(var) or "").strip() for var, field in ALERT_SECRET_ENV.items()}
        for var, field in ALERT_SECRET_ENV.items():
            url = values[field]
            if field.endswith("_url") and url and not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(f"{var} must be an http(s) URL (value not shown: it is a secret)")
        return AlertSecrets(
            slack_webhook_url=values["slack_webhook_url"] or None,
            pagerduty_routing_key=values["pagerduty_routing_key"] or None,
            pagerduty_url=values["pagerduty_url"] or PAGERDUTY_EVENTS_URL,
        )


def load_symbol_limits(risk: RiskConfig) -> dict[str, SymbolLimit]:
    """Per-symbol caps: the spot limits file (default spot_top10.json), then inline `symbol_limits`."""
    limits = _read_limits_file("risk.limits_file", risk.spot_caps_file)
    limits.update(risk.symbol_limits)
    return limits


def load_perps_limits(risk: RiskConfig) -> dict[str, SymbolLimit]:
    """Caps for perp symbols (default perps.json), applied once the venue confirms derivatives access.
    Inline `symbol_limits` still win, so they are left out here."""
    limits = _read_limits_file("risk.perps_limits_file", risk.perps_caps_file)
    return {sym: lim for sym, lim in limits.items() if sym not in risk.symbol_limits}


def _read_limits_file(key: str, name: str | None) -> dict[str, SymbolLimit]:
    """A caps file: package data under config/risk/ or a path; None (the profile said `none`) is {}."""
    limits: dict[str, SymbolLimit] = {}
    if name is None:
        return limits
    path = Path(name)
    if path.is_file():
        text = path.read_text()
    else:
        res = resources.files("gpt_trader.config.risk").joinpath(name)
        if not res.is_file():
            packaged = sorted(
                p.name for p in resources.files("gpt_trader.config.risk").iterdir() if p.name.endswith(".json")
            )
            raise ConfigError(
                f"invalid config: {key} = {name!r}: no such file; allowed: a file under config/risk/ "
                f"({', '.join(packaged)}), a path to a JSON file, or none (no per-symbol caps)"
            )
        text = res.read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid config: {key} = {name!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid config: {key} = {name!r} must hold a JSON object of symbol -> caps")
    for symbol, spec in raw.items():
        if symbol.startswith("_"):
            continue
        try:
            limits[symbol] = msgspec.convert(_float_to_decimal(spec), SymbolLimit, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"invalid config: {key} = {name!r}, symbol {symbol}: {exc}") from None
    return limits
