"""Matching engine throughput and submit latency on a realistic BTC-USD book.

Usage: .venv/bin/python benchmarks/matching_engine.py [--orders N] [--seed S]
Prints orders/s and p50/p99/max submit latency (µs) for a mix of passive limits, cancels, market
takers and IOC crosses from 20 accounts, with the external book refreshed every 50 orders; then the
MockBroker's simulated-time speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching import MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.brokerages.core.synthetic import SyntheticMarket
from gpt_trader.features.brokerages.mock import MockBroker

D = Decimal


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_engine(n_orders: int, seed: int) -> None:
    products = [p for p in default_products() if p.symbol == "BTC-USD"]
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    engine = MatchingEngine(products, clock=lambda: now[0], seed=seed, book_events=True)
    market = SyntheticMarket(products, seed=seed, start=now[0])
    accounts = [f"acct-{i}" for i in range(20)]
    for acct in accounts:
        engine.fund(acct, "USD", D("10000000"))
        engine.fund(acct, "BTC", D("100"))
    rng = random.Random(seed)
    resting: list[tuple[str, str]] = []
    latencies: list[float] = []
    errors = 0
    t_start = time.perf_counter()
    for i in range(n_orders):
        if i % 50 == 0:
            market.advance(1)
            book = market.book("BTC-USD", 50)
            now[0] = now[0] + timedelta(seconds=1)
            engine.set_book("BTC-USD", book.bids, book.asks, now[0])
        acct = rng.choice(accounts)
        mid = market.mid("BTC-USD")
        side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
        size = D(rng.randint(1, 50)) * D("0.001")
        kind = rng.random()
        t0 = time.perf_counter_ns()
        try:
            if kind < 0.2 and resting:
                racct, oid = resting.pop(rng.randrange(len(resting)))
                with contextlib.suppress(BrokerageError):
                    engine.cancel(racct, oid)
            elif kind < 0.6:
                off = D(rng.randint(5, 200)) * D("0.01") * (D(-1) if side is OrderSide.BUY else D(1))
                req = OrderRequest(
                    symbol="BTC-USD",
                    side=side,
                    order_type=OrderType.LIMIT,
                    size=size,
                    limit_price=(mid * (D(1) + off / D(100))).quantize(D("0.01")),
                )
                res = engine.submit(acct, req)
                if res.order.status.is_working:
                    resting.append((acct, res.order.order_id))
            elif kind < 0.8:
                engine.submit(acct, OrderRequest(symbol="BTC-USD", side=side, order_type=OrderType.MARKET, size=size))
            else:
                cross = D("1.001") if side is OrderSide.BUY else D("0.999")
                req = OrderRequest(
                    symbol="BTC-USD",
                    side=side,
                    order_type=OrderType.LIMIT,
                    size=size,
                    limit_price=(mid * cross).quantize(D("0.01")),
                    time_in_force=TimeInForce.IOC,
                )
                engine.submit(acct, req)
        except BrokerageError:
            errors += 1
        latencies.append((time.perf_counter_ns() - t0) / 1000)
    elapsed = time.perf_counter() - t_start
    print(f"engine: {n_orders} ops in {elapsed:.2f}s -> {n_orders / elapsed:,.0f} ops/s (incl. book refresh)")
    print(
        f"engine submit/cancel latency µs: p50={pct(latencies, 0.5):.1f} p99={pct(latencies, 0.99):.1f} "
        f"max={max(latencies):.1f}  (rejects: {errors})"
    )


async def bench_mock(seed: int) -> None:
    broker = MockBroker(seed=seed)
    t0 = time.perf_counter()
    for _ in range(60):
        await broker.advance_time(60)
    elapsed = time.perf_counter() - t0
    print(
        f"mock broker: 1 simulated hour, 13 symbols, 1 s sub-steps: "
        f"{elapsed:.2f}s wall ({3600 / elapsed:,.0f}x real time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bench_engine(args.orders, args.seed)
    asyncio.run(bench_mock(args.seed))


if __name__ == "__main__":
    main()
