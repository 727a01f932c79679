"""`replay` re-decides a recorded mock session from the EventStore and finds no difference; a changed
strategy or changed market data is reported bar by bar."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from gpt_trader.features.brokerages.core.interfaces import Candle
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.replay import (
    ReplayError,
    replay_session,
    session_config,
    session_end,
    source_for_session,
)
from gpt_trader.orchestration.service_registry import build_registry
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.sqlite import open_database

Recorded = tuple[Path, str, dict[str, object]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    import asyncio

    tmp = tmp_path_factory.mktemp("replay")
    cfg = ConfigManager().load("dev", {"symbols": ["BTC-USD", "ETH-USD", "LTC-USD", "ADA-USD"]})
    cfg = msgspec.structs.replace(cfg, data_root=str(tmp / "data"), health_file=str(tmp / "h.json"))
    registry = build_registry(cfg)
    bot = PerpsBot(registry)
    asyncio.run(bot.run(cycles=60, interval_s=0.0))
    return cfg.store_dir / "bot.sqlite3", registry.session_id, msgspec.to_builtins(cfg.strategy)


async def test_replay_of_a_recorded_session_is_deterministic(recorded: Recorded) -> None:
    db, session, _ = recorded
    events = EventStore(open_database(db), "replay-reader")
    assert events.count() == 0 and session in events.sessions()
    config = session_config(events, session)
    source = await source_for_session(config, session_end(events, session))
    report = await replay_session(events, session, source)
    assert report.checked >= 3, "the session should have recorded some decisions"
    assert report.deterministic, report.differences


async def test_replay_reports_a_changed_strategy(recorded: Recorded) -> None:
    db, session, strategy = recorded
    events = EventStore(open_database(db), "replay-reader")
    source = await source_for_session(session_config(events, session), session_end(events, session))
    changed = {"name": strategy["name"], "params": {"fast": 2, "slow": 40, "trend": 3}}
    report = await replay_session(events, session, source, strategy_override=changed)
    assert report.checked >= 3 and not report.deterministic
    diff = report.differences[0]
    assert diff.kind == "action" and diff.recorded != diff.replayed and "recorded reason" in diff.detail


async def test_replay_reports_changed_market_data(recorded: Recorded) -> None:
    db, session, _ = recorded
    events = EventStore(open_database(db), "replay-reader")
    config = session_config(events, session)
    inner = await source_for_session(config, session_end(events, session))

    class Shifted:
        async def candles(self, symbol: str, granularity_s: int, start: datetime, end: datetime) -> list[Candle]:
            bars = await inner.candles(symbol, granularity_s, start, end)
            return [msgspec.structs.replace(c, close=c.close * 2) for c in bars]

    report = await replay_session(events, session, Shifted())
    assert not report.deterministic
    assert {d.kind for d in report.differences} == {"close"}
    assert len(report.differences) == report.checked


async def test_unknown_session_names_the_recorded_ones(recorded: Recorded) -> None:
    db, session, _ = recorded
    events = EventStore(open_database(db), "replay-reader")
    with pytest.raises(ReplayError, match=session):
        session_config(events, "no-such-session")
