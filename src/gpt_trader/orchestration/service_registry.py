"""ServiceRegistry: the prepared bundle a PerpsBot is built from.

Building it is where a profile becomes real objects: the venue, the strategy, the risk manager,
the sizer and the stores. Tests and the backtest replay build one with their own broker.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from gpt_trader.features.brokerages.core.interfaces import Broker, SimulatedVenue
from gpt_trader.features.live_trade.risk.config import SymbolLimit
from gpt_trader.features.live_trade.risk.manager import RiskManager
from gpt_trader.features.live_trade.strategies import Strategy, get_strategy
from gpt_trader.features.monitor.config import AlertSecrets
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.features.position_sizing import PositionSizer
from gpt_trader.orchestration.configuration import (
    BotConfig,
    ConfigError,
    Credentials,
    load_perps_limits,
    load_symbol_limits,
)
from gpt_trader.orchestration.trading_state_journal import journal_to
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database, transaction
from gpt_trader.persistence.state_store import StateStore
from gpt_trader.persistence.wal_flush import WalFlusher

log = structlog.get_logger("registry")

#: The mock venue's clock starts here, so the same seed always replays the same market.
MOCK_EPOCH = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)


class TelemetrySnapshot(Protocol):
    def to_builtins(self) -> dict[str, Any]: ...


class AccountTelemetry(Protocol):
    async def snapshot(self) -> TelemetrySnapshot: ...


@dataclass
class ServiceRegistry:
    config: BotConfig
    broker: Broker
    strategy: Strategy
    risk: RiskManager
    sizer: PositionSizer
    orders: OrdersStore
    events: EventStore
    state: StateStore
    metrics: MetricsRegistry
    session_id: str
    notices: list[str] = field(default_factory=list)
    #: venue account telemetry (balances, fee tier, limits, fees paid), when the venue offers it
    telemetry: AccountTelemetry | None = None
    #: the stores' shared SQLite connection: a fill and what it changes commit in one transaction
    db: sqlite3.Connection | None = None
    #: with `store_sync: normal`: flushes the store's log to disk right after orders leave (None: "full",
    #: every commit is already on disk)
    wal_flusher: WalFlusher | None = None
    #: Slack / PagerDuty secrets (from the environment; none = alerts are only logged)
    alert_secrets: AlertSecrets = field(default_factory=AlertSecrets)

    @property
    def is_simulated(self) -> bool:
        return isinstance(self.broker, SimulatedVenue)

    def store_transaction(self) -> AbstractContextManager[object]:
        """One commit for the writes inside it (orders, events, state share `db`); joins an open one."""
        return transaction(self.db) if self.db is not None else contextlib.nullcontext()


def new_session_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def build_broker(config: BotConfig, credentials: Credentials, notices: list[str]) -> Broker:
    if config.broker == "mock":
        from gpt_trader.features.brokerages.mock import MockBroker

        fees = None
        maker, taker = config.mock.maker_fee_rate, config.mock.taker_fee_rate
        if maker is not None or taker is not None:
            from gpt_trader.features.brokerages.core.matching import FeeSchedule

            rate = maker if maker is not None else taker
            assert rate is not None
            fees = FeeSchedule.flat(maker=rate, taker=taker if taker is not None else rate)
        seed = config.mock.seed
        if not config.mock.deterministic:  # a different market each run; the notice says how to replay it
            seed = secrets.randbits(31)
            notices.append(f"mock market seed {seed} (mock.deterministic: false); mock.seed: {seed} replays it")
        try:
            return MockBroker(
                symbols=list(config.symbols),
                seed=seed,
                start=MOCK_EPOCH,
                starting_cash=config.mock.starting_cash,
                fees=fees,
            )
        except ValueError as exc:  # a symbol the mock market does not list is a configuration mistake
            raise ConfigError(f"symbols: {exc}") from None
    if config.broker == "coinbase":
        if not (credentials.has_cdp or credentials.has_hmac or config.coinbase.cdp_key_file):
            if config.dry_run:
                notices.append(
                    "no Coinbase credentials are set: this dry run uses the deterministic mock broker instead"
                )
                return build_broker(_with_broker(config, "mock"), credentials, notices)
            raise ConfigError(
                "broker is coinbase but no credentials are set: set COINBASE_PROD_CDP_API_KEY and "
                "COINBASE_PROD_CDP_PRIVATE_KEY (or COINBASE_CDP_KEY_FILE; COINBASE_AUTH_TYPE=cdp) or "
                "COINBASE_API_KEY and COINBASE_API_SECRET (COINBASE_AUTH_TYPE=hmac), or run with --dry-run"
            )
        from gpt_trader.features.brokerages.coinbase import build_coinbase_broker

        with _credentials_as_config_error():
            return build_coinbase_broker(config, credentials)
    if config.broker == "paper":
        from gpt_trader.features.paper_trade import build_paper_broker

        with _credentials_as_config_error():
            return build_paper_broker(config, credentials)
    raise ConfigError(f"unknown broker {config.broker!r}; allowed: mock, coinbase, paper")


@contextlib.contextmanager
def _credentials_as_config_error() -> Iterator[None]:
    """A key that cannot be loaded (missing key file, unreadable PEM) is a configuration error: exit 2.
    The signer's messages name the key or file, never the secret."""
    from gpt_trader.features.brokerages.coinbase.auth import CredentialError

    try:
        yield
    except CredentialError as exc:
        raise ConfigError(f"invalid credentials: {exc}") from None


def _with_broker(config: BotConfig, broker: str) -> BotConfig:
    import msgspec

    return msgspec.structs.replace(config, broker=broker)


def build_registry(
    config: BotConfig,
    credentials: Credentials | None = None,
    *,
    broker: Broker | None = None,
    metrics: MetricsRegistry | None = None,
    fresh_store: bool | None = None,
    arm_triggers: bool = True,
    alert_secrets: AlertSecrets | None = None,
) -> ServiceRegistry:
    """Assemble everything. `broker` overrides the profile's venue (tests, backtest replay).

    The mock venue lives in memory, so its store is reset each run (`fresh_store` defaults to True for
    it): orders from a previous mock session refer to a venue that no longer exists. `arm_triggers=False`
    leaves persisted client-side stops unarmed (tools such as `reconcile` must not fire them).
    """
    notices: list[str] = []
    venue = broker if broker is not None else build_broker(config, credentials or Credentials(), notices)
    metrics = metrics or MetricsRegistry()
    store_dir = config.store_dir
    db_path = store_dir / "bot.sqlite3"
    if fresh_store is None:
        fresh_store = venue.name == "mock"
    if fresh_store:
        _remove_db(db_path)
    conn = open_database(db_path, synchronous=config.store_sync.upper())
    session_id = new_session_id(venue.now())
    state = StateStore(conn)
    if arm_triggers and venue.name == "coinbase":
        # Client-side stops/brackets are durable: the venue re-arms them from the store on connect.
        from gpt_trader.features.brokerages.coinbase.trigger_store import attach_trigger_store

        attach_trigger_store(venue, state)
    limits = active_symbol_limits(config)
    registry = ServiceRegistry(
        config=config,
        broker=venue,
        strategy=get_strategy(config.strategy.name, **config.strategy.params),
        risk=RiskManager(config.risk, limits, metrics, state, venue.now),
        sizer=PositionSizer(
            config.sizing,
            risk=config.risk,
            symbol_limits=limits,
            volatility_bar_seconds=config.strategy.granularity_s,
        ),
        orders=OrdersStore(conn),
        events=EventStore(conn, session_id),
        state=state,
        metrics=metrics,
        session_id=session_id,
        notices=notices,
        telemetry=_telemetry_for(venue),
        db=conn,
        wal_flusher=_wal_flusher(conn, db_path, metrics) if config.store_sync == "normal" else None,
        alert_secrets=alert_secrets or AlertSecrets(),
    )
    registry.risk.trading_state.subscribe(journal_to(registry.events, venue.now))
    return registry


def _wal_flusher(conn: sqlite3.Connection, db_path: Path, metrics: MetricsRegistry) -> WalFlusher:
    flusher = WalFlusher(db_path, metrics)
    flusher.adopt(conn)  # checkpoints leave the commit path (one took 4-5 ms while an intent waited)
    return flusher


def active_symbol_limits(config: BotConfig) -> dict[str, SymbolLimit]:
    """Spot caps, plus the perps caps when perps can trade: the profile enables derivatives or lists a
    perp symbol (the mock venue has no INTX detection). They are loaded up front rather than on the
    venue's INTX detection: caps only ever tighten, and a mid-session re-check that turns perps on
    must not find them missing (fail closed)."""
    limits = load_symbol_limits(config.risk)
    if perps_possible(config):
        limits.update(load_perps_limits(config.risk))
    return limits


def perps_possible(config: BotConfig) -> bool:
    from gpt_trader.features.brokerages.coinbase.symbols import is_perp_symbol

    return config.coinbase.enable_derivatives or any(is_perp_symbol(s) for s in config.symbols)


def _telemetry_for(venue: Broker) -> AccountTelemetry | None:
    if venue.name != "coinbase":
        return None
    from gpt_trader.features.brokerages.coinbase.account import CoinbaseAccountManager
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

    return CoinbaseAccountManager(venue) if isinstance(venue, CoinbaseBroker) else None


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()
