"""`store_sync`: "full" fsyncs every commit; "normal" commits to the OS and flushes the write-ahead log to
disk in a worker thread right after orders leave (`WalFlusher`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import MOCK_EPOCH, build_registry
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.wal_flush import WalFlusher

SYNC_LEVEL = {"full": 2, "normal": 1}  # PRAGMA synchronous values


def test_store_sync_defaults_to_full_and_is_set_by_env_any_case() -> None:
    assert ConfigManager(env={}, dotenv_path=None).load("canary").store_sync == "full"
    cfg = ConfigManager(env={"GPT_TRADER_STORE_SYNC": "NORMAL"}, dotenv_path=None).load("canary")
    assert cfg.store_sync == "normal"


def test_a_bad_store_sync_names_the_key_and_the_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        ConfigManager(env={"GPT_TRADER_STORE_SYNC": "off"}, dotenv_path=None).load("canary")
    text = str(err.value)
    assert "store_sync" in text and "full" in text and "normal" in text, text


async def test_the_flusher_fsyncs_the_wal_off_the_event_loop_and_coalesces(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    conn = open_database(db, synchronous="NORMAL")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == SYNC_LEVEL["normal"]
    metrics = MetricsRegistry()
    flusher = WalFlusher(db, metrics)
    await flusher.close()  # nothing written yet: no WAL content, no error
    conn.execute("CREATE TABLE t (x INTEGER)")
    for i in range(5):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        flusher.request()  # one runs, the others coalesce into one more
    assert flusher._task is not None
    await flusher._task
    flushes = metrics.snapshot()["histograms"]["store.wal_fsync_seconds"]["count"]
    assert 1 <= flushes <= 2, flushes
    assert Path(f"{db}-wal").stat().st_size > 0
    await flusher.close()


async def test_a_failing_flush_is_counted_and_the_next_request_tries_again(tmp_path: Path) -> None:
    metrics = MetricsRegistry()
    flusher = WalFlusher(tmp_path / "missing-dir" / "s.sqlite3", metrics)  # no WAL: nothing to flush
    flusher.request()
    assert flusher._task is not None
    await flusher._task
    assert metrics.snapshot()["counters"].get("store.wal_fsync_failures", 0) == 0
    (tmp_path / "file").write_text("x")
    flusher.wal = tmp_path / "file" / "child"  # a path through a regular file: NotADirectoryError (an OSError)
    flusher.request()
    await flusher._task
    assert metrics.snapshot()["counters"]["store.wal_fsync_failures"] == 1


async def test_the_flusher_checkpoints_the_log_so_no_commit_does(tmp_path: Path) -> None:
    """With `normal` the bot's commits never checkpoint (one that did took 4-5 ms while an intent waited):
    the flusher does, past its threshold, and the log then starts over instead of growing."""
    db = tmp_path / "s.sqlite3"
    wal = Path(f"{db}-wal")
    conn = open_database(db, synchronous="NORMAL")
    metrics = MetricsRegistry()
    flusher = WalFlusher(db, metrics, checkpoint_bytes=64 * 1024)
    flusher.adopt(conn)
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    conn.execute("CREATE TABLE t (x BLOB)")
    for _ in range(100):  # ~400 KB of log: SQLite's own threshold (1000 pages) is never reached either
        conn.execute("INSERT INTO t VALUES (randomblob(4000))")
    grown = wal.stat().st_size
    assert grown > 64 * 1024
    conn.execute("INSERT INTO t VALUES (randomblob(100))")
    assert wal.stat().st_size > grown  # the commits left the log alone: it grows
    grown = wal.stat().st_size
    flusher.request()
    assert flusher._task is not None
    await flusher._task
    assert metrics.snapshot()["counters"]["store.wal_checkpoints"] == 1
    for _ in range(10):
        conn.execute("INSERT INTO t VALUES (randomblob(100))")
    assert wal.stat().st_size == grown  # checkpointed: the writes went to the start of the log again
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 111
    await flusher.close()


@pytest.mark.parametrize("sync", ["full", "normal"])
async def test_the_bot_opens_its_store_with_the_profile_sync_and_trades(tmp_path: Path, sync: str) -> None:
    cfg = ConfigManager(env={}, dotenv_path=None).load("dev", {"symbols": ["BTC-USD"], "store_sync": sync})
    cfg = msgspec.structs.replace(cfg, data_root=str(tmp_path / "data"), health_file=str(tmp_path / "h.json"))
    registry = build_registry(cfg, broker=MockBroker(symbols=cfg.symbols, seed=3, start=MOCK_EPOCH))
    assert registry.db is not None
    assert registry.db.execute("PRAGMA synchronous").fetchone()[0] == SYNC_LEVEL[sync]
    assert (registry.wal_flusher is not None) is (sync == "normal")
    bot = PerpsBot(registry)
    await bot.run(cycles=30, interval_s=0)
    await asyncio.sleep(0)
    counters = registry.metrics.snapshot()["counters"]
    assert counters.get("orders.sent", 0) >= 1, counters
    flushes = registry.metrics.snapshot()["histograms"].get("store.wal_fsync_seconds", {}).get("count", 0)
    assert (flushes > 0) is (sync == "normal"), flushes
