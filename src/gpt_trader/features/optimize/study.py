"""One optuna study over a bar range: ask a batch of trials, evaluate them on the executor, tell the
results, until N more trials completed or a stop was asked (Ctrl-C / SIGTERM finish the batch in flight,
so every trial the storage holds is complete or failed and a `--resume` continues from there)."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt_trader.features.optimize.objective import Job, Outcome, objective_of
from gpt_trader.features.optimize.space import SearchSpace

if TYPE_CHECKING:
    import optuna

    from gpt_trader.features.optimize.executors import Executor

METHODS = ("tpe", "random", "grid")
DEFAULT_STORAGE_DIR = Path("var/optimize")
MAX_ATTEMPTS_PER_TRIAL = 5  # refused parameter sets (failed trials) allowed per trial asked for


@dataclass
class StudyRun:
    """What one `run_study` call did: the study, trials completed by this call, time, whether stopped."""

    study: optuna.Study
    completed_now: int
    elapsed_s: float
    interrupted: bool
    objective: str
    failed_now: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> list[optuna.trial.FrozenTrial]:
        import optuna

        return self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


class StopFlag:
    """Set by SIGINT / SIGTERM while a study runs (the batch in flight finishes, then the loop stops)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            self.event.set()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def storage_url(value: str | None, default_name: str) -> str:
    """`--storage` as given, or sqlite:///var/optimize/<name>.db; the SQLite file's folder is created."""
    url = value or f"sqlite:///{DEFAULT_STORAGE_DIR / (default_name + '.db')}"
    if not url.startswith("sqlite:///"):
        raise ValueError(f"--storage must be a SQLite URL (sqlite:///path.db), got {url!r}")
    Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return url


def open_storage(url: str) -> Any:
    """optuna's RDB storage on SQLite in WAL mode with synchronous=NORMAL: a trial's several small
    commits then cost no fsync each (on a busy disk ~5x faster). A crash can lose the last trials, never
    corrupt the study; a resumed run simply runs them again."""
    import optuna
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections opened before the listener are dropped
    return storage


def make_sampler(method: str, space: SearchSpace, seed: int | None) -> Any:
    import optuna

    if method == "tpe":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate: stable in use
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "grid":
        return _AskTellGrid(space.grid(), seed=seed)
    raise ValueError(f"--method must be one of {list(METHODS)}, got {method!r}")


class Study:
    """An optuna study run in memory (fast asks and tells) and mirrored, batch by batch, into its SQLite
    study (`record`): one insert per finished trial instead of optuna's many round trips per trial, so
    the store holds every finished trial and nothing half-done; `--resume` loads them back."""

    def __init__(self, memory: optuna.Study, stored: optuna.Study | None) -> None:
        self.memory = memory
        self.stored = stored

    @property
    def sampler(self) -> Any:
        return self.memory.sampler

    def record(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        if self.stored is not None and trials:
            self.stored.add_trials(trials)


def open_study(
    *,
    name: str,
    storage: str | None,
    method: str,
    space: SearchSpace,
    objective: str,
    seed: int | None,
    resume: bool,
    attrs: dict[str, Any],
) -> Study:
    """Create the study, or (with `resume`) load it; a resumed study must search the same thing. With
    `storage` None the study lives in memory only (walk-forward folds)."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    _, direction = objective_of(objective)
    store: Any = open_storage(storage) if storage is not None else None
    exists = store is not None and name in optuna.study.get_all_study_names(store)
    if exists and not resume:
        raise ValueError(f"study {name!r} already exists in {storage}; pass --resume to continue it or a new --storage")
    if resume and not exists:
        raise ValueError(f"--resume: no study {name!r} in {storage}")
    study_attrs = {**attrs, "space": space.describe(), "objective": objective, "method": method}
    stored: optuna.Study | None = None
    previous: list[optuna.trial.FrozenTrial] = []
    if exists:
        stored = optuna.load_study(study_name=name, storage=store)
        for k, v in study_attrs.items():
            if stored.user_attrs.get(k) != v:
                raise ValueError(f"--resume: study {name!r} was run with {k}={stored.user_attrs.get(k)!r}, not {v!r}")
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
        previous = stored.get_trials(deepcopy=False, states=finished)
    elif store is not None:
        stored = optuna.create_study(study_name=name, storage=store, direction=direction)
        for k, v in study_attrs.items():
            stored.set_user_attr(k, v)
    done = len(previous)
    sampler_seed = None if seed is None else seed + done  # a resumed run does not replay the first sequence
    memory = optuna.create_study(direction=direction, sampler=make_sampler(method, space, sampler_seed))
    memory.add_trials(previous)
    return Study(memory, stored)


def run_study(
    study: Study,
    space: SearchSpace,
    executor: Executor,
    n_trials: int,
    objective: str,
    *,
    lo: int = 0,
    hi: int = -1,
    progress: bool = True,
    label: str = "optimize",
    stop: StopFlag | None = None,
) -> StudyRun:
    """Run until `n_trials` more trials completed (failed ones do not count), the grid is exhausted, or
    a stop is asked."""
    import optuna

    stop = stop or StopFlag()
    started = time.perf_counter()
    done = failed = 0
    mem = study.memory
    grid_left = _grid_left(mem, space) if isinstance(study.sampler, optuna.samplers.GridSampler) else None
    seen: dict[tuple[Any, ...], Outcome] = {  # params -> outcome: a repeated suggestion is not run again
        tuple(sorted({**space.fixed, **t.params}.items())): Outcome(t.value, t.user_attrs.get("metrics", {}))
        for t in mem.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }
    notes: list[str] = []
    with _progress(progress, label, n_trials) as update:
        while done < n_trials and not stop.event.is_set():
            if failed > MAX_ATTEMPTS_PER_TRIAL * n_trials:
                notes.append(f"stopped: {failed} parameter sets refused by the strategy")
                break
            k = min(executor.workers, n_trials - done)
            if grid_left is not None:
                k = min(k, grid_left)
                if k <= 0:
                    notes.append("grid exhausted")
                    break
            trials = [mem.ask() for _ in range(k)]
            jobs = [Job(space.suggest(t), lo, hi) for t in trials]
            keys = [tuple(sorted(j.params.items())) for j in jobs]
            todo = [i for i, key in enumerate(keys) if key not in seen and key not in keys[:i]]
            for i, outcome in zip(todo, executor.run([jobs[i] for i in todo]), strict=True):
                seen[keys[i]] = outcome
            for trial, key in zip(trials, keys, strict=True):
                outcome = seen[key]
                if outcome.value is None:
                    trial.set_user_attr("error", outcome.error or "refused")
                    mem.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed += 1
                else:
                    trial.set_user_attr("metrics", {m: _finite(v) for m, v in outcome.metrics.items()})
                    mem.tell(trial, outcome.value)
                    done += 1
            finished = mem.get_trials(deepcopy=False)  # mem.trials deep-copies every trial: O(n^2)
            study.record([finished[t.number] for t in trials])
            if grid_left is not None:
                grid_left -= k
            update(done, _best(mem))
    interrupted = stop.event.is_set() and done < n_trials
    return StudyRun(mem, done, time.perf_counter() - started, interrupted, objective, failed, notes)


def _ask_tell_grid() -> type:
    import optuna

    class AskTellGrid(optuna.samplers.GridSampler):
        """optuna's grid sampler, minus its `study.stop()` once the grid is done (allowed only inside
        `optimize`; run_study counts the grid points left itself)."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGrid


def _AskTellGrid(grid: dict[str, list[Any]], seed: int | None) -> Any:
    return _ask_tell_grid()(grid, seed=seed)


def _grid_left(study: optuna.Study, space: SearchSpace) -> int:
    total = math.prod(len(v) for v in space.grid().values())
    return max(0, total - len(study.trials))


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _best(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


@contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[Any]:
    if not enabled:
        yield lambda done, best: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total, best="n/a")

        def update(done: int, best: float | None) -> None:
            bar.update(task, completed=done, best="n/a" if best is None else f"{best:.4g}")

        yield update
