"""What a start-up wait repeats, on the adapter against the simulator's `outage` fault: reads are waited
through a 503 burst; a non-idempotent write that may have run (a 503 after send) is never repeated, not
even during start-up; a 429 (never acted on) is waited out for a write too."""

from __future__ import annotations

import time

import pytest
from cb_sim import MakeBroker

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.interfaces import RateLimitError, TransientError
from gpt_trader.features.brokerages.core.startup_wait import StartupWait, WaitEvent

pytestmark = pytest.mark.integration


async def test_reads_wait_a_burst_out_writes_that_may_have_run_do_not(
    sim: ExchangeSimulator, make_broker: MakeBroker
) -> None:
    broker = await make_broker()
    events: list[WaitEvent] = []
    broker.set_startup_wait(StartupWait(20, on_wait=events.append))

    sim.faults.apply("outage:1.5:503")
    t0 = time.monotonic()
    accounts = await broker.rest.all_accounts()
    assert accounts and time.monotonic() - t0 >= 1.0 and events, "the read waited the burst out"
    assert all(e.reason == "HTTP_503" and e.what == "GET /accounts" for e in events)

    sim.faults.apply("outage:5:503")
    before = len(events)
    with pytest.raises(TransientError) as caught:
        await broker.rest.cancel_orders(["no-such-order"])  # may have run: never repeated
    assert not isinstance(caught.value, RateLimitError) and len(events) == before
    sim.faults.clear()

    sim.faults.apply("outage:5:429:1")  # longer than the client's own 4 tries
    result = await broker.rest.cancel_orders(["no-such-order"])  # a 429 was never acted on: waited out
    assert len(result.results) == 1 and len(events) > before

    broker.set_startup_wait(None)  # after start-up: failures surface at once again
    sim.faults.apply("outage:5:503")
    t0 = time.monotonic()
    with pytest.raises(TransientError):
        await broker.rest.all_accounts()
    assert time.monotonic() - t0 < 4
    sim.faults.clear()
