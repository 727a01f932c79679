"""REST budget of the bot on streams: the canary bot (a real subprocess, `perps-bot run`) trades 10 spot
symbols on 1-minute bars against the exchange simulator (in this process, 127.0.0.1, accelerated) for 10
simulated minutes. Prints REST requests per symbol per simulated minute (the simulator's
`requests_served`; target <= 3), the routes they went to, the WebSocket connections, the orders traded,
and the bot's resident memory (peak, and growth from minute 2 to the end; targets <= 50 MB, <= 2 MB).

The simulator serves HTTPS and WSS (as Coinbase does) unless `--plain`: TLS is part of the live path's
memory (OpenSSL state per connection, the trust stores). The bot runs its default trust path (no
COINBASE_CA_BUNDLE), as against Coinbase; SSL_CERT_FILE points it at certifi's CAs plus the simulator's
self-signed certificate, so each trust store it loads is full size.

    .venv/bin/python benchmarks/stream_rest_budget.py [--minutes 10] [--speed 20] [--symbols 10] [--plain]
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
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TypeVar

import certifi
import msgspec
import yaml

from gpt_trader.exchange_sim.background import SimThread
from gpt_trader.features.brokerages.core.products import default_products

T = TypeVar("T")
LATENCY_FIGURES = ("p50", "p90", "p99", "max", "samples")
ENTRY_PCT = 0.0005  # the strategy's entry threshold: about 2 orders a minute on 10 symbols

SIZES = {
    "BTC-USD": "0.0002",
    "ETH-USD": "0.005",
    "SOL-USD": "0.1",
    "XRP-USD": "10",
    "LTC-USD": "0.2",
    "ADA-USD": "20",
    "DOGE-USD": "100",
    "BCH-USD": "0.05",
    "AVAX-USD": "0.5",
    "LINK-USD": "1",
}


def write_profile(directory: Path, symbols: list[str], store_sync: str = "full", entry_pct: float = ENTRY_PCT) -> Path:
    """The packaged canary profile on a wider universe, a store under `directory`, and a mean-reversion
    strategy that trades now and then (steady trading, not every bar; a smaller `entry_pct` trades more)."""
    tree = yaml.safe_load(resources.files("gpt_trader.config.profiles").joinpath("canary.yaml").read_text())
    tree.update(
        data_root=str(directory / "data"),
        log_dir=str(directory / "logs"),
        symbols=symbols,
        strategy={"name": "mean_reversion", "params": {"window": 3, "entry_pct": entry_pct, "exit_pct": 0.0}},
        sizing={"method": "fixed_size", "sizes": {s: SIZES[s] for s in symbols}},
        store_sync=store_sync,
    )
    risk = dict(tree.get("risk") or {})
    # the loss breakers of a one-symbol canary (4 losing trades in a row pause entries for an hour, $10 a day)
    # would stop a 10-symbol session after a few fees: the benchmark measures the streaming path
    risk.update(
        max_orders_per_minute=60,
        stale_mark_s=300,
        max_daily_loss_usd=1000,
        max_drawdown_pct=50,
        max_consecutive_losses=1000,
    )
    risk.pop("symbol_limits", None)
    tree["risk"] = risk
    path = directory / "canary.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def rss_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="simulated minutes of trading")
    ap.add_argument("--speed", type=float, default=20.0, help="simulator clock speed (x wall)")
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument(
        "--store-sync",
        choices=("full", "normal"),
        default="full",
        help="the profile's store_sync: fsync each commit before the send, or flush right after it",
    )
    ap.add_argument("--plain", action="store_true", help="plain HTTP/WS instead of HTTPS/WSS")
    ap.add_argument(
        "--entry-pct",
        type=float,
        default=ENTRY_PCT,
        help="the strategy's entry threshold; smaller trades more (more latency samples per run)",
    )
    ap.add_argument(
        "--listed",
        type=int,
        default=0,
        help="products listed in all, extra ones untraded (Coinbase lists ~800; the simulator then starts slowly)",
    )
    args = ap.parse_args()
    symbols = list(SIZES)[: args.symbols]
    day = datetime.now(UTC).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 14, 0, 50, tzinfo=UTC)  # inside the canary window
    products = [p for p in default_products() if p.symbol in symbols]
    template = products[-1]
    products += [
        msgspec.structs.replace(template, symbol=f"X{i:03d}-USD", base_asset=f"X{i:03d}")
        for i in range(max(0, args.listed - len(products)))
    ]
    st = SimThread(
        seed=11,
        start_time=start,
        products=products,
        speed=args.speed,
        initial_funds={"USD": 100000},
        tls=not args.plain,
    )
    sim = st.start(timeout=600)
    with tempfile.TemporaryDirectory(prefix="stream-budget-") as tmp:
        profile = write_profile(Path(tmp), symbols, args.store_sync, args.entry_pct)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "GPT_TRADER_", "RISK_"))}
        env.update(st.env())
        if sim.cert_path is not None:
            bundle = Path(tmp) / "ca-bundle.pem"
            bundle.write_text(Path(certifi.where()).read_text() + "\n" + sim.cert_path.read_text())
            env["SSL_CERT_FILE"] = str(bundle)  # the default trust path, as on Coinbase (no COINBASE_CA_BUNDLE)
        served0 = sim.requests_served
        by_path0 = Counter(sim.requests_by_path)
        venue0 = sim.clock.now()
        log = open(Path(tmp) / "bot.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(profile)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wall = args.minutes * 60 / args.speed
        minute2 = venue0 + timedelta(minutes=2)
        rss_at_2 = 0
        ws_peak = 0
        deadline = time.monotonic() + wall
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            ws_peak = max(ws_peak, len(sim.hub.connections))
            if not rss_at_2 and sim.clock.now() >= minute2:
                rss_at_2 = rss_kb(proc.pid, "VmRSS")
        rss_end = rss_kb(proc.pid, "VmRSS")
        peak = rss_kb(proc.pid, "VmHWM")
        venue_minutes = (sim.clock.now() - venue0).total_seconds() / 60
        served = sim.requests_served - served0
        by_path = Counter(sim.requests_by_path)
        by_path.subtract(by_path0)
        orders = list(sim.venue.all_orders(sim.account_id))
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        tail = (Path(tmp) / "bot.log").read_text(errors="replace").splitlines()[-15:]
        metrics_file = Path(tmp) / "data" / "perps_bot" / "canary" / "metrics.json"
        published = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        gauges, counters = published.get("gauges", {}), published.get("counters", {})
    st.stop()
    per = served / (len(symbols) * venue_minutes) if venue_minutes else float("nan")
    filled = sum(1 for o in orders if str(getattr(o, "status", "")).endswith("FILLED"))
    transport = "plain HTTP/WS" if args.plain else "HTTPS/WSS, certifi trust store + the simulator's cert"
    print(
        f"{len(symbols)} symbols, 1-minute bars, {venue_minutes:.1f} simulated minutes at speed {args.speed:g}, "
        f"{transport}, {len(products)} products listed, store_sync {args.store_sync}"
    )
    print(f"REST requests: {served} -> {per:.2f} per symbol per minute (target <= 3)")
    print("by route: " + json.dumps({k: v for k, v in by_path.most_common(12) if v > 0}))
    print(f"WebSocket connections (peak): {ws_peak}")
    print(f"orders at the venue: {len(orders)} ({filled} filled) -> {len(orders) / venue_minutes:.1f} per minute")
    print(
        f"bot RSS: peak {peak / 1024:.1f} MB (target <= 50), minute 2 {rss_at_2 / 1024:.1f} MB, "
        f"end {rss_end / 1024:.1f} MB, growth {(rss_end - rss_at_2) / 1024:.1f} MB (target <= 2)"
    )
    for kind, what in (
        ("decision_first", "bar-closing event in -> first order of the cycle out, inside the bot"),
        ("decision", "bar-closing event in -> order out, inside the bot"),
        ("ack", "bar-closing event in -> order acknowledged by the simulator"),
        ("repaired", "a bar the stream had not seen whole (start-up): event in -> order out, after its REST repair"),
        ("repaired_ack", "  the same, acknowledged"),
        ("queued", "  of which: bar-closing event in -> the bot takes the bar (waiting for it to be free)"),
        ("work", "  of which: bar taken -> order out (decide, risk check, the intents' commit)"),
        ("commit", "    of which: the one commit (fsync) of the boundary's intents before they are sent"),
    ):
        p50, p90, p99, top, n = (gauges.get(f"stream.latency.{kind}_ms.{q}") for q in LATENCY_FIGURES)
        if p50 is not None and p90 is not None and p99 is not None and top is not None:
            print(
                f"latency {what}: p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms "
                f"({n or 0:.0f} samples)"
            )
    refused = {k.rsplit(".", 1)[-1]: int(v) for k, v in counters.items() if k.startswith("cycles.armed_refused.")}
    print(
        f"cycles: {int(counters.get('cycles', 0))}, of which on an armed snapshot (a closed bar decided without "
        f"a fresh account snapshot): {int(counters.get('cycles.armed', 0))}; armed snapshots refused: "
        + json.dumps(refused)
    )
    print(f"bot exit code after SIGTERM: {code}")
    print(f"load average at the end (shared machine): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if code != 0:
        print("\n".join(tail))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
