"""Every start-up reconciliation path, on the MockBroker venue (the same matching engine as the
simulator), with the venue surviving while the bot 'process' restarts over its SQLite file."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from durability_harness import Harness

from gpt_trader.features.brokerages.core.interfaces import (
    Fill,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.brokerages.mock import ACCOUNT
from gpt_trader.orchestration.live_execution import client_order_id_for
from gpt_trader.orchestration.reconciliation import ReconciliationRefusedError


def _limit(symbol: str, side: OrderSide, size: str, price: Decimal) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        size=Decimal(size),
        limit_price=price,
        time_in_force=TimeInForce.GTC,
    )


def _market(symbol: str, side: OrderSide, size: str) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        size=Decimal(size),
        time_in_force=TimeInForce.IOC,
    )


async def _mid(h: Harness, symbol: str) -> Decimal:
    return (await h.broker.get_quote(symbol)).mid


async def test_first_start_records_the_baseline_and_nothing_differs(harness: Harness) -> None:
    harness.broker.engine.fund(ACCOUNT, "ETH", Decimal("3"))  # held before the bot ever ran: not the bot's
    bot = await harness.boot()
    report = await bot.reconciler().startup()
    assert report.ok and report.count("baseline_recorded") == 1
    assert bot.orders.baseline() == {"BTC": Decimal("0"), "ETH": Decimal("3")}
    again = await (await harness.boot()).reconciler().startup()
    assert again.ok and again.corrections == []


async def test_order_filled_while_down(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    price = (await _mid(harness, "BTC-USD")) * Decimal("0.99")
    price = price.quantize(bot.products["BTC-USD"].price_increment)
    res = await bot.engine.submit(
        _limit("BTC-USD", OrderSide.BUY, "0.01", price), intent_id="BTC-USD:20250106T120000:BUY"
    )
    assert res.status == "sent" and res.order is not None and res.order.status is OrderStatus.OPEN
    # the bot dies; the market falls through the limit while it is down
    harness.broker.set_price("BTC-USD", price * Decimal("0.98"))
    assert (await harness.broker.get_order(res.order.order_id)).status is OrderStatus.FILLED

    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok and report.count("order_filled_while_down") == 1
    stored = bot2.orders.get(res.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.filled_size == Decimal("0.01")
    assert sum(f.size for f in bot2.orders.fills(order_id=res.order.order_id)) == Decimal("0.01")
    assert bot2.engine.positions.size("BTC-USD") == Decimal("0.01")
    assert bot2.engine.tracked == {}
    kinds = [e["payload"]["kind"] for e in bot2.events.iter_events(kind="reconcile_correction")]
    assert kinds == ["order_filled_while_down"]


async def test_order_cancelled_while_down(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    price = ((await _mid(harness, "ETH-USD")) * Decimal("0.9")).quantize(bot.products["ETH-USD"].price_increment)
    res = await bot.engine.submit(
        _limit("ETH-USD", OrderSide.BUY, "0.5", price), intent_id="ETH-USD:20250106T120000:BUY"
    )
    assert res.order is not None
    await harness.broker.cancel_orders([res.order.order_id])  # e.g. a human in the UI while the bot is down

    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok and report.count("order_cancelled_while_down") == 1
    stored = bot2.orders.get(res.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED
    assert bot2.orders.transitions(res.client_order_id)[-1] == ("OPEN", "CANCELLED")
    assert bot2.engine.tracked == {}


async def test_still_working_order_is_tracked_again_after_restart(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    price = ((await _mid(harness, "ETH-USD")) * Decimal("0.9")).quantize(bot.products["ETH-USD"].price_increment)
    res = await bot.engine.submit(
        _limit("ETH-USD", OrderSide.BUY, "0.5", price), intent_id="ETH-USD:20250106T120500:BUY"
    )
    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok and report.corrections == []
    assert list(bot2.engine.tracked) == [res.client_order_id]
    assert await bot2.engine.cancel(res.client_order_id)  # the restarted bot can manage it
    stored = bot2.orders.get(res.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED


async def test_missed_fill_is_added_and_explains_the_position(harness: Harness) -> None:
    """The order's final status was stored but one of its fills was not (the fills endpoint lagged the
    order endpoint): the fill sweep since the last cursor finds it."""
    bot = await harness.boot()
    await bot.reconciler().startup()
    req = _market("BTC-USD", OrderSide.BUY, "0.02")
    req = OrderRequest(
        **{
            **{f: getattr(req, f) for f in req.__struct_fields__},
            "client_order_id": client_order_id_for("test-bot", "missed"),
        }
    )
    bot.orders.record_intent(req, intent_id="missed", session_id="s", at=harness.broker.now())
    order = await harness.broker.place_order(req)
    assert order.status is OrderStatus.FILLED
    bot.orders.update_from_order(order, at=harness.broker.now(), note="ack")  # fills never stored

    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok, report.mismatches
    assert report.count("missed_fill") >= 1
    assert sum(f.size for f in bot2.orders.fills(order_id=order.order_id)) == Decimal("0.02")
    assert bot2.engine.positions.size("BTC-USD") == Decimal("0.02")


async def test_pending_submit_that_reached_the_exchange_is_adopted_not_resent(harness: Harness) -> None:
    """Killed between send and acknowledgement."""
    bot = await harness.boot()
    await bot.reconciler().startup()
    coid = client_order_id_for("test-bot", "ETH-USD:20250106T121000:BUY")
    req = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.3"),
        time_in_force=TimeInForce.IOC,
        client_order_id=coid,
    )
    bot.orders.record_intent(req, intent_id="ETH-USD:20250106T121000:BUY", session_id="s", at=harness.broker.now())
    await harness.broker.place_order(req)

    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok and report.count("pending_found_at_exchange") == 1 and report.resent == []
    stored = bot2.orders.get(coid)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert bot2.engine.positions.size("ETH-USD") == Decimal("0.3")
    await bot2.engine.poll()
    orders = await harness.broker.list_orders(open_only=False)
    assert [o.client_order_id for o in orders].count(coid) == 1


async def test_pending_submit_never_sent_is_resent_once_with_the_same_id(harness: Harness) -> None:
    """Killed between write and send; then killed again right after the resend's write."""
    bot = await harness.boot()
    await bot.reconciler().startup()
    intent = "ETH-USD:20250106T121500:BUY"
    coid = client_order_id_for("test-bot", intent)
    req = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.1"),
        time_in_force=TimeInForce.IOC,
        client_order_id=coid,
    )
    bot.orders.record_intent(req, intent_id=intent, session_id="s", at=harness.broker.now())

    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    # resent during start-up, before the first snapshot: its fill is already in the bot's position
    assert report.ok and report.resent == [coid] and bot2.engine.pending_count == 0
    stored = bot2.orders.get(coid)
    assert stored is not None and stored.status is OrderStatus.FILLED
    assert bot2.engine.positions.size("ETH-USD") == Decimal("0.1")
    # the restarted bot re-decides the same bar: same id, recorded once, never sent again
    again = await bot2.engine.submit(req, intent_id=intent)
    assert again.status == "duplicate" and again.client_order_id == coid
    bot3 = await harness.boot()
    assert (await bot3.reconciler().startup()).ok
    orders = await harness.broker.list_orders(open_only=False)
    assert [o.client_order_id for o in orders].count(coid) == 1
    assert bot3.engine.positions.size("ETH-USD") == Decimal("0.1")


async def test_stale_unsent_intent_is_failed_not_resent(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    coid = client_order_id_for("test-bot", "old")
    req = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.1"),
        time_in_force=TimeInForce.IOC,
        client_order_id=coid,
    )
    bot.orders.record_intent(req, intent_id="old", session_id="s", at=harness.broker.now() - timedelta(hours=1))
    bot2 = await harness.boot()
    report = await bot2.reconciler(resend_max_age_s=60).startup()
    assert report.ok and report.resent == [] and report.count("pending_expired") == 1
    stored = bot2.orders.get(coid)
    assert (
        stored is not None and stored.status is OrderStatus.FAILED and "never reached" in (stored.reject_reason or "")
    )
    assert await harness.broker.get_order_by_client_id(coid) is None


async def test_unknown_open_order_is_flagged_by_default(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    price = ((await _mid(harness, "BTC-USD")) * Decimal("0.8")).quantize(bot.products["BTC-USD"].price_increment)
    manual = await harness.broker.place_order(
        OrderRequest(
            **{
                **{
                    f: getattr(_limit("BTC-USD", OrderSide.BUY, "0.001", price), f)
                    for f in OrderRequest.__struct_fields__
                },
                "client_order_id": "manual-ui-1",
            }
        )
    )
    bot2 = await harness.boot()
    report = await bot2.reconciler().startup()
    assert report.ok and report.flagged_orders == [manual.order_id]
    assert report.count("unknown_order_flagged") == 1
    assert bot2.orders.get("manual-ui-1") is None and bot2.engine.tracked == {}


async def test_unknown_open_order_is_adopted_when_configured(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    price = ((await _mid(harness, "BTC-USD")) * Decimal("0.8")).quantize(bot.products["BTC-USD"].price_increment)
    manual = await harness.broker.place_order(
        OrderRequest(
            **{
                **{
                    f: getattr(_limit("BTC-USD", OrderSide.BUY, "0.001", price), f)
                    for f in OrderRequest.__struct_fields__
                },
                "client_order_id": "manual-ui-2",
            }
        )
    )
    bot2 = await harness.boot()
    report = await bot2.reconciler(unknown_orders="adopt").startup()
    assert report.ok and report.count("unknown_order_adopted") == 1
    stored = bot2.orders.get("manual-ui-2")
    assert stored is not None and stored.origin == "adopted" and stored.order_id == manual.order_id
    assert list(bot2.engine.tracked) == ["manual-ui-2"]
    # it fills later: the bot now counts it as its own, and periodic reconciliation agrees
    harness.broker.set_price("BTC-USD", price * Decimal("0.95"))
    await bot2.engine.poll()
    assert bot2.engine.positions.size("BTC-USD") == Decimal("0.001")
    assert (await bot2.reconciler(unknown_orders="adopt").periodic()).ok


async def test_unexplained_position_refuses_to_start_until_accepted(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    await bot.engine.submit(_market("BTC-USD", OrderSide.BUY, "0.01"), intent_id="BTC-USD:20250106T122000:BUY")
    # someone trades the account outside the bot (a foreign fill the store cannot attribute)
    await harness.broker.place_order(
        OrderRequest(
            symbol="BTC-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=Decimal("0.5"),
            client_order_id="someone-else",
        )
    )
    bot2 = await harness.boot()
    with pytest.raises(ReconciliationRefusedError) as err:
        await bot2.reconciler().startup()
    message = str(err.value)
    assert "BTC: store (bot fills) 0.01 vs exchange 0.51" in message
    assert "perps-bot reconcile --accept-exchange" in message
    assert [d.key for d in err.value.report.mismatches] == ["BTC"]
    assert bot2.events.count("reconcile_mismatch") == 1

    assert bot2.orders.positions_snapshot()["BTC"] == (Decimal("0.01"), Decimal("0.51"))

    bot3 = await harness.boot()
    report = await bot3.reconciler().startup(accept_exchange=True)
    assert report.ok and report.count("accepted_exchange_position") == 1
    assert bot3.orders.positions_snapshot()["BTC"] == (Decimal("0.51"), Decimal("0.51"))
    assert bot3.engine.positions.size("BTC-USD") == Decimal("0.51")
    bot4 = await harness.boot()
    assert (await bot4.reconciler().startup()).ok  # the adjustment is durable
    assert bot4.engine.positions.size("BTC-USD") == Decimal("0.51")


async def test_perp_position_mismatch_refuses(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()
    await bot.engine.submit(
        _market("BTC-PERP-INTX", OrderSide.BUY, "0.01"), intent_id="BTC-PERP-INTX:20250106T120000:BUY"
    )
    assert bot.engine.positions.size("BTC-PERP-INTX") == Decimal("0.01")
    await harness.broker.place_order(
        OrderRequest(
            symbol="BTC-PERP-INTX",
            side=OrderSide.SELL,
            order_type=OrderType.MARKET,
            size=Decimal("0.03"),
            client_order_id="foreign-perp",
        )
    )
    bot2 = await harness.boot()
    with pytest.raises(ReconciliationRefusedError, match=r"BTC-PERP-INTX: store \(bot fills\) 0.01 vs exchange -0.02"):
        await bot2.reconciler().startup()


async def test_periodic_reports_persistent_mismatch_only_when_it_repeats(harness: Harness) -> None:
    bot = await harness.boot()
    rec = bot.reconciler()
    await rec.startup()
    harness.broker.engine.fund(ACCOUNT, "ETH", Decimal("1"))
    first = await rec.periodic()
    assert not first.ok and rec.persistent(first) == []
    second = await rec.periodic()
    assert [d.key for d in rec.persistent(second)] == ["ETH"]


async def test_fill_pull_failure_keeps_tracking_and_the_next_poll_recovers(harness: Harness) -> None:
    bot = await harness.boot()
    await bot.reconciler().startup()

    original = harness.broker.list_fills
    calls = {"n": 0}

    async def flaky(*args: object, **kwargs: object) -> list[Fill]:
        calls["n"] += 1
        if calls["n"] == 1:
            from gpt_trader.features.brokerages.core.interfaces import TransientError

            raise TransientError("timeout")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    harness.broker.list_fills = flaky  # type: ignore[method-assign]
    res = await bot.engine.submit(_market("ETH-USD", OrderSide.BUY, "0.2"), intent_id="ETH-USD:20250106T123000:BUY")
    assert res.status == "sent"
    pending = bot.orders.get(res.client_order_id)
    assert pending is not None and pending.status is OrderStatus.PENDING_SUBMIT
    assert res.client_order_id in bot.engine.tracked
    await bot.engine.poll()
    resent = bot.orders.get(res.client_order_id)
    assert resent is not None and resent.status is OrderStatus.FILLED
    assert bot.engine.positions.size("ETH-USD") == Decimal("0.2") and bot.engine.tracked == {}


async def test_adopted_order_without_client_id_is_keyed_by_exchange_id_and_tracked(harness: Harness) -> None:
    """Orders entered elsewhere may carry no client_order_id; the store keys them `exchange:<id>` and
    the engine keeps refreshing them under that key."""
    import msgspec

    bot = await harness.boot()
    await bot.reconciler().startup()
    price = ((await _mid(harness, "BTC-USD")) * Decimal("0.9")).quantize(bot.products["BTC-USD"].price_increment)
    manual = await harness.broker.place_order(_limit("BTC-USD", OrderSide.BUY, "0.001", price))
    real_get, real_list = harness.broker.get_order, harness.broker.list_orders

    def strip(o: Order) -> Order:
        return msgspec.structs.replace(o, client_order_id="") if o.order_id == manual.order_id else o

    async def get_order(order_id: str) -> Order:
        return strip(await real_get(order_id))

    async def list_orders(symbol: str | None = None, *, open_only: bool = True) -> list[Order]:
        return [strip(o) for o in await real_list(symbol, open_only=open_only)]

    harness.broker.get_order = get_order  # type: ignore[method-assign]
    harness.broker.list_orders = list_orders  # type: ignore[method-assign]
    bot2 = await harness.boot()
    rec = bot2.reconciler(unknown_orders="adopt")
    report = await rec.startup()
    key = f"exchange:{manual.order_id}"
    assert report.ok and list(bot2.engine.tracked) == [key]
    harness.broker.set_price("BTC-USD", price * Decimal("0.95"))
    await bot2.engine.poll()
    stored = bot2.orders.get(key)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.origin == "adopted"
    assert bot2.engine.positions.size("BTC-USD") == Decimal("0.001")


async def test_a_flagged_unknown_order_is_journaled_once_per_process(harness: Harness) -> None:
    bot = await harness.boot()
    rec = bot.reconciler()
    await rec.startup()
    price = ((await _mid(harness, "ETH-USD")) * Decimal("0.8")).quantize(bot.products["ETH-USD"].price_increment)
    manual = await harness.broker.place_order(_limit("ETH-USD", OrderSide.BUY, "0.01", price))
    first, second = await rec.periodic(), await rec.periodic()
    assert first.flagged_orders == second.flagged_orders == [manual.order_id]
    assert first.count("unknown_order_flagged") == 1 and second.count("unknown_order_flagged") == 0
    assert bot.metrics.counters().get("reconcile.unknown_order_flagged") == 1
