"""PerpsBot runs start-up reconciliation before its first snapshot and refuses on an unexplained
difference; its periodic check halts the bot when a difference persists."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from gpt_trader.features.brokerages.mock import ACCOUNT, MockBroker
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.reconciliation import ReconciliationRefusedError
from gpt_trader.orchestration.service_registry import MOCK_EPOCH, build_registry


def _config(tmp_path: Path) -> BotConfig:
    cfg = ConfigManager().load("dev", {"symbols": ["BTC-USD", "ETH-USD"]})
    return msgspec.structs.replace(cfg, data_root=str(tmp_path / "data"), health_file=str(tmp_path / "h.json"))


def _bot(cfg: BotConfig, broker: MockBroker) -> PerpsBot:
    return PerpsBot(build_registry(cfg, broker=broker, fresh_store=False))


async def test_start_refuses_on_an_unexplained_position_and_names_the_fix(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    broker = MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH)
    first = _bot(cfg, broker)
    await first.start()
    assert first.events.count("reconciliation") == 1
    broker.engine.fund(ACCOUNT, "ETH", Decimal("2"))  # appears while the bot is down
    second = _bot(cfg, broker)
    with pytest.raises(ReconciliationRefusedError, match="ETH: store \\(bot fills\\) 0 vs exchange 2") as err:
        await second.start()
    assert "perps-bot reconcile --accept-exchange" in str(err.value)
    assert not second._started and second.last_equity is None  # no snapshot was taken


async def test_periodic_reconciliation_halts_on_a_persistent_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPT_TRADER_RECONCILE_EVERY_CYCLES", "2")
    cfg = _config(tmp_path)
    broker = MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH)
    bot = _bot(cfg, broker)
    await bot.start()
    await bot.run_cycle()
    await bot.run_cycle()  # cycle 2: check, all equal
    assert not bot.halted
    broker.engine.fund(ACCOUNT, "BTC", Decimal("1"))
    for _ in range(4):  # cycles 3..6: seen at 4, persistent at 6
        await bot.run_cycle()
    assert bot.halted and bot.stopping
    assert bot.halt_reason is not None and "BTC: store (bot fills)" in bot.halt_reason


async def test_guard_state_survives_a_restart(tmp_path: Path) -> None:
    """Daily-loss baseline (day-start equity) and peak equity come back from the StateStore: a restart
    must not reset the loss budget or the drawdown reference. Equity here moves by trading only; cash
    moved in or out is a transfer that shifts both baselines (tests/integration/bot/ covers that)."""
    cfg = _config(tmp_path)
    broker = MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH)
    first = _bot(cfg, broker)
    await first.start()
    equity = first.risk.state.day_start_equity
    assert equity is not None
    # the day so far: it started 300 above today's equity and peaked 1,234 above it (a fresh start
    # would take both from the current equity instead)
    snapshot = await first._snapshot()
    first.risk.state.day_start_equity = equity + 300
    first.risk.evaluate(msgspec.structs.replace(snapshot, equity=equity + 1234))  # a new peak: state saved
    second = _bot(cfg, broker)
    await second.start()
    assert second.risk.state.day_start_equity == equity + 300
    assert second.risk.state.peak_equity == equity + 1234
    assert second.events.count("transfer") == 0


async def test_a_trade_closed_during_start_up_reconciliation_keeps_the_guard_state(tmp_path: Path) -> None:
    """Killed between sending a CLOSE and storing its acknowledgement: the restart finds the fill while
    reconciling, before the risk manager has loaded its state. The closed trade is reported after the
    load, so the persisted daily-loss baseline is not overwritten by a blank state."""
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderType, TimeInForce
    from gpt_trader.orchestration.live_execution import client_order_id_for

    cfg = _config(tmp_path)
    broker = MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH)
    first = _bot(cfg, broker)
    await first.start()
    day_start = first.risk.state.day_start_equity
    buy = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("1"),
        time_in_force=TimeInForce.IOC,
    )
    assert (await first.execution.submit(buy, intent_id="ETH-USD:20250106T120000:BUY")).status == "sent"
    intent = "ETH-USD:20250106T120100:CLOSE"
    close = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.SELL,
        order_type=OrderType.MARKET,
        size=Decimal("1"),
        time_in_force=TimeInForce.IOC,
        reduce_only=True,
        client_order_id=client_order_id_for(cfg.bot_id, intent),
    )
    first.registry.orders.record_intent(close, intent_id=intent, session_id="s", at=broker.now())
    await broker.place_order(close)  # sent; the process dies before the acknowledgement is stored

    second = _bot(cfg, broker)
    await second.start()
    assert second.risk.state.day_start_equity == day_start
    assert [sym for sym, _ in second.risk.state.trades] == ["ETH-USD"]
    stored = second.registry.state.get("risk.guard_state")
    assert stored is not None and Decimal(str(stored["day_start_equity"])) == day_start
