"""Scenario harness: the real PerpsBot on a MockBroker, with a scripted strategy the test steers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy, register
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import MOCK_EPOCH, build_registry

D = Decimal
STEP_S = 60  # one bar per cycle


@register
class ScriptedStrategy(Strategy):
    """Does exactly what the test queued for a symbol on its next bar, else holds."""

    name = "scenario_scripted"
    plan: ClassVar[dict[str, list[Action]]] = {}

    @property
    def history_needed(self) -> int:
        return 2

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        queue = self.plan.get(symbol)
        if not queue:
            return Decision.hold("scripted: nothing queued")
        return Decision(action=queue.pop(0), reason="scripted", confidence=1.0)


def config(
    tmp_path: Path, symbols: list[str], *, sizes: dict[str, str], risk: dict[str, Any] | None = None, **extra: Any
) -> BotConfig:
    overrides: dict[str, Any] = {
        "symbols": symbols,
        "strategy.name": ScriptedStrategy.name,
        "strategy.params": {},
        "sizing.sizes": {k: D(v) for k, v in sizes.items()},
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "health_file": str(tmp_path / "health.json"),
        **extra,
    }
    for key, value in (risk or {}).items():
        overrides[f"risk.{key}"] = value
    return ConfigManager(env={}, dotenv_path=None).load("dev", overrides)


async def start_bot(
    cfg: BotConfig,
    *,
    seed: int = 11,
    cash: str = "100000",
    before_start: Callable[[MockBroker], Awaitable[None]] | None = None,
) -> tuple[PerpsBot, MockBroker]:
    """A bot on a fresh store; `before_start` stages venue state the bot finds when it starts."""
    ScriptedStrategy.plan.clear()
    broker = MockBroker(symbols=cfg.symbols, seed=seed, start=MOCK_EPOCH, starting_cash=D(cash))
    if before_start is not None:
        await before_start(broker)
    bot = PerpsBot(build_registry(cfg, broker=broker, fresh_store=True))
    await bot.start()
    return bot, broker


async def cycle(bot: PerpsBot, broker: MockBroker, *, advance: float = STEP_S) -> None:
    """Let a bar close, then run one trading cycle."""
    await broker.advance_time(advance)
    await bot.run_cycle()


def queue(symbol: str, *actions: Action) -> None:
    ScriptedStrategy.plan.setdefault(symbol, []).extend(actions)


def guard_events(bot: PerpsBot, name: str) -> list[tuple[str, str]]:
    return [(e.name, e.action) for e in bot.guard_events if e.name == name]


def entries_blocked(bot: PerpsBot, symbol: str) -> list[str]:
    return [e["payload"]["reason"] for e in bot.events.iter_events(kind="entry_blocked") if e["symbol"] == symbol]


def filled_orders(bot: PerpsBot, symbol: str) -> list[tuple[str, Decimal]]:
    """(side, size) of every filled order on `symbol`, oldest first."""
    return [
        (o.side.value, o.size)
        for o in bot.registry.orders.list_orders(session_id=bot.registry.session_id)
        if o.symbol == symbol and o.filled_size > 0
    ]
