"""Replay: a determinism check of a recorded session.

Entry points: `replay_session(events, session_id, source)` -> `ReplayReport`, and the candle sources
`BrokerCandleSource` (any venue: a re-created MockBroker, the simulator replaying recorded data through
CoinbaseBroker) and `ParquetCandleSource` (the Parquet market data store), chosen by `source_for_session`.

For every `decision` event of the session, the strategy named in the session's config snapshot is run
again on the closes of the completed bars up to that bar, with the recorded position, and the action
is compared. A recorded close that differs from the market data is reported too (the data, not the
strategy, changed). The bot journals every decision, HOLDs included, so every completed bar of every
symbol is checked (sessions recorded before HOLDs were journaled are checked on their non-HOLD bars).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec

from gpt_trader.features.brokerages.core.interfaces import Broker, Candle
from gpt_trader.persistence.interfaces import EventStoreProtocol

DifferenceKind = Literal["action", "close"]


class CandleSource(Protocol):
    async def candles(self, symbol: str, granularity_s: int, start: datetime, end: datetime) -> list[Candle]:
        """Completed bars with start <= bar.start < end, oldest first."""
        ...


class ReplayDifference(msgspec.Struct, frozen=True, kw_only=True):
    kind: DifferenceKind
    symbol: str
    bar: str
    recorded: str
    replayed: str
    detail: str = ""


class ReplayReport(msgspec.Struct, kw_only=True):
    session_id: str
    strategy: str
    checked: int = 0
    differences: list[ReplayDifference] = []

    @property
    def deterministic(self) -> bool:
        return not self.differences


class ReplayError(RuntimeError):
    """The session cannot be replayed (unknown session, no config snapshot, no market data)."""


class BrokerCandleSource:
    """Candles from a venue, paged backwards in windows the venue accepts."""

    def __init__(self, broker: Broker, *, page: int = 300) -> None:
        self.broker = broker
        self.page = page

    async def candles(self, symbol: str, granularity_s: int, start: datetime, end: datetime) -> list[Candle]:
        out: dict[datetime, Candle] = {}
        span = timedelta(seconds=granularity_s * self.page)
        cursor = start
        while cursor < end:
            upper = min(end, cursor + span)
            for c in await self.broker.get_candles(symbol, granularity_s, start=cursor, end=upper, limit=self.page):
                if start <= c.start < end:
                    out[c.start] = c
            cursor = upper
        return [out[k] for k in sorted(out)]


class ParquetCandleSource:
    """Candles from the Parquet market data store (`var/data/market/<source>/<symbol>/<granularity>/`)."""

    def __init__(self, root: str | Path, source: str) -> None:
        self.root = Path(root)
        self.source = source

    async def candles(self, symbol: str, granularity_s: int, start: datetime, end: datetime) -> list[Candle]:
        from gpt_trader.features.data import granularity as gran  # research path: pandas loads lazily
        from gpt_trader.features.data.store import CandleStore

        df = CandleStore(self.root).read(self.source, symbol, gran.normalize(str(granularity_s)), start, end)
        return [
            Candle(
                start=ts.to_pydatetime(),
                open=Decimal(str(r.open)),
                high=Decimal(str(r.high)),
                low=Decimal(str(r.low)),
                close=Decimal(str(r.close)),
                volume=Decimal(str(r.volume)),
                symbol=symbol,
            )
            for ts, r in df.iterrows()
        ]


def _session_events(events: EventStoreProtocol, session_id: str) -> list[dict[str, Any]]:
    found = list(events.iter_events(session_id=session_id))
    if not found:
        known = events.sessions()
        raise ReplayError(f"no events for session {session_id!r}; recorded sessions: {known[-10:]}")
    return found


def session_end(events: EventStoreProtocol, session_id: str) -> datetime:
    """Venue time of the session's last event (for a simulated venue: how far its market ran)."""
    return max(datetime.fromisoformat(e["ts"]) for e in _session_events(events, session_id))


def session_config(events: EventStoreProtocol, session_id: str) -> dict[str, Any]:
    for ev in _session_events(events, session_id):
        if ev["kind"] == "session_start":
            config = ev["payload"].get("config")
            if isinstance(config, dict):
                return {**config, "_venue": ev["payload"].get("venue"), "_ts": ev["ts"]}
    raise ReplayError(f"session {session_id!r} has no session_start event with a config snapshot")


async def source_for_session(
    config: dict[str, Any],
    session_end: datetime,
    *,
    parquet_root: str | Path | None = None,
    parquet_source: str | None = None,
    venue: Broker | None = None,
) -> CandleSource:
    """`venue` (a connected broker: Coinbase's, or the simulator's through CoinbaseBroker) serves the
    exchange's own recorded candles; `parquet_source` reads the Parquet store; otherwise a mock session's
    venue is re-created from its seed and run to the session's end."""
    if venue is not None:
        return BrokerCandleSource(venue)
    if parquet_source is not None:
        return ParquetCandleSource(parquet_root or "var/data/market", parquet_source)
    if config.get("_venue") == "mock":
        from gpt_trader.features.brokerages.mock import MockBroker
        from gpt_trader.orchestration.service_registry import MOCK_EPOCH

        mock = config.get("mock") or {}
        broker = MockBroker(symbols=list(config["symbols"]), seed=int(mock.get("seed", 42)), start=MOCK_EPOCH)
        await broker.advance_time(max(0.0, (session_end - MOCK_EPOCH).total_seconds()))
        return BrokerCandleSource(broker)
    raise ReplayError(
        f"session venue {config.get('_venue')!r} has no built-in market data source; use the venue's "
        "candles (--data-source venue) or the Parquet source the session traded on (--data-source NAME)"
    )


def _history(
    closes: Sequence[Candle], upto: int, session_start: datetime, granularity_s: int, history_needed: int
) -> list[tuple[float, float, float, float, float]]:
    """The bars (open, high, low, close, volume) the bot held at bar `upto`: what it loaded at start
    (the `history_needed + 1` bars completed by then) plus every bar since, capped at the bot's window
    (max(needed + 5, 64))."""
    span = timedelta(seconds=granularity_s)
    before = [i for i in range(upto + 1) if closes[i].start + span <= session_start]
    first = max(0, (before[-1] + 1 if before else 0) - (history_needed + 1))
    window = max(history_needed + 5, 64)
    seq = [
        (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume)) for c in closes[first : upto + 1]
    ]
    return seq[-window:]


async def replay_session(
    events: EventStoreProtocol,
    session_id: str,
    source: CandleSource,
    *,
    strategy_override: dict[str, Any] | None = None,
) -> ReplayReport:
    """Re-decide every recorded decision of `session_id`; `strategy_override` ({name, params}) replays
    with another strategy (used to show the check catches a change)."""
    from gpt_trader.features.live_trade.strategies import BarWindow, get_strategy

    config = session_config(events, session_id)
    strat_cfg = strategy_override or config.get("strategy") or {}
    name = str(strat_cfg.get("name"))
    strategy = get_strategy(name, **(strat_cfg.get("params") or {}))
    raw_granularity = (config.get("strategy") or {}).get("granularity_s") or strat_cfg.get("granularity_s")
    if raw_granularity is None:
        raise ReplayError(f"session {session_id!r}: the config snapshot has no strategy.granularity_s")
    granularity_s = int(raw_granularity)
    session_start = datetime.fromisoformat(config["_ts"])
    decisions = [e for e in _session_events(events, session_id) if e["kind"] == "decision"]
    report = ReplayReport(session_id=session_id, strategy=name)
    if not decisions:
        return report
    span = timedelta(seconds=granularity_s)
    lead = span * (max(strategy.history_needed + 5, 64) + strategy.history_needed + 2)
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for ev in decisions:
        by_symbol.setdefault(str(ev["symbol"]), []).append(ev)
    for symbol, evs in sorted(by_symbol.items()):
        bars = [datetime.fromisoformat(e["payload"]["bar"]) for e in evs]
        candles = await source.candles(symbol, granularity_s, min(session_start, min(bars)) - lead, max(bars) + span)
        index = {c.start: i for i, c in enumerate(candles)}
        for ev, bar in zip(evs, bars, strict=True):
            payload = ev["payload"]
            i = index.get(bar)
            if i is None:
                raise ReplayError(f"market data has no {symbol} bar at {bar.isoformat()}; cannot replay")
            report.checked += 1
            if Decimal(str(payload["close"])) != candles[i].close:
                report.differences.append(
                    ReplayDifference(
                        kind="close",
                        symbol=symbol,
                        bar=bar.isoformat(),
                        recorded=str(payload["close"]),
                        replayed=str(candles[i].close),
                        detail="market data differs from what the session saw",
                    )
                )
                continue
            history = _history(candles, i, session_start, granularity_s, strategy.history_needed)
            window = BarWindow.from_rows(history, bid=payload.get("bid"), ask=payload.get("ask"))
            decision = strategy.decide(symbol, window, Decimal(str(payload["position"])))
            if decision.action.value != payload["action"]:
                report.differences.append(
                    ReplayDifference(
                        kind="action",
                        symbol=symbol,
                        bar=bar.isoformat(),
                        recorded=str(payload["action"]),
                        replayed=decision.action.value,
                        detail=f"recorded reason {payload.get('reason')!r}; replayed reason {decision.reason!r}",
                    )
                )
    return report


async def run_replay(
    db_path: str | Path,
    session_id: str,
    *,
    parquet_root: str | Path | None = None,
    parquet_source: str | None = None,
    strategy_override: dict[str, Any] | None = None,
    venue: Broker | None = None,
) -> ReplayReport:
    """Open a profile's store read-only (no session of its own is written) and replay one session."""
    from gpt_trader.persistence.event_store import EventStore
    from gpt_trader.persistence.sqlite import open_database

    conn = open_database(db_path)
    try:
        events = EventStore(conn, session_id=f"replay-of-{session_id}")
        config = session_config(events, session_id)
        source = await source_for_session(
            config,
            session_end(events, session_id),
            parquet_root=parquet_root,
            parquet_source=parquet_source,
            venue=venue,
        )
        return await replay_session(events, session_id, source, strategy_override=strategy_override)
    finally:
        conn.close()
