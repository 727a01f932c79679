"""One process-wide registry of counters, gauges and histograms: the bot's only metrics registry.

Names are dotted (`risk.guards.daily_loss.critical_failures`) so metrics.json reads naturally; a metric
may carry labels (`pnl.unrealized_usd{symbol=BTC-USD}`). The Prometheus export (`render_prometheus`,
`prometheus_registry`) maps dots to underscores under the `gpt_trader_` prefix, and turns the dotted
names that carry a label in their path (a guard's name, a rejection reason, a pre-trade rule, a
reconciliation correction) into one labelled family each (see `LABEL_RULES`). prometheus_client is
imported only when exporting, into a dedicated CollectorRegistry (never the global one).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gpt_trader.features.monitor.health import write_json_atomic

PREFIX = "gpt_trader_"
Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]

#: seconds; cycles on a live venue take tens of milliseconds to a few seconds
DEFAULT_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: dotted names that hold a label in their path -> (exported family, label names in group order).
#: The family is exported with those labels; the dotted name stays as it is in metrics.json.
LABEL_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^risk\.guards\.(?P<guard>[a-z_]+)\.(?P<severity>recoverable|critical)_failures$"),
        "risk.guard_failures",
    ),
    (re.compile(r"^orders\.rejected\.(?P<reason>[^.]+)$"), "orders.rejected_by_reason"),
    (re.compile(r"^risk\.pretrade\.(?P<rule>[^.]+)\.rejections$"), "risk.pretrade_rejections"),
    (re.compile(r"^reconcile\.runs\.(?P<phase>[^.]+)$"), "reconcile.runs"),
    (re.compile(r"^reconcile\.(?P<kind>[a-z_]+)$"), "reconcile.corrections"),
    (re.compile(r"^coinbase\.rest\.errors\.(?P<kind>[a-z0-9_]+)$"), "coinbase.rest.errors"),
    (re.compile(r"^coinbase\.ratelimit\.headroom\.(?P<quota>public|private)$"), "coinbase.ratelimit.headroom"),
)

#: help text of the families the README documents (anything else gets its dotted name as help)
DOCS: dict[str, str] = {
    "cycles": "Trading cycles run",
    "cycle.duration_seconds": "Wall time of one trading cycle",
    "decision.duration_seconds": "Wall time of one symbol's decide -> size -> check -> submit",
    "decision.rounds_in_flight": "Bars decided while the same cycle's earlier orders were still in the air",
    "store.wal_fsync_seconds": "Wall time of a store_sync=normal flush of the store's write-ahead log",
    "store.wal_fsync_failures": "store_sync=normal flushes that failed (retried by the next request)",
    "orders.sent": "Orders sent to the venue",
    "orders.rejected": "Orders the venue rejected",
    "orders.rejected_by_reason": "Orders the venue rejected, by reason",
    "orders.status": "Order state transitions recorded, by new status",
    "orders.working": "Orders working at the venue",
    "orders.risk_rejected": "Orders refused by a pre-trade rule",
    "risk.pretrade_rejections": "Pre-trade refusals, by rule",
    "fills.count": "Fills recorded",
    "fills.fees_usd": "Fees paid on fills (quote currency)",
    "pnl.realized_usd": "Realized PnL per symbol this session (quote currency)",
    "pnl.unrealized_usd": "Unrealized PnL per open position (quote currency)",
    "position.size": "Position size per symbol (base units, signed)",
    "position.notional_usd": "Position notional per symbol at its mark (quote currency)",
    "account.equity_usd": "Account equity (quote currency)",
    "risk.guard_failures": "Guard trips, by guard and severity",
    "risk.guard_active": "1 while the guard has an active trip",
    "risk.daily_loss_used_ratio": "Today's loss as a fraction of the daily loss limit (1 = limit reached)",
    "trading.state": "1 for the current trading state (ACTIVE, REDUCING, HALTED)",
    "stream.stale": "1 while the symbol's market data is stale (no new risk on it)",
    "stream.lag_seconds": "Age of the newest mark per symbol",
    "api.calls": "Venue API calls made by the trading loop",
    "api.errors": "Venue API calls that failed",
    "coinbase.rest.requests": "HTTP requests the Coinbase REST client sent",
    "coinbase.rest.errors": "Coinbase REST errors, by kind",
    "coinbase.ratelimit.headroom": "Requests left in the client's token bucket, by quota",
    "coinbase.presign.signed": "Order-creation JWTs signed ahead, off the send path",
    "coinbase.presign.used": "Orders sent with a JWT signed ahead",
    "coinbase.presign.retired": "JWTs signed ahead dropped unused (too old, or re-signed fresher)",
    "coinbase.presign.on_demand": "Orders whose JWT was signed on the send path (none ready, or depth 0)",
    "coinbase.presign.stock": "Order-creation JWTs signed ahead and ready now",
    "reconcile.corrections": "Reconciliation corrections, by kind",
    "reconcile.runs": "Reconciliation runs, by phase",
    "alerts.sent": "Alerts delivered, by sink",
    "alerts.dropped": "Alerts dropped, by reason",
    "up": "1 while the bot process publishes metrics",
}


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items())) if labels else ()


def display_name(key: Key) -> str:
    """`name` or `name{a=x,b=y}`: the metrics.json spelling of a metric."""
    name, labels = key
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


def prom_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return f"{PREFIX}{out}"


def exported_key(key: Key) -> Key:
    """The (family, labels) a metric is exported as: LABEL_RULES lift a path segment into a label."""
    name, labels = key
    for pattern, family in LABEL_RULES:
        m = pattern.match(name)
        if m:
            return family, tuple(sorted((*labels, *m.groupdict().items())))
    return key


class _Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"count": sum(self.counts), "sum": self.sum, "buckets": dict(self.cumulative())}


class MetricsRegistry:
    """Counters, gauges and histograms keyed by dotted name and optional labels (thread-safe).

    Why one class: metrics.json, `/metrics` and the alerts all read the same figures, so there is one
    place that holds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[Key, float] = {}
        self._gauges: dict[Key, float] = {}
        self._histograms: dict[Key, _Histogram] = {}
        self._declared: dict[str, str] = {}

    def inc(self, name: str, value: float = 1.0, *, labels: Mapping[str, str] | None = None) -> None:
        if value < 0:
            raise ValueError(f"counter {name!r} cannot decrease (got {value})")
        key = (name, _labels(labels))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value

    def set_gauge(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None:
        key = (name, _labels(labels))
        with self._lock:
            self._gauges[key] = float(value)

    def set_counter(self, name: str, total: float) -> None:
        """Set a counter to a running total kept elsewhere (e.g. the venue adapter's own counters)."""
        with self._lock:
            self._counters[(name, ())] = float(total)

    def set_gauge_family(self, name: str, label: str, values: Mapping[str, float]) -> None:
        """Replace every sample of gauge `name`: one per `label` value given; the others go (a closed
        position's size must not linger)."""
        with self._lock:
            for key in [k for k in self._gauges if k[0] == name]:
                del self._gauges[key]
            for value_of_label, value in values.items():
                self._gauges[(name, ((label, str(value_of_label)),))] = float(value)

    def declare(self, family: str, kind: str) -> None:
        """Export `family` (its exported, dotted name) as a `counter`, `gauge` or `histogram` even before
        its first sample, so rules and dashboards that reference it find it declared."""
        if kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"kind must be counter, gauge or histogram, got {kind!r}")
        with self._lock:
            self._declared[family] = kind

    def observe(self, name: str, value: float, *, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        """Record one sample of histogram `name` (e.g. a duration in seconds)."""
        key = (name, ())
        with self._lock:
            hist = self._histograms.get(key)
            if hist is None:
                hist = self._histograms[key] = _Histogram(buckets)
            hist.observe(value)

    def counter(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        return self._counters.get((name, _labels(labels)), 0.0)

    def gauge(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        return self._gauges.get((name, _labels(labels)))

    def histogram_count(self, name: str) -> int:
        hist = self._histograms.get((name, ()))
        return 0 if hist is None else sum(hist.counts)

    def counters(self) -> Mapping[str, float]:
        with self._lock:
            return {display_name(k): v for k, v in self._counters.items()}

    def gauges(self) -> Mapping[str, float]:
        with self._lock:
            return {display_name(k): v for k, v in self._gauges.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": dict(sorted((display_name(k), v) for k, v in self._counters.items())),
                "gauges": dict(sorted((display_name(k), v) for k, v in self._gauges.items())),
                "histograms": {display_name(k): h.to_json() for k, h in sorted(self._histograms.items())},
            }

    def write_json(self, path: Path, extra: Mapping[str, Any] | None = None) -> None:
        """Atomic write (tmp + rename) so a reader never sees half a file."""
        data = self.snapshot()
        if extra:
            data.update(extra)
        write_json_atomic(path, data)

    # ------------------------------------------------------------------------------ Prometheus
    def collect_prometheus(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self._lock:
            counters = list(self._counters.items())
            gauges = list(self._gauges.items())
            hists = [(k, h.cumulative(), h.sum) for k, h in self._histograms.items()]
            declared = dict(self._declared)
        emitted: set[str] = {name for (name, _), _b, _s in hists}
        for kind, samples in (("counter", counters), ("gauge", gauges)):
            for family, rows in _group(samples):
                emitted.add(family)
                names = sorted({k for labels, _ in rows for k, _ in labels})
                doc = DOCS.get(family, family)
                fam: Any = (
                    CounterMetricFamily(prom_name(family), doc, labels=names)
                    if kind == "counter"
                    else GaugeMetricFamily(prom_name(family), doc, labels=names)
                )
                for labels, value in rows:
                    have = dict(labels)
                    fam.add_metric([have.get(n, "") for n in names], value)
                yield fam
        for (name, _), buckets, total in hists:
            yield HistogramMetricFamily(prom_name(name), DOCS.get(name, name), buckets=buckets, sum_value=total)
        for family, kind in sorted(declared.items()):
            if family in emitted:
                continue
            doc = DOCS.get(family, family)
            if kind == "counter":
                yield CounterMetricFamily(prom_name(family), doc)
            elif kind == "gauge":
                yield GaugeMetricFamily(prom_name(family), doc)
            else:
                yield HistogramMetricFamily(prom_name(family), doc)

    def prometheus_registry(self) -> Any:
        """A dedicated prometheus_client CollectorRegistry that exports this registry."""
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return registry

    def render_prometheus(self) -> bytes:
        """Prometheus text exposition of every metric in this registry."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.prometheus_registry()))

    def exported_families(self) -> set[str]:
        """Every Prometheus sample name this registry exports now (families with their suffixes)."""
        from prometheus_client.parser import text_string_to_metric_families

        names: set[str] = set()
        for family in text_string_to_metric_families(self.render_prometheus().decode()):
            names.update(s.name for s in family.samples)
            names.add(family.name)
        return names


def _group(samples: Iterable[tuple[Key, float]]) -> list[tuple[str, list[tuple[Labels, float]]]]:
    families: dict[str, dict[Labels, float]] = {}
    for key, value in samples:
        family, labels = exported_key(key)
        rows = families.setdefault(family, {})
        rows[labels] = rows.get(labels, 0.0) + value
    return [(f, sorted(rows.items())) for f, rows in sorted(families.items())]


class _Collector:
    def __init__(self, metrics: MetricsRegistry) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.collect_prometheus()
