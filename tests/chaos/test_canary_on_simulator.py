"""The canary profile, unchanged but for its store location and a strategy that trades most bars, runs
as `perps-bot` against the exchange simulator over 127.0.0.1 (COINBASE_* URLs pointed at it), trades
inside its window within the canary limits, and stops cleanly on SIGINT and on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chaos_support import SimThread, bot_env, window_start, write_canary_profile

from gpt_trader.exchange_sim.server import ExchangeSimulator
from gpt_trader.features.brokerages.core.interfaces import Order, OrderStatus
from gpt_trader.orchestration.configuration import ConfigManager, load_symbol_limits
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]


def _run_until_orders(profile: Path, env: dict[str, str], work: Path, sig: signal.Signals, db: Path) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(profile)],
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 100
    try:
        while time.monotonic() < deadline:
            if db.exists() and OrdersStore(open_database(db)).list_orders():
                time.sleep(2.0)  # let the cycle finish tracking its orders
                break
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"exit {proc.returncode} after {sig.name}:\n{out[-4000:]}"
    assert "TOTAL" in out, out[-2000:]
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_canary_trades_within_limits_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    sim_thread = SimThread(seed=11, start_time=window_start(), rate_limit_private=1000, rate_limit_public=1000)
    sim = sim_thread.start()
    try:
        data_root = tmp_path / "data"
        profile = write_canary_profile(tmp_path, data_root)
        db = data_root / "canary" / "bot.sqlite3"
        _run_until_orders(profile, bot_env(sim_thread.env()), tmp_path, sig, db)

        config = ConfigManager(env={}, dotenv_path=None).load(str(profile))
        assert config.broker == "coinbase" and config.trading_window is not None
        limits = load_symbol_limits(config.risk)
        store = OrdersStore(open_database(db))
        orders = store.list_orders()
        assert orders, "the canary bot placed no order"
        venue_orders = sim_thread.call(_venue_orders(sim))
        coids = [o.client_order_id for o in venue_orders]
        assert len(coids) == len(set(coids)), "a client_order_id reached the exchange twice"
        for o in orders:
            assert o.status.is_terminal or o.status is OrderStatus.OPEN, o
            assert o.size <= config.sizing.sizes[o.symbol]
            lim = limits[o.symbol]
            if lim.max_position_size is not None:
                assert o.size <= lim.max_position_size
            if lim.max_notional is not None and o.avg_fill_price is not None:
                assert o.size * o.avg_fill_price <= lim.max_notional
        assert {o.client_order_id for o in orders if o.order_id} <= set(coids)
        # nothing left working at the venue after a clean stop (cancel_open_orders: true)
        assert not [o for o in venue_orders if o.status.is_working]
        assert any(o.status is OrderStatus.FILLED for o in orders), "no canary order filled"
        # account telemetry (balances, fee tier, fees paid) reached the journal, the state store and metrics
        conn = open_database(db)
        telemetry = [r[0] for r in conn.execute("SELECT payload FROM events WHERE kind='account_telemetry'")]
        assert telemetry and '"fee_tier"' in telemetry[0]
        assert StateStore(conn).get("account.telemetry.latest") is not None
        metrics = json.loads((config.metrics_dir / "metrics.json").read_text())
        assert metrics["counters"]["account.telemetry_snapshots"] >= 1
        assert "account.fee_tier.taker_fee_rate" in metrics["gauges"]
    finally:
        sim_thread.stop()


async def _venue_orders(sim: ExchangeSimulator) -> list[Order]:
    return sim.engine.list_orders(sim.account_id, open_only=False)
