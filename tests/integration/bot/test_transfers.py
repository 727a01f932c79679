"""End to end on the MockBroker: a user's withdrawal or deposit moves the guard baselines (journaled, in the
summary) instead of tripping the daily-loss guard; a genuine loss afterwards still trips it; a withdrawal
made while the bot was down is booked at the restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from gpt_trader.features.brokerages.core.interfaces import ZERO, OrderRequest, OrderSide, OrderType
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.reconcile_cli import run_reconcile
from gpt_trader.orchestration.reconciliation import ReconcileSettings
from gpt_trader.orchestration.service_registry import build_registry
from gpt_trader.orchestration.summary import console, print_summary

D = Decimal
LIMIT_USD = D("30")


def _config(tmp_path: Path) -> BotConfig:
    overrides = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "cycle_interval_s": 0.001,
        "risk.max_daily_loss_usd": LIMIT_USD,
    }
    return ConfigManager(env={}, dotenv_path=None).load("dev", overrides)


async def _cycles(bot: PerpsBot, n: int) -> None:
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    for _ in range(n):
        await bot.run_cycle()
        await broker.advance_time(bot.config.mock.market_step_s)


def _guards(bot: PerpsBot) -> set[str]:
    return {e.name for e in bot.guard_events if e.action != "cleared"}


def _held(bot: PerpsBot) -> list[str]:
    return [s for s, led in bot.positions.ledgers.items() if led.size > 0]


async def test_withdrawal_mid_session_is_a_transfer_and_a_real_loss_still_trips(tmp_path: Path) -> None:
    bot = PerpsBot(build_registry(_config(tmp_path)))
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    await bot.start()
    for _ in range(200):  # trade until the bot holds something (the genuine loss needs a position)
        await _cycles(bot, 1)
        if _held(bot) and bot.execution.fills:
            break
    held = _held(bot)
    assert held, "the dev session should have bought something within 200 cycles"
    assert "daily_loss" not in _guards(bot) and not bot.risk.reduce_only
    day_start = bot.risk.state.day_start_equity
    assert day_start is not None

    broker.transfer("USD", D("-500"))  # the user withdraws far more than the $30 daily-loss limit
    await _cycles(bot, 5)

    assert "daily_loss" not in _guards(bot) and "drawdown" not in _guards(bot)
    assert not bot.risk.reduce_only
    assert [(t.asset, t.amount) for t in bot.transfers] == [("USD", D("-500"))]
    assert bot.risk.state.day_start_equity == day_start - 500
    assert bot.metrics.counter("risk.transfers") == 1
    journaled = list(bot.registry.events.iter_events(kind="transfer"))
    assert len(journaled) == 1
    assert D(journaled[0]["payload"]["amount"]) == D("-500")
    assert journaled[0]["payload"]["kind"] == "withdrawal"
    assert D(journaled[0]["payload"]["day_start_equity"]) == day_start - 500

    # a genuine loss: what the bot holds crashes; no cash moved, so nothing is a transfer
    held_value = ZERO
    for sym in _held(bot):
        mark = bot.quotes[sym].mark_price
        held_value += bot.positions.ledgers[sym].size * mark
        broker.set_price(sym, (mark * D("0.2")).quantize(bot.products[sym].price_increment))
    assert held_value * D("0.8") > LIMIT_USD
    await _cycles(bot, 1)
    assert "daily_loss" in _guards(bot)
    assert bot.risk.reduce_only
    assert len(bot.transfers) == 1

    with console.capture() as cap:
        print_summary(bot)
    text = cap.get()
    assert "External transfers" in text and "withdrawal" in text and "-500.00 USD" in text
    await bot.shutdown()


async def test_a_session_without_transfers_books_none(tmp_path: Path) -> None:
    """Fills explain every cash change of a normal session (exactly, on the mock's arithmetic)."""
    bot = PerpsBot(build_registry(_config(tmp_path)))
    await bot.start()
    await _cycles(bot, 120)
    assert bot.execution.fills, "the dev session should trade"
    assert bot.transfers == []
    assert bot.metrics.counter("cash_flows.confirm_reads") == 0
    with console.capture() as cap:
        print_summary(bot)
    assert "External transfers" not in cap.get()
    await bot.shutdown()


async def test_withdrawal_while_down_is_booked_at_restart_not_a_daily_loss(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = PerpsBot(build_registry(config))
    broker = first.broker
    assert isinstance(broker, MockBroker)
    await first.start()
    await _cycles(first, 60)
    assert first.execution.fills
    await first.shutdown()
    before = first.risk.state.day_start_equity
    assert before is not None

    broker.transfer("USD", D("-400"))  # while the bot is down
    await broker.advance_time(60)

    # the same venue and the same store: a restart
    second = PerpsBot(build_registry(config, broker=broker, fresh_store=False))
    await second.start()
    assert [(t.asset, t.amount) for t in second.transfers] == [("USD", D("-400"))]
    assert second.risk.state.day_start_equity == before - 400
    await _cycles(second, 3)
    assert "daily_loss" not in _guards(second) and not second.risk.reduce_only
    assert second.registry.events.count("transfer") == 1
    with console.capture() as cap:
        print_summary(second)
    # booked before the session's start equity was taken: not counted against the session's change
    assert "External transfers" in cap.get() and "external transfers -" not in cap.get()
    await second.shutdown()


async def test_a_fill_the_venue_applied_before_the_read_is_not_booked_as_a_transfer(tmp_path: Path) -> None:
    """A resting order fills at the venue between cycles: the next balance read shows the cash gone before
    the bot has recorded the fill. The confirming read (after refreshing working orders) explains it."""
    bot = PerpsBot(build_registry(_config(tmp_path)))
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    await bot.start()
    await _cycles(bot, 2)
    sym = "BTC-USD"
    mark = bot.quotes[sym].mark_price
    price = (mark * D("0.99")).quantize(bot.products[sym].price_increment)
    request = OrderRequest(
        symbol=sym, side=OrderSide.BUY, order_type=OrderType.LIMIT, size=D("0.01"), limit_price=price
    )
    result = await bot.execution.submit(request, intent_id="race-test-resting-buy")
    assert result.status == "sent" and bot.execution.tracked
    fills_before = len(bot.execution.fills)
    broker.set_price(sym, (mark * D("0.98")).quantize(bot.products[sym].price_increment))  # it fills now
    await bot.run_cycle()
    assert len(bot.execution.fills) > fills_before  # recorded during the cycle, after the first read
    assert bot.transfers == []
    assert bot.metrics.counter("cash_flows.confirm_reads") >= 1
    assert bot.metrics.counter("cash_flows.pending_explained") == 1
    assert bot.registry.events.count("transfer") == 0
    await bot.shutdown()


async def test_fills_recorded_by_the_reconcile_command_while_the_bot_is_down_are_not_transfers(
    tmp_path: Path,
) -> None:
    """The bot dies with an order working; it fills; the operator runs `perps-bot reconcile`, which records
    the fill. The restarted bot must count that fill's cash, not take it for a withdrawal."""
    config = _config(tmp_path)
    first = PerpsBot(build_registry(config))
    broker = first.broker
    assert isinstance(broker, MockBroker)
    await first.start()
    await _cycles(first, 3)
    sym = "BTC-USD"
    mark = first.quotes[sym].mark_price
    inc = first.products[sym].price_increment
    request = OrderRequest(
        symbol=sym,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=D("0.01"),
        limit_price=(mark * D("0.99")).quantize(inc),
    )
    assert (await first.execution.submit(request, intent_id="left-working")).status == "sent"
    await first.run_cycle()  # one more balance read with the order still working; then the process dies
    assert first.execution.tracked
    broker.set_price(sym, (mark * D("0.98")).quantize(inc))  # fills while nobody watches

    settings = ReconcileSettings()
    assert (
        await run_reconcile(build_registry(config, broker=broker, fresh_store=False), settings, accept_exchange=False)
        == 0
    )
    await broker.connect()  # the command closed the (shared, in-memory) venue's session

    second = PerpsBot(build_registry(config, broker=broker, fresh_store=False))
    await second.start()
    await _cycles(second, 2)
    assert second.transfers == []
    assert second.registry.events.count("transfer") == 0
    assert second.risk.state.day_start_equity == first.risk.state.day_start_equity
    await second.shutdown()


async def test_a_deposit_seen_while_an_order_works_lifts_the_peak_once(tmp_path: Path) -> None:
    """With an order working, the deposit waits for confirmation; the guards meanwhile see it and lift the
    peak. Booked once the order is done, it moves the older day start but not the peak again."""
    bot = PerpsBot(build_registry(_config(tmp_path)))
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    await bot.start()
    await _cycles(bot, 2)
    sym = "BTC-USD"
    far = (bot.quotes[sym].mark_price * D("0.5")).quantize(bot.products[sym].price_increment)
    request = OrderRequest(symbol=sym, side=OrderSide.BUY, order_type=OrderType.LIMIT, size=D("0.001"), limit_price=far)
    result = await bot.execution.submit(request, intent_id="resting-far-below")
    assert result.status == "sent" and bot.execution.tracked
    day_start = bot.risk.state.day_start_equity
    assert day_start is not None

    broker.transfer("USD", D("5000"))
    await _cycles(bot, 1)
    assert bot.transfers == [] and bot.cash_flows.state.pending == {"USD": D("5000")}
    peak = bot.risk.state.peak_equity
    assert peak is not None and peak > day_start + 4000  # the guards saw the deposit

    assert await bot.execution.cancel(result.client_order_id)
    await _cycles(bot, 1)
    assert [(t.asset, t.amount) for t in bot.transfers] == [("USD", D("5000"))]
    assert bot.risk.state.day_start_equity == day_start + 5000
    assert bot.risk.state.peak_equity is not None and bot.risk.state.peak_equity < peak + 1000
    assert "drawdown" not in _guards(bot) and "daily_loss" not in _guards(bot)
    await bot.shutdown()


async def test_perps_realized_pnl_and_funding_are_not_transfers_and_a_withdrawal_is(tmp_path: Path) -> None:
    """Perpetuals on the mock: fills realize PnL into the USDC collateral and hourly funding is paid from
    it; none of it is a transfer. A USDC withdrawal in the same session is booked exactly, like a USD one,
    and the summary shows the perps' PnL in USDC."""
    from gpt_trader.features.brokerages.core.matching import FundingEvent

    perps = ["BTC-PERP-INTX", "ETH-PERP-INTX", "SOL-PERP-INTX"]
    config = ConfigManager(env={}, dotenv_path=None).load(
        "dev",
        {
            "data_root": str(tmp_path / "data"),
            "log_dir": str(tmp_path / "logs"),
            "cycle_interval_s": 0.001,
            "symbols": perps,
            "sizing.sizes": {"BTC-PERP-INTX": "0.002", "ETH-PERP-INTX": "0.05", "SOL-PERP-INTX": "1"},
            "risk.max_leverage": "5",
        },
    )
    bot = PerpsBot(build_registry(config))
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    for sym in perps:
        broker.engine.set_funding_rate(sym, D("0.001"))
    await bot.start()
    await _cycles(bot, 200)
    assert {b.asset for b in await broker.list_balances() if b.total} >= {"USDC"}
    broker.transfer("USDC", D("-1234.56"))
    await _cycles(bot, 200)
    funding = [e for e in broker.engine_events if isinstance(e, FundingEvent)]
    realized = [led.realized_pnl for led in bot.positions.ledgers.values()]
    assert len(bot.execution.fills) >= 10 and funding and any(r != 0 for r in realized)
    assert [(t.asset, t.amount) for t in bot.transfers] == [("USDC", D("-1234.56"))]
    assert bot.transfers_in_session == D("-1234.56")  # USD, at 1 USD per USDC
    assert bot.metrics.counter("cash_flows.pending_explained") == 0
    with console.capture() as captured:
        print_summary(bot)
    out = captured.get()
    rows = [line for line in out.splitlines() if line.startswith("│ ") and "-PERP" in line.split("│")[1]]
    assert len(rows) == 3 and all("USDC" in row for row in rows), out
    assert "-1,234.56 USDC" in out
    await bot.shutdown()
