"""Load (issue 17): the bot (`perps-bot run`, its own process) streaming level2, ticker and market trades
for 50 symbols from the simulator, at rising market rates (the simulator's tick interval), until the
machine no longer keeps up. For each rate: frames the simulator sent per second, the bot's CPU, its
stream lag (`stream.lag_seconds`, the oldest symbol), the frames waiting in the simulator's send queue for
the bot (a reader that falls behind shows there first), decision latency p50/p99, the book and ticker
updates the bot coalesced while its consumer lagged (`stream.shed.*`: load shed explicitly, counted) with
the shedding episodes and the longest an event waited for the bot's consumer (shedding starts at 200 ms),
and the events it dropped. A rate passes when lag stays under 1 s with no send
backlog; "shed" when the bot fell behind but counted what it shed; "BEHIND" when it fell behind silently.
The machine's load average is printed with the table: the figures are only as quiet as the machine.

The simulator runs in this process (a thread); 50 symbols are the ten default USD pairs and 40 clones.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gpt_trader.exchange_sim.background import SimThread
from gpt_trader.features.brokerages.core.interfaces import Product, ProductType
from gpt_trader.features.brokerages.core.products import default_products

LAG_GOAL_S = 1.0
DECISION_GOAL_MS = 1.0  # issue 11: stream message in -> order out, inside the bot, p99


def products(n: int) -> list[Product]:
    spot = [p for p in default_products() if p.product_type is ProductType.SPOT]
    template = next(p for p in spot if p.symbol == "LINK-USD")
    clones = [
        msgspec.structs.replace(template, symbol=f"T{i:02d}-USD", base_asset=f"T{i:02d}") for i in range(n - len(spot))
    ]
    return (spot + clones)[:n]


def write_profile(directory: Path, prods: list[Product]) -> Path:
    tree = yaml.safe_load(resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text())
    tree.update(
        data_root=str(directory / "data"),
        log_dir=str(directory / "logs"),
        symbols=[p.symbol for p in prods],
        strategy={"name": "mean_reversion", "params": {"window": 3, "entry_pct": 0.0005, "exit_pct": 0.0}},
        sizing={"method": "fixed_size", "sizes": {p.symbol: str(p.base_min_size * 10) for p in prods}},
        cycle_interval_s=1,
    )
    tree.pop("trading_window", None)
    risk = dict(tree.get("risk") or {})
    risk.pop("symbol_limits", None)
    risk.update(limits_file="none", max_orders_per_minute=60, stale_mark_s=600, max_daily_loss_usd=100000)
    risk.update(max_daily_loss_pct=50, max_drawdown_pct=50)
    tree["risk"] = risk
    tree["alerts"] = {"enabled": False}
    path = directory / "load.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


@dataclass
class Step:
    tick_s: float
    frames_per_s: float
    bot_cpu_pct: float
    lag_s_max: float | None
    backlog_max: int
    decision_p50_ms: float | None
    decision_p99_ms: float | None
    decision_first_p99_ms: float | None
    decisions: float
    repaired_p99_ms: float | None
    repaired: float
    dropped: float
    coalesced: float
    shed_episodes: float
    queue_wait_max_ms: float | None
    verdict: str


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metrics(tmp: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((tmp / "data" / "perps_bot" / "load" / "metrics.json").read_text()))
    except (OSError, ValueError):
        return {}


def run_step(tick_s: float, prods: list[Product], speed: float, warm_s: float, measure_s: float) -> Step:
    day = datetime.now(UTC).date()
    st = SimThread(
        seed=5,
        start_time=datetime(day.year, day.month, day.day, tzinfo=UTC),
        products=prods,
        speed=speed,
        tick_interval_s=tick_s,
        initial_funds={"USD": 10_000_000},
    )
    sim = st.start()

    async def sent_and_backlog() -> tuple[int, int]:
        conns = [c for c in sim.hub.connections.values() if c.endpoint == "market"]
        return sum(c.sent_frames for c in conns), max((c.queue.qsize() for c in conns), default=0)

    with tempfile.TemporaryDirectory(prefix="load-") as tmp_s:
        tmp = Path(tmp_s)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "GPT_TRADER_", "RISK_"))}
        env.update(st.env(), GPT_TRADER_METRICS_PORT="0")
        with open(tmp / "bot.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(write_profile(tmp, prods))],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + warm_s + 120
                while not _first_order(_metrics(tmp).get("gauges", {})):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                time.sleep(warm_s)
                sent0, _ = st.call(sent_and_backlog())
                cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
                dropped0 = _dropped(_metrics(tmp))
                coalesced0, episodes0 = _shed(_metrics(tmp))
                lags: list[float] = []
                backlog = 0
                while time.monotonic() - t0 < measure_s and proc.poll() is None:
                    time.sleep(0.5)
                    gauges = _metrics(tmp).get("gauges", {})
                    # venue seconds (the bot's clock is the venue's): over the speed for wall seconds
                    lag = [float(v) / speed for k, v in gauges.items() if k.startswith("stream.lag_seconds")]
                    if lag:
                        lags.append(max(lag))
                    backlog = max(backlog, st.call(sent_and_backlog())[1])
                elapsed = time.monotonic() - t0
                sent1, _ = st.call(sent_and_backlog())
                cpu = (_cpu_s(proc.pid) - cpu0) / elapsed * 100 if proc.poll() is None else float("nan")
                final = _metrics(tmp)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.returncode not in (0, None):
            tail = (tmp / "bot.log").read_text(errors="replace").splitlines()[-10:]
            print(f"bot exited {proc.returncode}:\n  " + "\n  ".join(tail), file=sys.stderr)
    st.stop()
    gauges = final.get("gauges", {})
    dropped = _dropped(final) - dropped0
    coalesced, episodes = (a - b for a, b in zip(_shed(final), (coalesced0, episodes0), strict=True))
    lag_max = max(lags) if lags else None
    keeps_up = lag_max is not None and lag_max < LAG_GOAL_S and backlog < 100
    verdict = "ok" if keeps_up else ("shed" if dropped + coalesced > 0 else "BEHIND")
    return Step(
        tick_s=tick_s,
        frames_per_s=(sent1 - sent0) / elapsed,
        bot_cpu_pct=cpu,
        lag_s_max=lag_max,
        backlog_max=backlog,
        decision_p50_ms=gauges.get("stream.latency.decision_ms.p50"),
        decision_p99_ms=gauges.get("stream.latency.decision_ms.p99"),
        decision_first_p99_ms=gauges.get("stream.latency.decision_first_ms.p99"),
        decisions=gauges.get("stream.latency.decision_ms.samples", 0.0),
        repaired_p99_ms=gauges.get("stream.latency.repaired_ms.p99"),
        repaired=gauges.get("stream.latency.repaired_ms.samples", 0.0),
        dropped=dropped,
        coalesced=coalesced,
        shed_episodes=episodes,
        queue_wait_max_ms=None if "stream.shed.max_wait_s" not in gauges else gauges["stream.shed.max_wait_s"] * 1000,
        verdict=verdict,
    )


def _first_order(gauges: dict[str, float]) -> bool:
    """The bot has sent an order (on a stream bar, or on a start-up bar after its REST repair)."""
    return bool(gauges.get("stream.latency.decision_ms.samples") or gauges.get("stream.latency.repaired_ms.samples"))


def _dropped(metrics: dict[str, Any]) -> float:
    return float(sum(v for k, v in metrics.get("counters", {}).items() if "dropped" in k))


def _shed(metrics: dict[str, Any]) -> tuple[float, float]:
    """(book and ticker updates coalesced, shedding episodes) so far."""
    counters = metrics.get("counters", {})
    coalesced = sum(float(v) for k, v in counters.items() if k.startswith("stream.shed.coalesced"))
    return coalesced, float(counters.get("stream.shed.episodes", 0.0))


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--ticks", default="0.5,0.25,0.1,0.05", help="simulator tick intervals to try, slowest first")
    ap.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second")
    ap.add_argument("--warm-s", type=float, default=10.0, help="wall seconds after the first decision")
    ap.add_argument("--measure-s", type=float, default=30.0, help="wall seconds measured per rate")
    args = ap.parse_args(argv)
    prods = products(args.symbols)
    steps: list[Step] = []
    for tick in (float(t) for t in args.ticks.split(",")):
        step = run_step(tick, prods, args.speed, args.warm_s, args.measure_s)
        steps.append(step)
        print(f"tick {tick:g}s: {step.frames_per_s:.0f} frames/s -> {step.verdict}", file=sys.stderr, flush=True)
        if step.verdict == "BEHIND":
            break
    print(f"{args.symbols} symbols (level2, ticker, market_trades), speed {args.speed:g}, lag goal < {LAG_GOAL_S:g} s")
    print("load average (1, 5, 15 min) at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("| sim tick s | frames/s to bot | bot CPU % | max lag wall s | sim send backlog | decision p50 ms | "
          "decision p99 ms | first-order p99 ms | orders | repaired-bar p99 ms | repaired-bar orders | "
          "max event wait ms | coalesced (shed) | shed episodes | dropped (counted) | verdict |")  # fmt: skip
    print("|" + "---|" * 16)
    for s in steps:
        print(
            f"| {s.tick_s:g} | {s.frames_per_s:.0f} | {s.bot_cpu_pct:.0f} | {_f(s.lag_s_max, 2)} | {s.backlog_max} | "
            f"{_f(s.decision_p50_ms)} | {_f(s.decision_p99_ms)} | {_f(s.decision_first_p99_ms)} | "
            f"{s.decisions:.0f} | {_f(s.repaired_p99_ms)} | {s.repaired:.0f} | "
            f"{_f(s.queue_wait_max_ms)} | {s.coalesced:.0f} | {s.shed_episodes:.0f} | {s.dropped:.0f} | {s.verdict} |"
        )
    sustained = [s for s in steps if s.verdict == "ok"]
    if sustained:
        best = max(sustained, key=lambda s: s.frames_per_s)
        print(f"highest rate kept under the lag goal: {best.frames_per_s:.0f} frames/s (tick {best.tick_s:g} s)")
    return 1 if any(s.verdict == "BEHIND" for s in steps) else 0


if __name__ == "__main__":
    sys.exit(main())
