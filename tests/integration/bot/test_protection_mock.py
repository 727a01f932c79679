"""Protection on the MockBroker (the shared MatchingEngine): every entry gets its venue-side exit, the
exits close positions, and at the end each open position has exactly one working protection."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from gpt_trader.features.brokerages.core.interfaces import OrderStatus, OrderType
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.protection import is_protective_intent
from gpt_trader.orchestration.service_registry import build_registry

STRATEGY = Path(__file__).parents[2] / "chaos" / "protect_strategy.py"


def _config(tmp_path: Path, exits: dict[str, object]) -> BotConfig:
    overrides = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "cycles": 120,
        "cycle_interval_s": 0.001,
        "symbols": ["BTC-USD", "ETH-USD"],
        "strategy": {"name": f"{STRATEGY}:EnterWhenFlat", "params": {}},
        "exits": exits,
    }
    return ConfigManager(env={}, dotenv_path=None).load("dev", overrides)


async def _run(config: BotConfig) -> PerpsBot:
    bot = PerpsBot(build_registry(config))
    await bot.run(cycles=config.cycles, interval_s=0)
    return bot


def _check_one_protection_per_position(bot: PerpsBot) -> None:
    for sym in bot.symbols:
        working = bot.protection.working(sym)
        if bot.positions.size(sym) != 0:
            assert len(working) == 1, f"{sym}: {len(working)} working protections"
            assert working[0].size - working[0].filled_size == abs(bot.positions.size(sym))
        else:
            assert working == []


async def test_brackets_protect_every_entry_and_close_positions(tmp_path: Path) -> None:
    bot = await _run(_config(tmp_path, {"stop_loss": 0.002, "take_profit": 0.002}))
    orders = bot.registry.orders.list_orders(session_id=bot.registry.session_id)
    protective = [o for o in orders if is_protective_intent(o.intent_id)]
    entries = [o for o in orders if not is_protective_intent(o.intent_id) and o.filled_size > 0]
    assert protective and all(o.order_type is OrderType.BRACKET for o in protective)
    filled = [o for o in protective if o.status is OrderStatus.FILLED]
    assert filled, "a 0.2 % stop or target should be hit within 120 one-minute bars"
    # every fill of a protective order reduced a position (the strategy itself never exits)
    assert len(entries) >= len(filled)
    _check_one_protection_per_position(bot)
    assert bot.metrics.counter("protection.placed") >= len(protective)


async def test_trailing_stop_moves_up_with_the_mark(tmp_path: Path) -> None:
    bot = await _run(_config(tmp_path, {"trailing": 0.003}))
    orders = bot.registry.orders.list_orders(session_id=bot.registry.session_id)
    stops = [o for o in orders if is_protective_intent(o.intent_id)]
    assert stops and all(o.order_type is OrderType.STOP_LIMIT for o in stops)
    assert bot.metrics.counter("protection.replaced") >= 1, "the trail should have moved at least once"
    # within one entry, each replacement rests at a higher stop than the one before (a long's trail)
    by_entry: dict[str, list[Decimal]] = {}
    for o in sorted(stops, key=lambda o: o.created_at):
        entry, _, rest = o.intent_id.partition("#protect:")
        by_entry.setdefault(entry, []).append(Decimal(rest.split(":")[1].split("/")[0]))
    assert any(len(v) > 1 for v in by_entry.values())
    for prices in by_entry.values():
        assert prices == sorted(prices), prices
    _check_one_protection_per_position(bot)


async def _cycles(bot: PerpsBot, n: int) -> None:
    for _ in range(n):
        await bot.run_cycle()
        await bot.broker.advance_time(60)  # type: ignore[attr-defined]


async def test_ensure_cancels_a_duplicate_replaces_a_missing_one_and_flatten_removes_it(tmp_path: Path) -> None:
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, TimeInForce

    config = _config(tmp_path, {"stop_loss": 0.2, "take_profit": 0.2})  # wide: nothing triggers
    bot = PerpsBot(build_registry(config))
    sym = "BTC-USD"
    try:
        await _cycles(bot, 3)
        size = bot.positions.size(sym)
        assert size > 0
        (first,) = bot.protection.working(sym)
        # a duplicate appears (as a crash between two protection sends could leave one)
        assert first.stop_trigger_price is not None and first.limit_price is not None
        dup = OrderRequest(
            symbol=sym,
            side=OrderSide.SELL,
            order_type=OrderType.BRACKET,
            size=size,
            limit_price=first.limit_price,
            stop_trigger_price=first.stop_trigger_price - 1,
            time_in_force=TimeInForce.GTC,
        )
        # on spot the first one holds the base: give the venue room for a second one (as on a perp)
        from gpt_trader.features.brokerages.mock.broker import ACCOUNT

        bot.broker.engine.fund(ACCOUNT, "BTC", size)  # type: ignore[attr-defined]
        sent = await bot.execution.submit(dup, intent_id=f"{sym}:dup#protect:{size}:x", role="protect")
        assert sent.status == "sent", sent
        assert len(bot.protection.working(sym)) == 2
        await bot.protection.ensure({})
        assert [o.client_order_id for o in bot.protection.working(sym)] == [first.client_order_id]
        assert bot.metrics.counter("protection.duplicate_cancelled") == 1
        bot.broker.engine.fund(ACCOUNT, "BTC", -size)  # type: ignore[attr-defined]  # the room goes again
        # the protection disappears at the venue (cancelled by hand): the next cycle places it again
        await bot.broker.cancel_orders([first.order_id])
        await bot.execution.poll()
        assert bot.protection.working(sym) == []
        await _cycles(bot, 1)
        (again,) = bot.protection.working(sym)
        assert again.stop_trigger_price == first.stop_trigger_price and again.size == size
        # a graceful stop keeps it at the venue (position open), and a flatten removes both
        kept = bot.protection.protective_ids()
        assert again.client_order_id in kept
        cancelled = await bot.execution.cancel_all(keep=kept)
        assert bot.protection.working(sym) == [again] and cancelled == 0
        snapshot = await bot._snapshot()
        await bot._close_position(sym, snapshot, reason="explicit flatten", bar_key="flatten-test")
        assert bot.positions.size(sym) == 0, (bot.risk_rejections, bot.registry.orders.list_orders()[-1])
        final = bot.registry.orders.get(again.client_order_id)
        assert final is not None and final.status is OrderStatus.CANCELLED
    finally:
        await bot.shutdown()


def test_summary_lines_split_fees_and_say_where_stops_live(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from gpt_trader.features.brokerages.core.interfaces import Fill, Liquidity, OrderSide
    from gpt_trader.orchestration.summary import exits_line, fees_line

    def fill(liq: Liquidity, fee: str, sym: str = "BTC-USD") -> Fill:
        return Fill(
            trade_id=f"t{fee}{liq.value}",
            order_id="o",
            symbol=sym,
            side=OrderSide.BUY,
            price=Decimal(1),
            size=Decimal(1),
            fee=Decimal(fee),
            liquidity=liq,
            ts=datetime.now(UTC),
        )

    line = fees_line([fill(Liquidity.MAKER, "0.40"), fill(Liquidity.TAKER, "1.20"), fill(Liquidity.TAKER, "0.6")], {})
    assert line == "Fees: maker 0.40 (1 fills), taker 1.80 (2 fills)"
    config = _config(tmp_path, {"stop_loss": 0.01, "trailing": 0.02})
    assert exits_line(config).startswith("stop_loss 0.01, trailing 0.02 (fraction of price)")
    always = ConfigManager(env={}, dotenv_path=None).load(
        "canary", {"data_root": str(tmp_path), "coinbase": {"client_side_stops": "always"}}
    )
    assert "CLIENT-SIDE triggers" in exits_line(always)


async def test_limit_entries_rest_reprice_time_out_and_get_protected_when_filled(tmp_path: Path) -> None:
    from gpt_trader.features.brokerages.core.interfaces import Liquidity

    overrides = {"entry": {"type": "limit", "offset_bps": 10, "post_only": True, "timeout_s": 300}}
    cfg = ConfigManager(env={}, dotenv_path=None).load(
        "dev",
        {
            "data_root": str(tmp_path / "data"),
            "log_dir": str(tmp_path / "logs"),
            "cycles": 120,
            "cycle_interval_s": 0.001,
            "symbols": ["BTC-USD", "ETH-USD"],
            "strategy": {"name": f"{STRATEGY}:EnterWhenFlat", "params": {}},
            "exits": {"stop_loss": 0.01, "take_profit": 0.01},
            **overrides,
        },
    )
    bot = await _run(cfg)
    orders = bot.registry.orders.list_orders(session_id=bot.registry.session_id)
    entries = [o for o in orders if not is_protective_intent(o.intent_id) and "#stopout" not in o.intent_id]
    assert entries and all(o.order_type is OrderType.LIMIT for o in entries)
    filled_ids = {o.order_id for o in entries if o.filled_size > 0}
    assert filled_ids, "a resting entry at the touch should fill within 120 bars"
    entry_fills = [f for f in bot.registry.orders.fills() if f.order_id in filled_ids]
    assert entry_fills and all(f.liquidity is Liquidity.MAKER for f in entry_fills), "post-only entries pay maker"
    moved = bot.metrics.counter("entries.repriced_amend") + bot.metrics.counter("entries.repriced_replace")
    counts = {
        k: bot.metrics.counter(f"entries.{k}")
        for k in ("repriced_amend", "repriced_replace", "amend_refused", "limit_timeout")
    }
    assert moved >= 1, counts
    assert bot.metrics.counter("entries.repriced_amend") >= 1, "a GTC limit is amended in place"
    # every filled entry got its protection
    protected = {o.intent_id.split("#protect:")[0] for o in orders if is_protective_intent(o.intent_id)}
    for o in entries:
        if o.filled_size > 0:
            assert o.intent_id.split("#reprice:")[0] in protected, o.intent_id
    _check_one_protection_per_position(bot)


async def test_a_partial_fill_is_protected_at_once_and_the_rest_on_its_fill(tmp_path: Path) -> None:
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, TimeInForce
    from gpt_trader.features.brokerages.core.quantization import quantize_price

    config = _config(tmp_path, {"stop_loss": 0.05, "take_profit": 0.05})
    bot = PerpsBot(build_registry(config))
    sym, half = "BTC-USD", Decimal("0.001")
    engine = bot.broker.engine  # type: ignore[attr-defined]
    try:
        await bot.start()
        quote = await bot.broker.get_quote(sym)
        product = bot.products[sym]
        inside = quantize_price((quote.bid + quote.ask) / 2, product, OrderSide.BUY)
        assert quote.bid < inside < quote.ask  # the best bid: the next sell hits it first
        intent = f"{sym}:20250106T120000:BUY"
        bot.protection.plan_entry(sym, intent, None)
        entry = OrderRequest(
            symbol=sym,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=2 * half,
            limit_price=inside,
            time_in_force=TimeInForce.GTC,
        )
        assert (await bot.execution.submit(entry, intent_id=intent)).status == "sent"
        engine.fund("other", "BTC", Decimal(1))
        sell = OrderRequest(
            symbol=sym, side=OrderSide.SELL, order_type=OrderType.MARKET, size=half, time_in_force=TimeInForce.IOC
        )
        engine.submit("other", sell)
        await bot.execution.poll()
        assert bot.positions.size(sym) == half
        await bot.protection.ensure({})
        (first,) = bot.protection.working(sym)
        assert first.size == half, "the filled part is protected at once"
        engine.submit("other", sell)
        await bot.execution.poll()
        assert bot.positions.size(sym) == 2 * half
        await bot.protection.ensure({})
        (second,) = bot.protection.working(sym)
        assert second.size == 2 * half and second.client_order_id != first.client_order_id
        stored = bot.registry.orders.get(first.client_order_id)
        assert stored is not None and stored.status is OrderStatus.CANCELLED
    finally:
        await bot.shutdown()


async def test_atr_exits_place_the_stop_atr_multiples_from_the_entry(tmp_path: Path) -> None:
    config = _config(tmp_path, {"unit": "atr", "stop_loss": 2.0, "take_profit": 3.0, "atr_period": 5})
    config = msgspec.structs.replace(config, cycles=12)
    bot = await _run(config)
    plans = {sym: bot.protection.plan_for(sym) for sym in bot.symbols}
    checked = 0
    for order in bot.registry.orders.list_orders(session_id=bot.registry.session_id):
        if not is_protective_intent(order.intent_id):
            continue
        plan = plans[order.symbol]
        assert plan is not None and plan.atr is not None and plan.atr > 0
        entry = next(
            o
            for o in bot.registry.orders.list_orders(session_id=bot.registry.session_id)
            if o.intent_id == order.intent_id.split("#protect:")[0]
        )
        assert entry.avg_fill_price is not None and order.limit_price is not None
        target = entry.avg_fill_price + 3 * plan.atr
        tick = bot.products[order.symbol].price_increment
        assert abs(order.limit_price - target) <= tick, (order.limit_price, target)
        checked += 1
    assert checked >= 1


def test_bad_exits_and_entry_values_are_refused_naming_the_key(tmp_path: Path) -> None:
    import pytest

    from gpt_trader.errors import ConfigError

    cases: list[tuple[dict[str, object], str]] = [
        ({"stop_loss": 1.5}, "stop_loss"),
        ({"take_profit": 0.02}, "stop_loss or trailing"),
        ({"stop_loss": 0.01, "unit": "points"}, "unit"),
    ]
    for exits, words in cases:
        with pytest.raises(ConfigError, match=words):
            _config(tmp_path, exits)
    with pytest.raises(ConfigError, match="reprice"):
        ConfigManager(env={}, dotenv_path=None).load(
            "dev", {"data_root": str(tmp_path), "entry": {"type": "limit", "reprice": "sometimes"}}
        )
