"""Order-event write throughput of the OrdersStore (SQLite, WAL, synchronous=FULL), as the live
engine does it: one durable commit per event (intent, acknowledgement, fill, final status).

Prints commits/s and p50/p99/max commit latency. `--events N` to change the sample size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from gpt_trader.features.brokerages.core.interfaces import (
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database

T0 = datetime(2025, 1, 6, 12, tzinfo=UTC)


def _lap(latencies: list[float], started: float) -> float:
    now = time.perf_counter()
    latencies.append(now - started)
    return now


def run(n_orders: int, synchronous: str) -> tuple[int, list[float], float]:
    """Write `n_orders` full lifecycles (4 commits each); returns commits, per-commit seconds, wall time."""
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = OrdersStore(open_database(Path(tmp) / "bench.sqlite3", synchronous=synchronous))
        started = time.perf_counter()
        for i in range(n_orders):
            at = T0 + timedelta(seconds=i)
            coid = f"coid-{i}"
            req = OrderRequest(
                symbol="BTC-USD",
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                size=Decimal("0.001"),
                client_order_id=coid,
            )
            order = Order(
                order_id=f"X{i}",
                client_order_id=coid,
                symbol="BTC-USD",
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                size=Decimal("0.001"),
                status=OrderStatus.OPEN,
            )
            fill = Fill(
                trade_id=f"T{i}",
                order_id=f"X{i}",
                client_order_id=coid,
                symbol="BTC-USD",
                side=OrderSide.BUY,
                price=Decimal("100000.01"),
                size=Decimal("0.001"),
                fee=Decimal("0.6"),
                liquidity=Liquidity.TAKER,
                ts=at,
            )
            filled = Order(
                order_id=f"X{i}",
                client_order_id=coid,
                symbol="BTC-USD",
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                size=Decimal("0.001"),
                status=OrderStatus.FILLED,
                filled_size=Decimal("0.001"),
                avg_fill_price=Decimal("100000.01"),
                fees=Decimal("0.6"),
            )
            t = time.perf_counter()
            store.record_intent(req, intent_id=f"i{i}", session_id="bench", at=at)
            t = _lap(latencies, t)
            store.update_from_order(order, at=at, note="ack")
            t = _lap(latencies, t)
            store.add_fills([fill])
            t = _lap(latencies, t)
            store.update_from_order(filled, at=at, note="final")
            _lap(latencies, t)
        wall = time.perf_counter() - started
    return len(latencies), latencies, wall


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000, help="order events to write (4 per order)")
    args = parser.parse_args()
    n_orders = max(1, args.events // 4)
    for mode in ("FULL", "NORMAL"):
        commits, lat, wall = run(n_orders, mode)
        print(
            f"store_write synchronous={mode:<6} commits={commits} commits_per_s={commits / wall:,.0f} "
            f"p50_ms={p(lat, 0.50) * 1e3:.3f} p99_ms={p(lat, 0.99) * 1e3:.3f} max_ms={max(lat) * 1e3:.3f} "
            f"mean_ms={statistics.fmean(lat) * 1e3:.3f}"
        )


if __name__ == "__main__":
    main()
