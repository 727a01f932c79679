"""`WalFlusher`: the disk flush a `store_sync: normal` store does after its orders leave, not before.

With `synchronous=NORMAL` in WAL mode a commit reaches the operating system, not the disk: a crash or kill
of the bot loses nothing (the next start reads every committed intent), a power loss or kernel crash may
lose the newest transactions. The flusher narrows that window to one fsync after each round of orders
leaves (and once per cycle for everything else), run in a worker thread so no send waits for the disk.
An order whose intent a power loss took is found at the next start by reconciliation (its
client_order_id carries the bot's id), never sent again blind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import structlog

from gpt_trader.features.monitor.metrics import MetricsRegistry

log = structlog.get_logger(__name__)


class WalFlusher:
    """fsyncs a SQLite database's write-ahead log in a worker thread, one flush at a time; requests made
    while one runs coalesce into one more. Why: a `normal` store trades fsync-before-send for latency, and
    this keeps the part of its history not yet on disk to the last few milliseconds."""

    def __init__(self, db_path: Path, metrics: MetricsRegistry) -> None:
        self.wal = Path(f"{db_path}-wal")
        self.metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Flush soon (now, or right after the flush under way)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._again = False
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(self._fsync)
                self.metrics.observe("store.wal_fsync_seconds", time.perf_counter() - started)
            except OSError as exc:  # counted and logged; the next request tries again
                self.metrics.inc("store.wal_fsync_failures")
                log.warning("store flush failed", error=type(exc).__name__, message=str(exc))
            if not self._again:
                return
            self._again = False

    def _fsync(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:  # nothing written since the last checkpoint removed it
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def close(self) -> None:
        """The last flush, awaited (shutdown)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await asyncio.to_thread(self._fsync)
