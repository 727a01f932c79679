"""Protection on the MockBroker (the shared MatchingEngine): every entry gets its venue-side exit, the
exits close positions, and at the end each open position has exactly one working protection."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

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
        by_entry.setdefault(entry, []).append(Decimal(rest.split(":")[1]))
    assert any(len(v) > 1 for v in by_entry.values())
    for prices in by_entry.values():
        assert prices == sorted(prices), prices
    _check_one_protection_per_position(bot)
