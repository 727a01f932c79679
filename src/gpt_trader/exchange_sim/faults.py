"""Fault injection: the misbehaviours a live Coinbase connection shows, switched on by spec string.

Spec syntax (CLI `--faults` and admin `POST /admin/faults {"spec": ...}`): comma-separated items,
each `NAME[:ARG[:ARG...]]`:

    latency:MS[:JITTER_MS]            add MS (+ uniform 0..JITTER_MS) before every REST reply
    http429:COUNT                     the next COUNT REST requests get 429 (x-ratelimit-remaining 0)
    http5xx:COUNT[:STATUS[:after]]    the next COUNT REST requests get STATUS (default 503); with
                                      `after`, the request is executed first (ambiguous outcome)
    http_path:COUNT:FRAGMENT[:STATUS] the next COUNT REST requests whose path contains FRAGMENT (e.g.
                                      /intx/portfolio) get STATUS (default 503; 429 or 500..599),
                                      before they run; other paths are served normally
    slow_path:COUNT:FRAGMENT:MS       the next COUNT REST requests whose path contains FRAGMENT are held
                                      MS milliseconds before being served (client timeouts)

A FRAGMENT ending in `$` must end the path: `/brokerage/orders$` is order creation only, not the order
and fill reads below it (`/brokerage/orders/historical/...`).
    outage:SECONDS[:STATUS[:RETRY_S]] every REST request for the next SECONDS gets STATUS (default 429;
                                      429 or 500..599), with a `Retry-After: RETRY_S` header when given
                                      (a venue-wide burst a restarting bot must wait out)
    drop_ws[:TARGET[:EVERY_S]]        abort open WS sockets (TARGET market|user|all, default all);
                                      with EVERY_S, again every EVERY_S seconds until cleared
    seq_gap[:SKIP[:EVERY_S]]          skip SKIP (default 1) sequence numbers on every open WS
                                      connection; with EVERY_S, repeatedly
    stall[:SECONDS[:P1+P2..]]         stop publishing market data (l2/ticker/trades/candles) for the
                                      products (default all) for SECONDS (0 or omitted: until cleared);
                                      heartbeats continue
    delay_fills:SECONDS               accepted orders reach the matching engine SECONDS later
    reject_orders:COUNT[:REASON]      the next COUNT creates answer 200 success:false with REASON
                                      (default INSUFFICIENT_FUND)

Durations are wall-clock seconds (the fault is about the connection, not the simulated market).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULT_NAMES = (
    "latency",
    "http429",
    "http5xx",
    "http_path",
    "slow_path",
    "outage",
    "drop_ws",
    "seq_gap",
    "stall",
    "delay_fills",
    "reject_orders",
)
WS_TARGETS = ("market", "user", "all")
REJECT_REASONS = (
    "UNKNOWN_FAILURE_REASON",
    "UNSUPPORTED_ORDER_CONFIGURATION",
    "INVALID_SIDE",
    "INVALID_PRODUCT_ID",
    "INVALID_SIZE_PRECISION",
    "INVALID_PRICE_PRECISION",
    "INSUFFICIENT_FUND",
    "INVALID_LEDGER_BALANCE",
    "ORDER_ENTRY_DISABLED",
    "INELIGIBLE_PAIR",
    "INVALID_LIMIT_PRICE_POST_ONLY",
    "INVALID_LIMIT_PRICE",
    "INVALID_NO_LIQUIDITY",
    "INVALID_REQUEST",
    "COMMANDER_REJECTED_NEW_ORDER",
    "INSUFFICIENT_FUNDS",
    "IN_LIQUIDATION",
)


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class FaultItem:
    name: str
    args: tuple[str, ...] = ()


@dataclass
class PeriodicAction:
    kind: str  # drop_ws | seq_gap
    arg: str
    every_s: float
    next_at: float


def _num(item: str, value: str, what: str, *, integer: bool = False, minimum: float = 0.0) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError as exc:
        kind = "an integer" if integer else "a number"
        raise FaultSpecError(f"fault {item!r}: {what} must be {kind}, got {value!r}") from exc
    if number < minimum:
        raise FaultSpecError(f"fault {item!r}: {what} must be >= {minimum}, got {value!r}")
    return number


def parse_spec(spec: str) -> list[FaultItem]:
    """Parse and validate a spec string; raises FaultSpecError naming the bad item and allowed values."""
    items: list[FaultItem] = []
    for raw in spec.split(","):
        raw = raw.strip()
        if not raw:
            continue
        name, *args = raw.split(":")
        name = name.strip()
        if name not in FAULT_NAMES:
            raise FaultSpecError(f"unknown fault {name!r}; allowed: {', '.join(FAULT_NAMES)}")
        item = FaultItem(name, tuple(a.strip() for a in args))
        _validate(raw, item)
        items.append(item)
    return items


def _validate(raw: str, item: FaultItem) -> None:
    a = item.args
    max_args = {
        "latency": 2,
        "http429": 1,
        "http5xx": 3,
        "http_path": 3,
        "slow_path": 3,
        "outage": 3,
        "drop_ws": 2,
        "seq_gap": 2,
        "stall": 2,
        "delay_fills": 1,
        "reject_orders": 2,
    }[item.name]
    if len(a) > max_args:
        raise FaultSpecError(f"fault {raw!r}: at most {max_args} arguments")
    needs_args = ("latency", "http429", "http5xx", "http_path", "slow_path", "outage", "delay_fills", "reject_orders")
    if item.name in needs_args and not a:
        raise FaultSpecError(f"fault {raw!r}: needs an argument")
    if item.name == "latency":
        for v in a:
            _num(raw, v, "milliseconds")
    elif item.name in ("http429", "reject_orders"):
        _num(raw, a[0], "count", integer=True, minimum=1)
        if item.name == "reject_orders" and len(a) > 1 and a[1] not in REJECT_REASONS:
            raise FaultSpecError(f"fault {raw!r}: reason must be one of {', '.join(REJECT_REASONS)}")
    elif item.name == "http5xx":
        _num(raw, a[0], "count", integer=True, minimum=1)
        if len(a) > 1:
            status = _num(raw, a[1], "status", integer=True, minimum=500)
            if status > 599:
                raise FaultSpecError(f"fault {raw!r}: status must be 500..599")
        if len(a) > 2 and a[2] not in ("before", "after"):
            raise FaultSpecError(f"fault {raw!r}: third argument must be 'before' or 'after'")
    elif item.name in ("http_path", "slow_path"):
        _num(raw, a[0], "count", integer=True, minimum=1)
        if len(a) < 2 or not a[1].startswith("/"):
            raise FaultSpecError(f"fault {raw!r}: needs a path fragment starting with '/', e.g. /intx/portfolio")
        if item.name == "slow_path":
            if len(a) < 3:
                raise FaultSpecError(f"fault {raw!r}: needs the delay in milliseconds")
            _num(raw, a[2], "milliseconds")
            return
        if len(a) > 2:
            status = _num(raw, a[2], "status", integer=True)
            if status != 429 and not 500 <= status <= 599:
                raise FaultSpecError(f"fault {raw!r}: status must be 429 or 500..599")
    elif item.name == "outage":
        _num(raw, a[0], "seconds")
        if len(a) > 1:
            status = _num(raw, a[1], "status", integer=True)
            if status != 429 and not 500 <= status <= 599:
                raise FaultSpecError(f"fault {raw!r}: status must be 429 or 500..599")
        if len(a) > 2:
            _num(raw, a[2], "Retry-After seconds")
    elif item.name == "drop_ws":
        if a and a[0] not in WS_TARGETS:
            raise FaultSpecError(f"fault {raw!r}: target must be one of {', '.join(WS_TARGETS)}")
        if len(a) > 1:
            _num(raw, a[1], "interval seconds", minimum=0.05)
    elif item.name == "seq_gap":
        if a:
            _num(raw, a[0], "skip", integer=True, minimum=1)
        if len(a) > 1:
            _num(raw, a[1], "interval seconds", minimum=0.05)
    elif item.name == "stall":
        if a:
            _num(raw, a[0], "seconds")
    elif item.name == "delay_fills":
        _num(raw, a[0], "seconds")


@dataclass
class FaultState:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    http429_remaining: int = 0
    http5xx_remaining: int = 0
    http5xx_status: int = 503
    http5xx_after: bool = False
    #: [remaining, path fragment, status] per armed `http_path` item, consumed in order
    path_faults: list[list[Any]] = field(default_factory=list)
    #: [remaining, path fragment, milliseconds] per armed `slow_path` item
    slow_paths: list[list[Any]] = field(default_factory=list)
    outage_until: float | None = None  # monotonic end of an `outage`
    outage_status: int = 429
    outage_retry_after: str | None = None
    stall_until: float | None = None  # monotonic; inf = until cleared
    stall_products: frozenset[str] | None = None  # None = all
    delay_fills_s: float = 0.0
    reject_remaining: int = 0
    reject_reason: str = "INSUFFICIENT_FUND"
    periodic: list[PeriodicAction] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


class FaultInjector:
    """Holds armed faults; the HTTP middleware, order routes and WS hub consult it.

    Immediate WS actions (drop, gap) are delegated to `ws_action(kind, arg)`, set by the WS hub.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        self._now = now
        self._rng = random.Random(seed)
        self.state = FaultState()
        self.ws_action: Callable[[str, str], int] | None = None

    def _count(self, name: str) -> None:
        self.state.counters[name] = self.state.counters.get(name, 0) + 1

    def apply(self, spec: str) -> list[FaultItem]:
        items = parse_spec(spec)
        for item in items:
            self._apply_item(item)
        return items

    def _apply_item(self, item: FaultItem) -> None:
        s, a = self.state, item.args
        if item.name == "latency":
            s.latency_ms = float(a[0])
            s.latency_jitter_ms = float(a[1]) if len(a) > 1 else 0.0
        elif item.name == "http429":
            s.http429_remaining += int(a[0])
        elif item.name == "http5xx":
            s.http5xx_remaining += int(a[0])
            s.http5xx_status = int(a[1]) if len(a) > 1 else 503
            s.http5xx_after = len(a) > 2 and a[2] == "after"
        elif item.name == "http_path":
            s.path_faults.append([int(a[0]), a[1], int(a[2]) if len(a) > 2 else 503])
        elif item.name == "slow_path":
            s.slow_paths.append([int(a[0]), a[1], float(a[2])])
        elif item.name == "outage":
            s.outage_until = self._now() + float(a[0])
            s.outage_status = int(a[1]) if len(a) > 1 else 429
            s.outage_retry_after = a[2] if len(a) > 2 else None
        elif item.name in ("drop_ws", "seq_gap"):
            arg = a[0] if a else ("all" if item.name == "drop_ws" else "1")
            self.fire_ws(item.name, arg)
            if len(a) > 1:
                every = float(a[1])
                s.periodic.append(PeriodicAction(item.name, arg, every, self._now() + every))
        elif item.name == "stall":
            seconds = float(a[0]) if a else 0.0
            s.stall_until = float("inf") if seconds <= 0 else self._now() + seconds
            s.stall_products = frozenset(p for p in a[1].split("+") if p) if len(a) > 1 else None
        elif item.name == "delay_fills":
            s.delay_fills_s = float(a[0])
        elif item.name == "reject_orders":
            s.reject_remaining += int(a[0])
            s.reject_reason = a[1] if len(a) > 1 else "INSUFFICIENT_FUND"

    def clear(self) -> None:
        counters = self.state.counters
        self.state = FaultState(counters=counters)

    def fire_ws(self, kind: str, arg: str) -> int:
        self._count(kind)
        return self.ws_action(kind, arg) if self.ws_action is not None else 0

    def run_periodic(self) -> None:
        """Called by the simulator's ticker: fires due drop/gap actions."""
        now = self._now()
        for action in self.state.periodic:
            if now >= action.next_at:
                action.next_at = now + action.every_s
                self.fire_ws(action.kind, action.arg)

    # ------------------------------------------------------------------------ consulted by routes
    def latency_s(self) -> float:
        s = self.state
        if s.latency_ms <= 0 and s.latency_jitter_ms <= 0:
            return 0.0
        self._count("latency")
        return (s.latency_ms + self._rng.uniform(0, s.latency_jitter_ms)) / 1000.0

    def take_429(self) -> bool:
        if self.state.http429_remaining > 0:
            self.state.http429_remaining -= 1
            self._count("http429")
            return True
        return False

    def take_5xx(self) -> tuple[int, bool] | None:
        """(status, after) when this request must fail with a server error."""
        if self.state.http5xx_remaining > 0:
            self.state.http5xx_remaining -= 1
            self._count("http5xx")
            return self.state.http5xx_status, self.state.http5xx_after
        return None

    def take_outage(self) -> tuple[int, str | None] | None:
        """(status, Retry-After header or None) while an `outage` lasts; None once it is over."""
        s = self.state
        if s.outage_until is None:
            return None
        if self._now() >= s.outage_until:
            s.outage_until = None
            return None
        self._count("outage")
        return s.outage_status, s.outage_retry_after

    def take_path_fault(self, path: str) -> int | None:
        """The status this request must fail with when an armed `http_path` fault matches its path."""
        for armed in self.state.path_faults:
            if armed[0] > 0 and _path_matches(armed[1], path):
                armed[0] -= 1
                self._count("http_path")
                return int(armed[2])
        return None

    def take_slow_path(self, path: str) -> float:
        """Seconds to hold this request when an armed `slow_path` fault matches its path (else 0)."""
        for armed in self.state.slow_paths:
            if armed[0] > 0 and _path_matches(armed[1], path):
                armed[0] -= 1
                self._count("slow_path")
                return float(armed[2]) / 1000.0
        return 0.0

    def take_reject(self) -> str | None:
        if self.state.reject_remaining > 0:
            self.state.reject_remaining -= 1
            self._count("reject_orders")
            return self.state.reject_reason
        return None

    def is_stalled(self, product_id: str) -> bool:
        s = self.state
        if s.stall_until is None:
            return False
        if self._now() >= s.stall_until:
            s.stall_until = None
            s.stall_products = None
            return False
        return s.stall_products is None or product_id in s.stall_products

    def fill_delay_s(self) -> float:
        return self.state.delay_fills_s

    def snapshot(self) -> dict[str, Any]:
        s = self.state
        stall_left: float | None = None
        if s.stall_until is not None:
            stall_left = -1.0 if s.stall_until == float("inf") else max(0.0, s.stall_until - self._now())
        return {
            "latency_ms": s.latency_ms,
            "latency_jitter_ms": s.latency_jitter_ms,
            "http429_remaining": s.http429_remaining,
            "http5xx_remaining": s.http5xx_remaining,
            "http5xx_status": s.http5xx_status,
            "http5xx_after": s.http5xx_after,
            "http_path": [{"remaining": r, "path": p, "status": st} for r, p, st in s.path_faults if r > 0],
            "slow_path": [{"remaining": r, "path": p, "ms": ms} for r, p, ms in s.slow_paths if r > 0],
            "outage_seconds_left": None if s.outage_until is None else max(0.0, s.outage_until - self._now()),
            "stall_seconds_left": stall_left,
            "stall_products": sorted(s.stall_products) if s.stall_products is not None else None,
            "delay_fills_s": s.delay_fills_s,
            "reject_remaining": s.reject_remaining,
            "reject_reason": s.reject_reason,
            "periodic": [{"kind": p.kind, "arg": p.arg, "every_s": p.every_s} for p in s.periodic],
            "fired": dict(s.counters),
        }


def _path_matches(fragment: str, path: str) -> bool:
    """A path fault's FRAGMENT against a request path: anywhere in it, or at its end when it ends in `$`."""
    return path.endswith(fragment[:-1]) if fragment.endswith("$") else fragment in path
