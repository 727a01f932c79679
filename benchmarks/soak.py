"""Soak (issue 17): the streaming bot (`perps-bot run`, its own process) on the exchange simulator at an
accelerated clock, under periodic faults and restarts, sampled over time; fails on a leak, a stuck, lost
or duplicate order, or a ledger that differs from the exchange.

Default: 24 trading hours at speed 24 (about an hour of wall time). `--wall-s 180 --speed 60` is the CI
variant (three simulated hours, one restart). Faults, one every `--fault-every-s` wall seconds, in turn:
REST latency, 429 and 5xx bursts (one executed before its 503: an ambiguous create), dropped sockets,
sequence gaps, a market-data stall, a rejected order. A restart (SIGTERM, then a new process on the same
store) every `--restart-every-h` simulated hours, each one into a venue burst (every REST request 429 with
Retry-After, or 503, for a few wall seconds: `RESTART_OUTAGES`) that the new process must wait out
(`coinbase.startup_wait_s`), counted from its log. The supervisor that starts a refused bot again (as
systemd's Restart=on-failure would) stays as a safety net; each time it is needed is a failed check.

Sampled every `--sample-s`: the bot's RSS and open fds (/proc), its asyncio tasks, stream lag and decision
latency (its metrics.json), the SQLite store's size. Lag is the bot's `stream.lag_seconds` (age of the
newest market data, in venue seconds; the wall-clock figure is that over the speed). The simulator runs
in this process (a thread), so the figures are the bot's alone. Prints a table over time and the verdict;
exit 1 on a failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import IO, Any

import yaml

from gpt_trader.errors import EXIT_VENUE
from gpt_trader.exchange_sim.background import SimThread
from gpt_trader.features.brokerages.core.interfaces import Fill, Order
from gpt_trader.features.brokerages.core.products import default_products

SIZES = {"BTC-USD": "0.0002", "ETH-USD": "0.005", "SOL-USD": "0.1"}
FAULTS = [
    ("latency:150:100", 8.0),
    ("http429:4", 0.0),
    ("http5xx:3", 0.0),
    ("http5xx:1:503:after", 0.0),
    ("drop_ws:all", 0.0),
    ("seq_gap:3", 0.0),
    ("stall:6", 0.0),
    ("reject_orders:1", 0.0),
]
#: growth allowed between the first and last quarter of the run (after warm-up) before it counts as a leak
RSS_GROWTH_MAX = 1.25
RSS_SLACK_MB = 15.0
FD_SLACK = 8
TASK_SLACK = 8
#: a bot that refuses to start (exit 1: a venue error at start) is started again this many seconds later,
#: as its systemd unit would (Restart=on-failure); counted, and a failed check: start-up must wait a burst out
SUPERVISOR_RESTART_S = 2.0
#: the venue burst each restart walks into, in turn (wall seconds; 429 with Retry-After 1, then a 503 burst)
RESTART_OUTAGES = ("outage:5:429:1", "outage:4:503")
#: the log line a start-up wait writes (orchestration/startup_wait.py)
WAIT_LINE = "start-up waiting for the venue"
#: an order still working this long (simulated) after it was sent is stuck
STUCK_AFTER_S = 15 * 60


@dataclass
class Sample:
    wall_s: float
    sim_h: float
    rss_mb: float
    fds: int
    tasks: float | None
    lag_s: float | None
    decision_p99_ms: float | None
    store_kb: float
    orders: int
    restarts: int


@dataclass
class Soak:
    """One soak run: the simulator thread, the bot process it restarts, the samples it takes."""

    args: argparse.Namespace
    tmp: Path
    st: SimThread
    samples: list[Sample] = field(default_factory=list)
    restarts: int = 0
    start_refusals: int = 0
    #: bot.log offsets at which each process started (its start-up waits are counted in its segment)
    log_starts: list[int] = field(default_factory=list)
    #: start-up waits per process (count_startup_waits, read from bot.log before it is removed)
    startup_waits: list[int] = field(default_factory=list)
    faults_applied: Counter[str] = field(default_factory=Counter)
    exit_codes: list[int] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    # ------------------------------------------------------------------------------------- the bot
    def profile(self) -> Path:
        tree = yaml.safe_load(resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text())
        tree.update(
            data_root=str(self.tmp / "data"),
            log_dir=str(self.tmp / "logs"),
            symbols=list(SIZES),
            strategy={"name": "mean_reversion", "params": {"window": 3, "entry_pct": 0.0005, "exit_pct": 0.0}},
            sizing={"method": "fixed_size", "sizes": SIZES},
            cycle_interval_s=1,
        )
        tree.pop("trading_window", None)  # trade around the clock: 24 trading hours
        risk = dict(tree.get("risk") or {})
        risk.pop("symbol_limits", None)
        risk.update(max_orders_per_minute=60, stale_mark_s=600, max_daily_loss_usd=100000, max_daily_loss_pct=50)
        risk.update(max_drawdown_pct=50, actions={"api_errors": "reduce_only"})
        tree["risk"] = risk
        tree["alerts"] = {"enabled": False}
        path = self.tmp / "soak.yaml"
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        return path

    def start_bot(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "GPT_TRADER_", "RISK_"))}
        env.update(self.st.env(), GPT_TRADER_METRICS_PORT="0")
        self._log = open(self.tmp / "bot.log", "ab")  # noqa: SIM115 - closed in stop_bot
        self.log_starts.append(self._log.tell())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(self.profile())],
            env=env,
            cwd=self.tmp,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop_bot(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_codes.append(self.proc.wait(90))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_codes.append(-9)
        if self._log is not None:
            self._log.close()
        self.proc = None

    # ---------------------------------------------------------------------------------- sampling
    def metrics(self) -> dict[str, Any]:
        path = self.tmp / "data" / "perps_bot" / "soak" / "metrics.json"
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def sample(self, wall_s: float, sim_h: float) -> None:
        assert self.proc is not None
        pid = self.proc.pid
        rss_kb = 0
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return  # between processes (restart)
        gauges: dict[str, Any] = self.metrics().get("gauges", {})
        lags = [float(v) for k, v in gauges.items() if k.startswith("stream.lag_seconds")]
        store = sum(p.stat().st_size for p in (self.tmp / "data").rglob("*") if p.is_file() and ".sqlite3" in p.name)
        self.samples.append(
            Sample(
                wall_s=wall_s,
                sim_h=sim_h,
                rss_mb=rss_kb / 1024,
                fds=fds,
                tasks=gauges.get("runtime.asyncio_tasks"),
                lag_s=max(lags) if lags else None,
                decision_p99_ms=gauges.get("stream.latency.decision_ms.p99"),
                store_kb=store / 1024,
                orders=len(self.venue_orders()),
                restarts=self.restarts,
            )
        )

    # ------------------------------------------------------------------------------- the venue
    def venue_orders(self) -> list[Order]:
        async def read() -> list[Order]:
            return list(self.st.sim.venue.all_orders(self.st.sim.account_id))

        return self.st.call(read())

    def venue_fills(self) -> list[Fill]:
        async def read() -> list[Fill]:
            return list(self.st.sim.venue.fills(self.st.sim.account_id))

        return self.st.call(read())

    def apply_fault(self, spec: str) -> None:
        async def apply() -> None:
            self.st.sim.faults.apply(spec)

        self.st.call(apply())
        self.faults_applied[spec.split(":")[0]] += 1

    def clear_faults(self) -> None:
        async def clear() -> None:
            self.st.sim.faults.clear()

        self.st.call(clear())

    def sim_now(self) -> datetime:
        async def now() -> datetime:
            return self.st.sim.clock.now()

        return self.st.call(now())

    # ---------------------------------------------------------------------------------- the run
    def run(self) -> list[str]:
        a = self.args
        self.start_bot()
        t0 = time.monotonic()
        sim0 = self.sim_now()
        next_sample = next_fault = 0.0
        fault_i = 0
        clear_at: float | None = None
        next_restart_h = a.restart_every_h
        while (wall := time.monotonic() - t0) < a.wall_s:
            sim_h = (self.sim_now() - sim0).total_seconds() / 3600
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                if code != EXIT_VENUE or cycles_before_exit(self.tmp / "bot.log") != 0:
                    return [f"the bot exited on its own with code {code} at {sim_h:.2f} simulated h"]
                # refused to start (a venue error at start, e.g. a 429 burst): the supervisor starts it again
                self.start_refusals += 1
                self.proc = None
                if self._log is not None:
                    self._log.close()
                time.sleep(SUPERVISOR_RESTART_S)
                self.start_bot()
            if wall >= next_sample:
                self.sample(wall, sim_h)
                next_sample = wall + a.sample_s
            if clear_at is not None and wall >= clear_at:
                self.clear_faults()
                clear_at = None
            if wall >= next_fault and wall > a.warmup_s:
                spec, hold = FAULTS[fault_i % len(FAULTS)]
                self.apply_fault(spec)
                fault_i += 1
                clear_at = wall + hold if hold else None
                next_fault = wall + a.fault_every_s
            if sim_h >= next_restart_h:
                self.stop_bot()
                self.clear_faults()
                self.apply_fault(RESTART_OUTAGES[self.restarts % len(RESTART_OUTAGES)])  # restart into a burst
                self.restarts += 1
                self.start_bot()
                next_restart_h += a.restart_every_h
            time.sleep(0.25)
        self.clear_faults()
        time.sleep(a.settle_s)  # faults off: the bot catches up on what they hid
        self.sample(time.monotonic() - t0, (self.sim_now() - sim0).total_seconds() / 3600)
        self.stop_bot()
        return self.verdict()

    # ---------------------------------------------------------------------------------- checks
    def verdict(self) -> list[str]:
        problems: list[str] = []
        if any(code != 0 for code in self.exit_codes):
            problems.append(f"a bot process did not stop cleanly: exit codes {self.exit_codes}")
        if self.start_refusals:
            problems.append(
                f"the supervisor had to start a refused bot again {self.start_refusals} times: start-up must "
                "wait a venue burst out"
            )
        self.count_startup_waits()
        if self.restarts and not self.waited_restarts():
            problems.append("no restart waited a venue burst out: the restart-into-a-burst path was not exercised")
        problems += self.growth()
        problems += self.orders_and_ledger()
        return problems

    def count_startup_waits(self) -> list[int]:
        """Start-up waits logged by each process, in order (kept in `startup_waits` for the report)."""
        data = (self.tmp / "bot.log").read_bytes()
        bounds = [*self.log_starts, len(data)]
        self.startup_waits = [data[a:b].count(WAIT_LINE.encode()) for a, b in itertools.pairwise(bounds)]
        return self.startup_waits

    def waited_restarts(self) -> int:
        """Restarted processes (not the first) that waited a burst out before starting."""
        return sum(1 for n in self.startup_waits[1:] if n > 0)

    def growth(self) -> list[str]:
        settled = [s for s in self.samples if s.wall_s > self.args.warmup_s]
        if len(settled) < 8:
            return [f"too few samples after warm-up ({len(settled)}) to judge growth"]
        q = len(settled) // 4
        first, last = settled[q : 2 * q], settled[-q:]
        out: list[str] = []
        rss0, rss1 = statistics.median(s.rss_mb for s in first), statistics.median(s.rss_mb for s in last)
        if rss1 > rss0 * RSS_GROWTH_MAX + RSS_SLACK_MB:
            out.append(f"RSS grew {rss0:.1f} -> {rss1:.1f} MB")
        fd0, fd1 = max(s.fds for s in first), max(s.fds for s in last)
        if fd1 > fd0 + FD_SLACK:
            out.append(f"open fds grew {fd0} -> {fd1}")
        tasks0 = [s.tasks for s in first if s.tasks is not None]
        tasks1 = [s.tasks for s in last if s.tasks is not None]
        if not tasks0 or not tasks1:
            out.append("the bot published no asyncio task count")
        elif max(tasks1) > max(tasks0) + TASK_SLACK:
            out.append(f"asyncio tasks grew {max(tasks0):.0f} -> {max(tasks1):.0f}")
        return out

    def orders_and_ledger(self) -> list[str]:
        from gpt_trader.persistence.orders_store import OrdersStore
        from gpt_trader.persistence.sqlite import open_database

        out: list[str] = []
        orders = self.venue_orders()
        fills = self.venue_fills()
        if not orders:
            out.append("no order reached the venue: the soak proved nothing about orders")
        coids = Counter(o.client_order_id for o in orders)
        dupes = {c: n for c, n in coids.items() if n > 1}
        if dupes:
            out.append(f"client_order_ids sent more than once: {dupes}")
        now = self.sim_now()
        stuck = [
            o.client_order_id
            for o in orders
            if not o.is_terminal and o.created_at is not None and (now - o.created_at).total_seconds() > STUCK_AFTER_S
        ]
        if stuck:
            out.append(f"orders working longer than {STUCK_AFTER_S // 60} simulated minutes: {stuck[:5]}")
        db = next((p for p in (self.tmp / "data").rglob("bot.sqlite3")), None)
        if db is None:
            return [*out, "no orders store found"]
        store = OrdersStore(open_database(db))
        lost = [c for c in coids if store.get(c) is None]
        if lost:
            out.append(f"orders at the venue the bot's store does not know (lost): {lost[:5]}")
        ours: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        theirs: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for book, source in ((ours, store.fills()), (theirs, fills)):
            for f in source:
                size, notional, fee = book.get(f.client_order_id, (Decimal(0), Decimal(0), Decimal(0)))
                book[f.client_order_id] = (size + f.size, notional + f.size * f.price, fee + f.fee)
        if ours != theirs:
            differ = sorted(c for c in set(ours) | set(theirs) if ours.get(c) != theirs.get(c))
            out.append(f"the bot's ledger differs from the exchange's fills for {len(differ)} orders: {differ[:5]}")
        return out


def cycles_before_exit(log: Path) -> int | None:
    """The `cycles=N` of the last `bot stopped` line in the log: 0 means it never got going."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "bot stopped" in ln and "cycles=" in ln]
    if not lines:
        return None
    try:
        return int(lines[-1].split("cycles=", 1)[1].split()[0])
    except ValueError:
        return None


def table(samples: list[Sample], rows: int, speed: float) -> str:
    step = max(1, len(samples) // rows)
    picked = samples[::step] + ([samples[-1]] if samples and samples[-1] is not samples[::step][-1] else [])
    head = (
        "| wall s | sim h | RSS MB | fds | tasks | max lag venue s | max lag wall s | decision p99 ms | store KB "
        "| venue orders | restarts |"
    )
    lines = [head, "|" + "---|" * 11]
    for s in picked:
        lines.append(
            f"| {s.wall_s:.0f} | {s.sim_h:.2f} | {s.rss_mb:.1f} | {s.fds} | {_f(s.tasks, 0)} | {_f(s.lag_s, 1)} | "
            f"{_f(None if s.lag_s is None else s.lag_s / speed, 2)} | "
            f"{_f(s.decision_p99_ms, 1)} | {s.store_kb:.0f} | {s.orders} | {s.restarts} |"
        )
    return "\n".join(lines)


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wall-s", type=float, default=3600.0, help="wall seconds to run (default 1 h)")
    ap.add_argument("--speed", type=float, default=24.0, help="simulated seconds per wall second")
    ap.add_argument("--restart-every-h", type=float, default=4.0, help="simulated hours between restarts")
    ap.add_argument("--fault-every-s", type=float, default=20.0, help="wall seconds between faults")
    ap.add_argument("--sample-s", type=float, default=5.0, help="wall seconds between samples")
    ap.add_argument("--warmup-s", type=float, default=30.0, help="wall seconds before faults and leak checks")
    ap.add_argument("--settle-s", type=float, default=10.0, help="wall seconds without faults at the end")
    ap.add_argument("--rows", type=int, default=16, help="rows in the printed table")
    ap.add_argument("--json", type=Path, default=None, help="write the samples and verdict here too")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    day = datetime.now(UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    products = [p for p in default_products() if p.symbol in SIZES]
    st = SimThread(seed=17, start_time=start, products=products, speed=args.speed, initial_funds={"USD": 1000000})
    st.start()
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            soak = Soak(args, Path(tmp), st)
            try:
                problems = soak.run()
            finally:
                soak.stop_bot()
            tail = (Path(tmp) / "bot.log").read_text(errors="replace").splitlines()[-8:]
    finally:
        st.stop()
    sim_h = soak.samples[-1].sim_h if soak.samples else 0.0
    print(f"soak: {args.wall_s:.0f} s wall, {sim_h:.2f} simulated hours at speed {args.speed:g}, "
          f"{soak.restarts} restarts, {soak.waited_restarts()} restart-waits (restarts into a venue burst "
          f"waited out; {sum(soak.startup_waits)} waits), {soak.start_refusals} supervisor restarts "
          f"(must be 0), faults {dict(soak.faults_applied)}")  # fmt: skip
    print(table(soak.samples, args.rows, args.speed))
    if args.json is not None:
        args.json.write_text(json.dumps({"samples": [s.__dict__ for s in soak.samples], "problems": problems}))
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        print("bot log tail:\n  " + "\n  ".join(tail))
        return 1
    print("PASS: no growth, no stuck, lost or duplicate order, ledger equals the exchange's fills")
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
