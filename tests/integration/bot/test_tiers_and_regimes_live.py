"""The dev bot with equity tiers and regimes: the tier caps concurrent positions and sizes entries from
its budget, tier changes and regimes are journaled, and regimes are gauged per symbol."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from gpt_trader.features.live_trade.tiers import load_tiers
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry

TIERS = {
    "tiers": [
        {"name": "micro", "min_equity": 0, "max_positions": 1, "risk_per_trade_pct": 5},
        {"name": "small", "min_equity": 1000, "max_positions": 2, "risk_per_trade_pct": "0.5"},
    ]
}


async def test_tiers_cap_positions_and_size_entries_live(tmp_path: Path) -> None:
    config = ConfigManager(env={}, dotenv_path=None).load(
        "dev",
        {
            "data_root": str(tmp_path / "data"),
            "log_dir": str(tmp_path / "logs"),
            "cycles": 120,
            "cycle_interval_s": 0.001,
            "tiers": TIERS,
        },
    )
    assert config.tiers == load_tiers(TIERS)
    bot = PerpsBot(build_registry(config))
    await bot.run(cycles=config.cycles, interval_s=0)
    assert bot.tiers is not None and bot.tiers.tier.name == "small"
    assert [(c.previous, c.tier) for c in bot.tier_changes] == [("micro", "small")]
    events = list(bot.registry.events.iter_events(session_id=bot.registry.session_id))
    kinds = [e["kind"] for e in events]
    assert "tier" in kinds and "regime" in kinds
    decisions = [e for e in events if e["kind"] == "decision"]
    assert decisions and all(e["payload"]["regime"] for e in decisions)
    blocked = [e for e in events if e["kind"] == "entry_blocked"]
    assert any("tier small allows 2 concurrent positions" in e["payload"]["reason"] for e in blocked)
    orders = bot.registry.orders.list_orders(session_id=bot.registry.session_id)
    buys = [o for o in orders if o.side.value == "BUY"]
    assert buys
    equity = bot.start_equity
    assert equity is not None
    for o in buys:  # notional within the tier's 0.5 % budget (marks move a little between cycles)
        assert o.size * bot.quotes[o.symbol].mark_price <= equity * Decimal("0.005") * Decimal("1.2"), o
    held_max = max(sum(1 for led in bot.positions.ledgers.values() if led.size != 0), 0)
    assert held_max <= 2
    assert any(name.startswith("regime.") for name in bot.metrics.gauges())


async def test_live_regimes_from_an_exported_hmm(tmp_path: Path) -> None:
    """The bot classifies every symbol with a fitted HMM's exported parameters."""
    import msgspec
    import pytest

    from gpt_trader.features.backtest.engine import BarSource, load_bars
    from gpt_trader.features.live_trade.regime import HmmDetector, Regime
    from gpt_trader.features.market_regime.fit import fit_hmm
    from gpt_trader.orchestration.configuration import ConfigError

    hourly = "/work/shared/data/market/ohlcv/coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz"
    model = fit_hmm([load_bars(BarSource(symbol="BTC-USD", data_file=Path(hourly))).head(3000)], iterations=30)
    path = tmp_path / "regime.json"
    path.write_bytes(msgspec.json.encode(model))
    base = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "cycles": 30,
        "cycle_interval_s": 0.001,
    }
    manager = ConfigManager(env={}, dotenv_path=None)
    with pytest.raises(ConfigError, match="detector 'hmm' needs a model file"):
        manager.load("dev", {**base, "regime": {"detector": "hmm"}})
    config = manager.load("dev", {**base, "regime": {"detector": "hmm", "model": str(path)}})
    bot = PerpsBot(build_registry(config))
    assert isinstance(bot.regimes.detector, HmmDetector)
    await bot.run(cycles=config.cycles, interval_s=0)
    assert set(bot.regimes.current) == set(config.symbols)
    assert all(r is not Regime.UNKNOWN and r in model.labels for r in bot.regimes.current.values())
