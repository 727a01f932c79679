"""Account telemetry, the `account` command and the paper broker, against the simulator."""

from __future__ import annotations

import asyncio
import io
import json
import os
from decimal import Decimal as D
from pathlib import Path

import pytest
from cb_sim import eventually, pin, sim_env
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.account import CoinbaseAccountManager
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.cli import account_command
from gpt_trader.features.brokerages.core.interfaces import (
    Broker,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
)
from gpt_trader.features.paper_trade import PaperBroker
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = pytest.mark.integration
BTC = "BTC-USD"


async def test_account_snapshot(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, [("99990", "5")], [("100010", "5")])
    await broker.place_order(
        OrderRequest(symbol=BTC, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.1"), client_order_id="a1")
    )
    manager = CoinbaseAccountManager(broker, interval_s=0.05)
    snap = await manager.snapshot()
    assert snap.errors == ()
    assert snap.fee_tier is not None and snap.fee_tier.taker_fee_rate > 0
    assert snap.total_fees_30d > 0 and snap.total_volume_30d > 0
    assert snap.limits is not None and snap.limits.can_trade and snap.limits.private_rps == 30
    assert {b.asset for b in snap.balances} >= {"USD", "BTC"}
    assert snap.intx_summary  # derivatives are on in this fixture
    data = snap.to_builtins()
    assert isinstance(data["total_fees_30d"], str)
    got: list[object] = []
    task = asyncio.create_task(manager.run(got.append))
    await eventually(lambda: len(got) >= 2, what="periodic snapshots")
    task.cancel()


async def test_account_command_json(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, [("99990", "5")], [("100010", "5")])
    await broker.place_order(
        OrderRequest(symbol=BTC, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.1"), client_order_id="c1")
    )
    await broker.place_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            size=D("0.1"),
            limit_price=D("90000"),
            client_order_id="c2",
        )
    )
    env = sim_env(sim)
    out = io.StringIO()
    cli_broker = CoinbaseBroker(coinbase_settings_from_env(env))
    code = await asyncio.to_thread(account_command, "canary", True, broker=cli_broker, out=out)
    assert code == 0
    report = json.loads(out.getvalue())
    assert set(report) == {"balances", "positions", "open_orders", "fills", "fee_tier"}
    usd = next(b for b in report["balances"] if b["asset"] == "USD")
    assert isinstance(usd["total"], str) and D(usd["total"]) > 0
    assert [o["client_order_id"] for o in report["open_orders"]] == ["c2"]
    assert report["fills"] and all(isinstance(f["price"], str) for f in report["fills"])
    assert D(report["fee_tier"]["taker_fee_rate"]) > 0
    text = io.StringIO()
    code = await asyncio.to_thread(
        account_command, "canary", False, broker=CoinbaseBroker(coinbase_settings_from_env(env)), out=text
    )
    assert code == 0 and "Open orders" in text.getvalue() and "Fee tier" in text.getvalue()


def test_account_command_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("COINBASE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env
    result = CliRunner().invoke(app, ["account", "--profile", "canary", "--json"])
    assert result.exit_code == 2
    assert "no credentials are set" in result.output


async def test_paper_broker_real_data_simulated_fills(live_sim: ExchangeSimulator) -> None:
    sim = live_sim
    env = {k: v for k, v in sim_env(sim).items() if "CDP" not in k and "AUTH" not in k}
    feed = CoinbaseBroker(coinbase_settings_from_env(env, require_credentials=False))
    paper = PaperBroker(feed, [BTC, "ETH-USD"], starting_cash=D("50000"))
    assert isinstance(paper, Broker)
    await paper.connect()
    updates: list[OrderUpdate] = []

    async def collect() -> None:
        async for u in paper.stream_user_events():
            updates.append(u)

    task = asyncio.create_task(collect())
    try:
        assert feed.public_only
        await eventually(lambda: paper.book_pushes > 2, what="feed books reaching the engine")
        venue_book = (await feed.rest.product_book(BTC, 5, public=True)).pricebook
        book = await paper.get_order_book(BTC, 5)
        assert book.best_ask is not None
        assert abs(book.best_ask - venue_book.asks[0].price) < book.best_ask * D("0.01")
        order = await paper.place_order(
            OrderRequest(
                symbol=BTC, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.1"), client_order_id="p1"
            )
        )
        assert order.status is OrderStatus.FILLED and order.avg_fill_price is not None
        assert abs(order.avg_fill_price - venue_book.asks[0].price) < order.avg_fill_price * D("0.01")
        await eventually(lambda: any(u.fills for u in updates), what="paper fill on the user stream")
        balances = {b.asset: b for b in await paper.list_balances()}
        assert balances["BTC"].total == D("0.1") and balances["USD"].total < D("50000")
        assert sim.venue.all_orders(sim.account_id) == []  # nothing reached the real venue
        found = await paper.get_order_by_client_id("p1")
        assert found is not None and found.order_id == order.order_id
        resting = await paper.place_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.BUY,
                order_type=OrderType.LIMIT,
                size=D("0.1"),
                limit_price=D("1000"),
                client_order_id="p2",
            )
        )
        assert [o.order_id for o in await paper.list_orders(BTC)] == [resting.order_id]
        assert await paper.cancel_orders([resting.order_id]) == {resting.order_id: True}
        candles = await paper.get_candles(BTC, 60, limit=10)
        assert len(candles) >= 5
    finally:
        task.cancel()
        await paper.close()


async def test_account_snapshot_leaves_out_empty_wallets(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    """The venue lists a wallet per supported asset; the telemetry keeps only those holding something."""
    listed = {b.asset: b.total for b in await broker.list_balances()}
    empty = {asset for asset, total in listed.items() if total == 0}
    assert empty and listed.get("USD", D(0)) > 0  # the fixture's venue has empty wallets to leave out
    snap = await CoinbaseAccountManager(broker, interval_s=0.05).snapshot()
    assert {b.asset for b in snap.balances} == set(listed) - empty
    assert all(b.total != 0 for b in snap.balances)
