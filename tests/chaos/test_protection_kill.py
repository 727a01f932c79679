"""Protection outlives the process: the canary bot (a real subprocess, streams on, the exchange simulator
over 127.0.0.1) enters with a stop and a target, and is SIGKILLed at the protection's kill points.

Lives:
1. kill point `protect_before_send`: the entry has filled, no stop was sent (the position is naked).
2. restarted with kill point `protect_after_send`: the bracket reaches the venue, its ack is not stored.
3. restarted (reduce-only, no new entries): exactly one working bracket, known to the store; a graceful
   stop (SIGTERM, `shutdown.cancel_open_orders` on) leaves it working at the venue.
While no bot runs, the price falls through the stop: the venue closes the position.
4. restarted: the bot's store shows the bracket FILLED, its exit fill recorded, the position flat.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_support import SimThread, bot_env, window_start

from gpt_trader.features.brokerages.core.interfaces import Order, OrderStatus, OrderType
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.live_execution import CHAOS_KILL_ENV
from gpt_trader.orchestration.protection import is_protective_intent
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]

SYMBOL = "BTC-USD"
SIZE = Decimal("0.0002")
STRATEGY = Path(__file__).with_name("protect_strategy.py")


def _profile(directory: Path) -> Path:
    tree = yaml.safe_load(resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text())
    tree.update(
        data_root=str(directory / "data"),
        log_dir=str(directory / "logs"),
        cycle_interval_s=1,
        symbols=[SYMBOL],
        strategy={"name": f"{STRATEGY}:EnterWhenFlat", "params": {}, "granularity_s": 60},
        sizing={"method": "fixed_size", "sizes": {SYMBOL: str(SIZE)}},
        exits={"unit": "pct", "stop_loss": 0.03, "take_profit": 0.05},
    )
    monitoring = dict(tree.get("monitoring") or {})
    monitoring["metrics_port"] = 0  # tests run side by side: any free port
    tree["monitoring"] = monitoring
    risk = dict(tree.get("risk") or {})
    risk.update(max_orders_per_minute=60, stale_mark_s=600)
    tree["risk"] = risk
    path = directory / "canary.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


class Harness:
    """The simulator in a thread, the bot as subprocesses, the venue's orders read directly."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sim_thread = SimThread(
            port=0,
            seed=7,
            start_time=window_start(),
            speed=30.0,
            tick_interval_s=0.1,
            rate_limit_private=1000,
            rate_limit_public=1000,
            products=[p for p in default_products() if p.symbol == SYMBOL],
        )
        self.profile = _profile(tmp)
        self.lives = 0

    def launch(self, *args: str, kill_point: str | None = None) -> subprocess.Popen[bytes]:
        self.lives += 1
        extra = {CHAOS_KILL_ENV: kill_point} if kill_point else {}
        out = (self.tmp / f"life{self.lives}.out").open("wb")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(self.profile), *args],
                env=bot_env(self.sim_thread.env(), extra),
                cwd=self.tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        finally:
            out.close()

    def output(self) -> str:
        return (self.tmp / f"life{self.lives}.out").read_text(errors="replace")

    def orders(self) -> list[Order]:
        sim = self.sim_thread.sim

        async def read() -> list[Order]:
            return sim.engine.list_orders(sim.account_id, None, open_only=False)

        return self.sim_thread.call(read())

    def protections(self, *, working: bool) -> list[Order]:
        return [
            o for o in self.orders() if o.order_type is OrderType.BRACKET and (o.status.is_working if working else True)
        ]

    def set_price(self, price: Decimal) -> None:
        sim = self.sim_thread.sim

        async def move() -> None:
            sim.venue.set_price(SYMBOL, price)

        self.sim_thread.call(move())

    def wait(self, pred: Callable[[], Any], proc: subprocess.Popen[bytes] | None, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"bot exited {proc.returncode} before {what}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def died_at(self, proc: subprocess.Popen[bytes], point: str) -> None:
        rc = proc.wait(timeout=90)
        assert rc == -signal.SIGKILL, f"expected a SIGKILL at {point}, got {rc}:\n{self.output()[-4000:]}"
        assert "chaos kill point reached" in self.output() and point in self.output()

    def store(self) -> OrdersStore:
        return OrdersStore(open_database(self.tmp / "data" / "canary" / "bot.sqlite3"))


def test_protection_survives_kills_and_closes_the_position_while_the_bot_is_down(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.sim_thread.start()
    try:
        # life 1: the entry fills, the bot dies before any stop is sent
        proc = h.launch(kill_point="protect_before_send")
        h.died_at(proc, "protect_before_send")
        entries = [o for o in h.orders() if o.order_type is OrderType.MARKET and o.filled_size > 0]
        assert len(entries) == 1 and entries[0].filled_size == SIZE
        assert h.protections(working=False) == [], "no stop may exist yet: the kill came before its send"

        # life 2: the restart places the missing bracket and dies before recording its acknowledgement
        proc = h.launch("--reduce-only", kill_point="protect_after_send")
        h.died_at(proc, "protect_after_send")
        assert len(h.protections(working=True)) == 1

        # life 3: exactly one protection, adopted from the venue; a graceful stop leaves it working
        proc = h.launch("--reduce-only")
        h.wait(lambda: "bot started" in h.output(), proc, "start-up", 60)
        time.sleep(4.0)  # a few cycles: ensure() runs and must not add a second bracket
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, h.output()[-4000:]
        working = h.protections(working=True)
        assert len(working) == 1, f"exactly one working protection expected, venue has {working}"
        bracket = working[0]
        coids = Counter(o.client_order_id for o in h.orders())
        assert all(n == 1 for n in coids.values()), coids
        stored = h.store().get(bracket.client_order_id)
        assert stored is not None and is_protective_intent(stored.intent_id)
        assert stored.status is OrderStatus.OPEN, stored.status
        entry_price = entries[0].avg_fill_price
        assert entry_price is not None and bracket.stop_trigger_price is not None
        assert bracket.size == SIZE
        assert bracket.stop_trigger_price < entry_price < (bracket.limit_price or Decimal(0))

        # no bot runs: the price falls through the stop and the venue closes the position (1 % through it:
        # the stop leg is a limit 5 % through the trigger, so a gap deeper than that would leave it resting)
        h.set_price(bracket.stop_trigger_price * Decimal("0.99"))
        h.wait(
            lambda: next(o for o in h.orders() if o.order_id == bracket.order_id).status is OrderStatus.FILLED,
            None,
            "the stop to fill at the venue",
            30,
        )

        # life 4: the restarted bot shows the exit recorded and the position flat
        proc = h.launch("--reduce-only")
        h.wait(lambda: "bot started" in h.output(), proc, "start-up", 60)
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, h.output()[-4000:]
        store = h.store()
        final = store.get(bracket.client_order_id)
        assert final is not None and final.status is OrderStatus.FILLED
        exit_fills = store.fills(order_id=bracket.order_id)
        assert sum(f.size for f in exit_fills) == SIZE
        assert sum(f.size * f.side.sign for f in store.fills(symbol=SYMBOL)) == 0, "the position must be flat"
        assert h.protections(working=True) == []
    finally:
        h.sim_thread.stop()
