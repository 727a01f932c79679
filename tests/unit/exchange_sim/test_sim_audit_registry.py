"""The session-wide simulator audit (tests/sim_audit.py) can fail: a simulator whose books do not add up
is reported with the account and asset, whether it stops during the test or is still running after it."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType, TimeInForce
from sim_audit import REGISTRY


def _corrupt(sim: ExchangeSimulator) -> None:
    sim.engine.fund(sim.account_id, "USD", Decimal("5"))  # money from nowhere: bypasses the venue ledger


async def test_a_simulator_stopped_with_bad_books_is_reported() -> None:
    before = REGISTRY.audits
    async with ExchangeSimulator(port=0, synthetic=False, initial_funds={"USD": Decimal("10000")}) as sim:
        sim.venue.pin_book("BTC-USD", [BookLevel(Decimal(99), Decimal(5))], [BookLevel(Decimal(101), Decimal(5))])
        req = OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=Decimal("0.5"),
            time_in_force=TimeInForce.IOC,
        )
        await sim.venue.create_order(sim.account_id, req)
        _corrupt(sim)
    failures = REGISTRY.check()  # taken here, so the autouse check sees none
    assert REGISTRY.audits == before + 1
    assert len(failures) == 1 and "simulator audit not ok" in failures[0]
    assert '"USD": {"actual": "9953.894", "expected": "9948.894"' in failures[0]  # 10000 - 50.5 - 1.2 % fee


def test_a_running_simulator_with_bad_books_is_reported_after_the_test() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sim = ExchangeSimulator(port=0, synthetic=False, initial_funds={"USD": Decimal("100")})
    try:
        asyncio.run_coroutine_threadsafe(sim.start(), loop).result(30)
        assert REGISTRY.check() == []  # healthy books: nothing to report
        loop.call_soon_threadsafe(_corrupt, sim)  # runs on the simulator's loop before the audit below
        failures = REGISTRY.check()
        assert len(failures) == 1 and '"expected": "100"' in failures[0]
        loop.call_soon_threadsafe(sim.engine.fund, sim.account_id, "USD", Decimal("-5"))  # repaired
        assert REGISTRY.check() == []
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
