"""Where trials run: this process, a local process pool, or a Ray cluster. The bars reach each worker
once (pool initializer; Ray's object store), never per trial; a batch of jobs comes back in order."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.optimize.objective import Evaluator, Job, Outcome

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Evaluates a batch of jobs; `workers` is how many run at once (the study asks that many trials)."""

    workers: int

    def run(self, jobs: list[Job]) -> list[Outcome]: ...

    def close(self) -> None: ...


def _chunks(jobs: list[Job], n: int) -> list[list[Job]]:
    """Jobs split into at most n contiguous chunks (order kept)."""
    n = max(1, min(n, len(jobs)))
    size, extra = divmod(len(jobs), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(jobs[start:end])
        start = end
    return out


_WORKER: Evaluator | None = None


def _init_worker(bars: Bars, strategy: str, config: BacktestConfig, objective: str) -> None:
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops cleanly
    _WORKER = Evaluator(bars, strategy, config, objective)


def _run_chunk(jobs: list[Job]) -> list[Outcome]:
    assert _WORKER is not None, "pool worker not initialised"
    return _WORKER.run_many(jobs)


class LocalExecutor:
    """`jobs` = 1: evaluates in this process; more: a process pool whose workers get the bars once."""

    def __init__(self, bars: Bars, strategy: str, config: BacktestConfig, objective: str, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.workers = jobs
        self._inline = Evaluator(bars, strategy, config, objective) if jobs == 1 else None
        self._pool: ProcessPoolExecutor | None = None
        if jobs > 1:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
                initializer=_init_worker,
                initargs=(bars, strategy, config, objective),
            )

    def run(self, jobs: list[Job]) -> list[Outcome]:
        if self._inline is not None:
            return self._inline.run_many(jobs)
        assert self._pool is not None
        out: list[Outcome] = []
        for part in self._pool.map(_run_chunk, _chunks(jobs, self.workers)):
            out.extend(part)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """One actor per worker on a Ray cluster (`address`: "auto", "ray://host:port", or None for a local
    cluster this process starts). The bars are `ray.put` once; each actor reads them from the object
    store at start. Needs the optional extra `distributed` (ray)."""

    def __init__(
        self,
        bars: Bars,
        strategy: str,
        config: BacktestConfig,
        objective: str,
        jobs: int = 1,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise NotImplementedError(
                "--executor ray needs the optional extra 'distributed' (pip install 'gpt-trader[distributed]')"
            ) from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else jobs, include_dashboard=False, log_to_driver=False)
            self._started = True
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.workers = jobs
        bars_ref = ray.put(bars)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        self._actors: list[Any] = [actor.remote(bars_ref, strategy, config, objective) for _ in range(jobs)]

    def run(self, jobs: list[Job]) -> list[Outcome]:
        chunks = _chunks(jobs, self.workers)
        refs = [a.run_many.remote(c) for a, c in zip(self._actors, chunks, strict=False)]
        out: list[Outcome] = []
        for part in self._ray.get(refs):
            out.extend(part)
        return out

    def close(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False


class _RayWorker:
    """A Ray actor: the evaluator over its own writeable copy of the bars from the object store."""

    def __init__(self, bars: Bars, strategy: str, config: BacktestConfig, objective: str) -> None:
        self._eval = Evaluator(bars.writeable(), strategy, config, objective)

    def run_many(self, jobs: list[Job]) -> list[Outcome]:
        return self._eval.run_many(jobs)


def make_executor(
    kind: str,
    bars: Bars,
    strategy: str,
    config: BacktestConfig,
    objective: str,
    jobs: int = 1,
    address: str | None = None,
) -> Any:
    if kind == "local":
        if address is not None:
            raise ValueError("--address is for --executor ray")
        return LocalExecutor(bars, strategy, config, objective, jobs)
    if kind == "ray":
        return RayExecutor(bars, strategy, config, objective, jobs, address)
    raise ValueError(f"--executor must be one of {list(EXECUTORS)}, got {kind!r}")
