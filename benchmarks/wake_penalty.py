"""What waking costs: the bot's per-order work run hot (back to back) and run once after the process slept.

The bot sleeps between bars and its first order of a bar runs right after it wakes. On this kind of machine
(a small virtual machine whose cores other work shares) code that ran a moment ago runs faster than the
same code after a sleep: caches, branch predictors and the core's own state went to other work meanwhile.
This measures that penalty on the order path itself, with real components and no network:

- a new account snapshot bound by the pre-trade check (as on each cycle), `check_order` on it;
- the order's intent inserted into a real SQLite OrdersStore (WAL, `synchronous=NORMAL`) and committed;
- the request encoded to JSON, as the adapter does.

and, for comparison, the intent's SQLite insert and commit alone (C code: compiling the Python would not
spare it) and a constant Decimal loop of about the same length with a small working set.
Prints p50/p99 per case in microseconds, and the ratio to the hot figure.

    .venv/bin/python benchmarks/wake_penalty.py [--hot 2000] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import select
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt_trader.features.brokerages.core.interfaces import (
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.live_trade.risk.config import RiskConfig
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.configuration import load_symbol_limits
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from risk_cycle import PRICES, make_book, products  # the risk benchmark's market, from this folder

D = Decimal
SLEEPS_S = (0.001, 0.01, 0.1, 1.0)


class OrderPath:
    """The bot's per-order work after its decision: pre-trade check on a fresh snapshot, the intent's insert
    and commit, the request's encoding. Each call is a new order (its own client id)."""

    def __init__(self, db_dir: Path) -> None:
        config = RiskConfig(
            limits_file="spot_top10.json",
            max_total_notional=D("250000"),
            min_depth_usd=D("1000"),
            max_orders_per_minute=10**9,
        )
        self.now = datetime(2026, 3, 2, 12, tzinfo=UTC)
        self.risk = RiskManager(config, load_symbol_limits(config), MetricsRegistry(), None, lambda: self.now)
        self.products = products()
        self.mids = {s: float(PRICES[s.split("-")[0]]) for s in self.products}
        conn = open_database(db_dir / "orders.sqlite3", synchronous="normal")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # as the bot's store (persistence/wal_flush.py checkpoints)
        self.store = OrdersStore(conn)
        self.n = 0
        first = self._snapshot()
        self.risk.start(first)
        for _ in range(50):  # the guards' windows filled, as in a running bot
            self.now += timedelta(seconds=5)
            self.risk.evaluate(self._snapshot())

    def _snapshot(self) -> AccountSnapshot:
        quotes, books = {}, {}
        for s in self.products:
            quotes[s], books[s] = make_book(s, self.mids[s], self.now)
        return AccountSnapshot(
            now=self.now,
            equity=D(100000),
            cash=D(90000),
            positions={},
            quotes=quotes,
            books=books,
            open_orders=[],
            products=self.products,
        )

    def prepare(self) -> AccountSnapshot:
        """The cycle's snapshot, built outside the timed part (the bot has it before the bar closes)."""
        self.now += timedelta(milliseconds=10)
        return self._snapshot()

    def new_request(self) -> OrderRequest:
        """The next order (its own client id, so each intent is a new row)."""
        self.n += 1
        return OrderRequest(
            symbol="ETH-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=D("0.01"),
            time_in_force=TimeInForce.IOC,
            client_order_id=f"bench-{self.n}",
        )

    def run(self, snapshot: AccountSnapshot) -> None:
        request = self.new_request()
        result = self.risk.check_order(request, snapshot, is_reducing=False)
        if not result.ok:
            raise RuntimeError(f"the benchmark's order was refused: {result.rule}: {result.reason}")
        self.store.record_intent(result.request, intent_id=f"i-{self.n}", session_id="bench", at=self.now)
        msgspec.json.encode(result.request)


def reference(target_us: float) -> Callable[[], None]:
    """A constant Decimal loop about `target_us` long: the machine's own penalty, without the bot's code."""
    step = D("1.0001")

    def work(n: int) -> None:
        acc = D(0)
        for i in range(n):
            acc += step * i

    t0 = time.perf_counter_ns()
    for _ in range(20):
        work(1000)
    per_iter_ns = (time.perf_counter_ns() - t0) / 20_000
    n = max(10, int(target_us * 1000 / per_iter_ns))
    return lambda: work(n)


def measure_hot(fn: Callable[[], None], samples: int) -> list[float]:
    out: list[float] = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def measure_after_sleep(fn: Callable[[], None], sleep_s: float, samples: int, wake: socket.socket) -> list[float]:
    """One run per wake: sleep in `select` (as the event loop does in epoll), then time the first run."""
    out: list[float] = []
    for _ in range(samples):
        select.select([wake], [], [], sleep_s)
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def figures(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=100) if len(xs) >= 2 else [xs[0]] * 99
    return q[49], q[98]


class Workload:
    """One kind of work, measured hot and after each sleep: `stock(n)` prepares n units outside the timing,
    `one()` runs the next (what is timed)."""

    def __init__(self, name: str, stock: Callable[[int], None], one: Callable[[], None]) -> None:
        self.name, self.stock, self.one = name, stock, one


def workloads(path: OrderPath, hot_us: Callable[[], float]) -> list[Workload]:
    snapshots: list[AccountSnapshot] = []
    requests: list[OrderRequest] = []

    def stock_snapshots(n: int) -> None:
        snapshots.extend(path.prepare() for _ in range(n))

    def stock_requests(n: int) -> None:
        requests.extend(path.new_request() for _ in range(n))

    def intent() -> None:
        request = requests.pop()
        path.store.record_intent(request, intent_id=request.client_order_id or "", session_id="bench", at=path.now)

    loop: list[Callable[[], None]] = []

    def stock_loop(n: int) -> None:
        if not loop:
            loop.append(reference(hot_us()))

    return [
        Workload("order path", stock_snapshots, lambda: path.run(snapshots.pop())),
        Workload("intent commit (SQLite, C)", stock_requests, intent),
        Workload("Decimal loop", stock_loop, lambda: loop[0]()),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hot", type=int, default=2000, help="back-to-back runs for the hot figures")
    ap.add_argument("--quick", action="store_true", help="fewer samples after each sleep (a smoke run)")
    args = ap.parse_args()
    per_sleep = {0.001: 300, 0.01: 200, 0.1: 100, 1.0: 40}
    if args.quick:
        per_sleep = dict.fromkeys(per_sleep, 5)
    cases = ["hot (back to back)", *(f"first run after a {s * 1000:g} ms sleep" for s in SLEEPS_S)]
    results: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = OrderPath(Path(tmp))
        hot_order: list[float] = []
        a, b = socket.socketpair()  # never readable: select sleeps its whole timeout
        try:
            for work in workloads(path, lambda: statistics.median(hot_order)):
                work.stock(args.hot)
                hot = measure_hot(work.one, args.hot)
                if not hot_order:
                    hot_order.extend(hot)  # the Decimal loop is sized to the order path's hot median
                rows = results[work.name] = [hot]
                gc.disable()  # the bot holds the collector while it decides a bar
                try:
                    for sleep_s in SLEEPS_S:
                        n = per_sleep[sleep_s]
                        work.stock(n)
                        rows.append(measure_after_sleep(work.one, sleep_s, n, a))
                finally:
                    gc.enable()
        finally:
            a.close()
            b.close()
    print(
        "order path: pre-trade check on a fresh snapshot, intent insert + commit, JSON; intent commit: its "
        "SQLite part alone (C code); Decimal loop: sized to the order path's hot p50"
    )
    print(f"{'p50 / p99 in us (x hot p50)':34s}" + "".join(f"{name:>30s}" for name in results))
    for i, case in enumerate(cases):
        cells = []
        for rows in results.values():
            p50, p99 = figures(rows[i])
            cells.append(f"{p50:8.1f} / {p99:7.1f} ({p50 / figures(rows[0])[0]:4.1f}x)")
        print(f"{case:34s}" + "".join(f"{c:>30s}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
