"""Reconciliation: rebuild the bot's view from its store plus the exchange, before and while trading.

Entry points: `Reconciler.startup()` (before the first cycle; raises `ReconciliationRefusedError` on a
position difference no fill explains), `Reconciler.periodic()` (open orders and positions while
trading), `ReconcileSettings`. Every correction is appended to the EventStore as `reconcile_correction`.

The bot's position per symbol is the replay of its stored fills and explicit adjustments. The exchange's
view is the perp position (perps) or the base-asset balance minus the holdings baseline, i.e. what the
account held that is not the bot's, recorded at the first reconciliation (spot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import msgspec
import structlog

from gpt_trader.errors import EXIT_RECONCILIATION_REFUSED, GptTraderError
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    BrokerageError,
    Fill,
    NotFoundError,
    Order,
    OrderStatus,
    Product,
)
from gpt_trader.orchestration.configuration import ReconciliationConfig
from gpt_trader.orchestration.live_execution import LiveExecutionEngine
from gpt_trader.persistence.interfaces import StateStoreProtocol
from gpt_trader.persistence.orders_store import StoredOrder

log = structlog.get_logger("reconciliation")
T = TypeVar("T")

GUARD_STATE_KEY = "risk.guard_state"


#: the profile's `reconciliation:` section (one definition: the bot and the reconcile command pass it on)
ReconcileSettings = ReconciliationConfig


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    detail: str
    client_order_id: str | None = None
    order_id: str | None = None
    symbol: str | None = None


class PositionDiff(msgspec.Struct, frozen=True, kw_only=True):
    """`key` is a perp symbol or a spot base asset; sizes are signed base units."""

    key: str
    symbols: tuple[str, ...]
    store: Decimal
    exchange: Decimal

    @property
    def difference(self) -> Decimal:
        return self.exchange - self.store

    def describe(self) -> str:
        return (
            f"{self.key}: store (bot fills) {self.store} vs exchange {self.exchange} "
            f"(difference {self.difference:+}) with no fill that explains it"
        )


class ReconciliationReport(msgspec.Struct, kw_only=True):
    corrections: list[Correction] = []
    mismatches: list[PositionDiff] = []
    flagged_orders: list[str] = []
    resent: list[str] = []
    guard_state: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def count(self, kind: str) -> int:
        return sum(1 for c in self.corrections if c.kind == kind)


class ReconciliationRefusedError(GptTraderError):
    """Start-up found a difference it cannot explain; trading must not start on a guess."""

    exit_code = EXIT_RECONCILIATION_REFUSED
    label = "refusing to trade"

    def __init__(self, report: ReconciliationReport, *, profile: str | None = None) -> None:
        self.report = report
        lines = [d.describe() for d in report.mismatches]
        hint = (
            f"perps-bot reconcile --accept-exchange --profile {profile}"
            if profile
            else "perps-bot reconcile --accept-exchange --profile <profile>"
        )
        super().__init__(
            "start-up reconciliation refused to start trading; positions differ:\n  - "
            + "\n  - ".join(lines)
            + "\nIf the exchange is right (e.g. a manual trade or transfer), adopt its view explicitly: "
            + hint
        )


class Reconciler:
    def __init__(
        self,
        engine: LiveExecutionEngine,
        products: dict[str, Product],
        *,
        state: StateStoreProtocol | None = None,
        settings: ReconcileSettings | None = None,
        profile: str | None = None,
    ) -> None:
        self.engine = engine
        self.broker = engine.broker
        self.orders = engine.orders
        self.events = engine.events
        self.metrics = engine.metrics
        self.products = products
        self.state = state
        self.settings = settings or ReconcileSettings()
        self._last_mismatch: dict[str, Decimal] = {}
        self._leave_unsent = False
        self.profile = profile
        self._flagged: set[str] = set()  # unknown orders already journaled by this process

    # ------------------------------------------------------------------ entry points
    async def startup(
        self, *, accept_exchange: bool = False, resend: bool = True, leave_unsent: bool = False
    ) -> ReconciliationReport:
        """Load, resolve, compare. Raises ReconciliationRefusedError unless positions agree or
        `accept_exchange` adopts the exchange's view as explicit adjustments. Recorded intents the
        exchange never received are resent (`resend`), left pending (`leave_unsent`) or failed."""
        self._leave_unsent = leave_unsent or self.engine.dry_run
        # Trades closed by fills found now are reported after the risk manager loads its state
        # (the caller runs `engine.release_trade_results()` once it has).
        self.engine.hold_trade_results()
        report = ReconciliationReport()
        report.guard_state = self._load_guard_state()
        self._rebuild_positions()
        await self._resolve_stored_working(report)
        await self._resolve_pending_submits(report, resend=resend)
        if report.resent:
            # Resend before the first snapshot, so the bot decides on positions that include them.
            await self.engine.resolve_pending()
        await self._sweep_fills(report)
        await self._check_open_orders(report)
        await self._compare_positions(report, accept_exchange=accept_exchange, settle_rounds=3)
        self._finish("startup", report)
        if not report.ok:
            raise ReconciliationRefusedError(report, profile=self.profile)
        return report

    async def periodic(self) -> ReconciliationReport:
        """Open orders and positions vs the exchange while trading. A difference is reported at once but
        only counts as `persistent` when the next check sees the same one (fills can be in flight)."""
        report = ReconciliationReport()
        await self._sweep_fills(report)
        await self._check_open_orders(report)
        await self._compare_positions(report, accept_exchange=False, settle_rounds=1, set_baseline=False)
        self._finish("periodic", report)
        return report

    def due(self, cycle: int) -> bool:
        return cycle > 0 and cycle % self.settings.periodic_every_cycles == 0

    async def periodic_guard(self) -> str | None:
        """Run `periodic()`; returns why trading must stop (a difference that persisted), else None.
        An exchange error only skips this check (logged and counted), it does not stop trading."""
        try:
            report = await self.periodic()
        except BrokerageError as exc:
            self.metrics.inc("reconcile.periodic_failed")
            log.warning("periodic reconciliation skipped", error=type(exc).__name__, message=str(exc))
            return None
        persistent = self.persistent(report)
        if not persistent:
            return None
        return "reconciliation: positions differ from the exchange: " + "; ".join(d.describe() for d in persistent)

    def persistent(self, report: ReconciliationReport) -> list[PositionDiff]:
        """Differences seen unchanged on two consecutive periodic checks."""
        current = {d.key: d.difference for d in report.mismatches}
        persistent = [d for d in report.mismatches if self._last_mismatch.get(d.key) == d.difference]
        self._last_mismatch = current
        return persistent

    # ------------------------------------------------------------------ steps
    def _load_guard_state(self) -> dict[str, object] | None:
        if self.state is None:
            return None
        doc = self.state.get(GUARD_STATE_KEY)
        if doc is not None:
            log.info(
                "guard state found",
                day=doc.get("day"),
                day_start_equity=doc.get("day_start_equity"),
                peak_equity=doc.get("peak_equity"),
                reduce_only=doc.get("reduce_only"),
            )
        return doc

    def _rebuild_positions(self) -> None:
        book = self.engine.positions
        book.ledgers.clear()
        for entry in self.orders.ledger_entries():
            book.apply_fill(entry)

    async def _retry(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """A few tries for retryable reads; if the exchange cannot answer we cannot know, so it propagates."""
        for attempt in range(1, self.settings.lookup_attempts + 1):
            try:
                return await fn()
            except BrokerageError as exc:
                if not exc.retryable or attempt == self.settings.lookup_attempts:
                    raise
                log.warning(
                    "reconciliation read failed; retrying",
                    what=what,
                    error=type(exc).__name__,
                    attempt=attempt,
                )
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _correct(self, report: ReconciliationReport, correction: Correction) -> None:
        report.corrections.append(correction)
        self.metrics.inc(f"reconcile.{correction.kind}")
        self.events.append(
            "reconcile_correction",
            msgspec.to_builtins(correction),
            ts=self.broker.now(),
            symbol=correction.symbol,
        )
        # The first run's baseline is bookkeeping, not a discrepancy: keep it out of the warnings.
        emit = log.info if correction.kind == "baseline_recorded" else log.warning
        emit(
            "reconciliation correction",
            kind=correction.kind,
            detail=correction.detail,
            client_order_id=correction.client_order_id,
            symbol=correction.symbol,
        )

    async def _resolve_stored_working(self, report: ReconciliationReport) -> None:
        for stored in self.orders.open_orders():
            if stored.status is OrderStatus.PENDING_SUBMIT:
                continue
            if not stored.order_id:
                continue
            try:
                remote = await self._retry("get_order", self._get_order_fn(stored.order_id or ""))
            except NotFoundError:
                reason = f"the exchange does not know order id {stored.order_id}"
                self.orders.mark_status(stored.client_order_id, OrderStatus.FAILED, at=self.broker.now(), reason=reason)
                self._correct(
                    report,
                    Correction(
                        kind="order_missing_at_exchange",
                        detail=reason,
                        client_order_id=stored.client_order_id,
                        order_id=stored.order_id,
                        symbol=stored.symbol,
                    ),
                )
                continue
            await self._apply_remote(report, stored, self._keyed(remote, stored.client_order_id))

    async def _apply_remote(self, report: ReconciliationReport, stored: StoredOrder, remote: Order) -> None:
        moved = remote.status is not stored.status or remote.filled_size != stored.filled_size
        if moved:
            if remote.status is OrderStatus.FILLED:
                kind = "order_filled_while_down"
            elif remote.status in (
                OrderStatus.CANCELLED,
                OrderStatus.EXPIRED,
                OrderStatus.REJECTED,
                OrderStatus.FAILED,
            ):
                kind = "order_cancelled_while_down"
            else:
                kind = "order_progressed_while_down"
            self._correct(
                report,
                Correction(
                    kind=kind,
                    client_order_id=stored.client_order_id,
                    order_id=remote.order_id,
                    symbol=remote.symbol,
                    detail=f"store {stored.status.value} filled {stored.filled_size} -> exchange "
                    f"{remote.status.value} filled {remote.filled_size}",
                ),
            )
        await self.engine.adopt(remote, note="reconciled")

    async def _resolve_pending_submits(self, report: ReconciliationReport, *, resend: bool) -> None:
        now = self.broker.now()
        for stored, request in self.orders.pending_submits():
            coid = stored.client_order_id
            found = await self._retry("get_order_by_client_id", self._by_client_id_fn(coid))
            if found is None and self._leave_unsent:
                # A dry run or an inspection sends nothing and must not decide the fate of a live intent.
                report.flagged_orders.append(coid)
                self._correct(
                    report,
                    Correction(
                        kind="pending_left_for_live_run",
                        client_order_id=coid,
                        symbol=stored.symbol,
                        detail="not at the exchange; left PENDING_SUBMIT for the live bot to resolve",
                    ),
                )
                continue
            if found is not None:
                self._correct(
                    report,
                    Correction(
                        kind="pending_found_at_exchange",
                        client_order_id=coid,
                        order_id=found.order_id,
                        symbol=found.symbol,
                        detail=f"sent before the crash; exchange status {found.status.value}",
                    ),
                )
                await self.engine.adopt(self._keyed(found, coid), note="resolved by client_order_id")
                continue
            age = (now - datetime.fromisoformat(stored.created_at)).total_seconds()
            if resend and age <= self.settings.resend_max_age_s:
                self.engine.add_pending(request)
                report.resent.append(coid)
                self._correct(
                    report,
                    Correction(
                        kind="pending_resend",
                        client_order_id=coid,
                        symbol=stored.symbol,
                        detail=f"never reached the exchange; resending with the same client_order_id (age {age:.0f}s)",
                    ),
                )
                continue
            reason = (
                f"never reached the exchange; intent {age:.0f}s old > {self.settings.resend_max_age_s:.0f}s"
                if resend
                else "never reached the exchange; not resent by reconcile"
            )
            self.orders.mark_status(coid, OrderStatus.FAILED, at=now, reason=reason)
            self._correct(
                report,
                Correction(kind="pending_expired", client_order_id=coid, symbol=stored.symbol, detail=reason),
            )

    async def _sweep_fills(self, report: ReconciliationReport) -> int:
        """Fills since the last one seen (minus a look-back for late-arriving ones) that the store lacks."""
        cursor = self.orders.last_fill_ts() or self.orders.first_order_ts()
        if cursor is None:
            return 0  # the bot never traded here: nothing at the exchange can be its fill
        since = cursor - timedelta(seconds=self.settings.fill_lookback_s)
        fills = await self._retry("list_fills", lambda: self.broker.list_fills(since=since))
        added = 0
        for fill in sorted(fills, key=lambda f: f.ts):
            if fill.symbol not in self.products or self.orders.has_fill(fill.trade_id):
                continue
            stored = self.orders.get_by_order_id(fill.order_id)
            if stored is None and fill.client_order_id:
                stored = self.orders.get(fill.client_order_id)
            if stored is None:
                stored = await self._adopt_unknown_for_fill(report, fill)
                if stored is None:
                    continue
            keyed = msgspec.structs.replace(fill, client_order_id=stored.client_order_id)
            with self.engine.fill_transaction():
                if not self.orders.add_fills([keyed]):
                    continue
                added += 1
                self.engine.record_fill(keyed)
            self._correct(
                report,
                Correction(
                    kind="missed_fill",
                    client_order_id=stored.client_order_id,
                    order_id=fill.order_id,
                    symbol=fill.symbol,
                    detail=f"{fill.side.value} {fill.size} @ {fill.price} (trade {fill.trade_id})",
                ),
            )
        return added

    async def _adopt_unknown_for_fill(self, report: ReconciliationReport, fill: Fill) -> StoredOrder | None:
        if fill.order_id in report.flagged_orders:
            return None
        if self.settings.unknown_orders != "adopt":
            report.flagged_orders.append(fill.order_id)
            if fill.order_id in self._flagged:
                return None
            self._flagged.add(fill.order_id)
            self._correct(
                report,
                Correction(
                    kind="unknown_order_flagged",
                    order_id=fill.order_id,
                    symbol=fill.symbol,
                    client_order_id=fill.client_order_id or None,
                    detail=f"fill {fill.trade_id} belongs to an order the store never saw; not counted as the bot's",
                ),
            )
            return None
        remote = await self._retry("get_order", lambda: self.broker.get_order(fill.order_id))
        return self._adopt_unknown(report, remote)

    def _adopt_unknown(self, report: ReconciliationReport, remote: Order) -> StoredOrder:
        key = self.orders.adopt_external(
            remote, session_id=self.events.session_id, at=self.broker.now(), note="adopted by reconciliation"
        )
        self._correct(
            report,
            Correction(
                kind="unknown_order_adopted",
                client_order_id=key,
                order_id=remote.order_id,
                symbol=remote.symbol,
                detail=f"{remote.side.value} {remote.size} {remote.order_type.value} status {remote.status.value}",
            ),
        )
        self.engine.track(self._keyed(remote, key))
        stored = self.orders.get(key)
        assert stored is not None
        return stored

    async def _check_open_orders(self, report: ReconciliationReport) -> None:
        remote_open = await self._retry("list_orders", lambda: self.broker.list_orders(open_only=True))
        seen: set[str] = set()
        for remote in remote_open:
            stored = self.orders.get_by_order_id(remote.order_id)
            if stored is None and remote.client_order_id:
                stored = self.orders.get(remote.client_order_id)
            if stored is None:
                if remote.symbol in self.products and self.settings.unknown_orders == "adopt":
                    stored = self._adopt_unknown(report, remote)
                    seen.add(stored.client_order_id)
                elif remote.order_id not in report.flagged_orders:
                    report.flagged_orders.append(remote.order_id)
                    if remote.order_id in self._flagged:
                        continue
                    self._flagged.add(remote.order_id)
                    self._correct(
                        report,
                        Correction(
                            kind="unknown_order_flagged",
                            order_id=remote.order_id,
                            symbol=remote.symbol,
                            client_order_id=remote.client_order_id or None,
                            detail="open at the exchange, unknown to the store: "
                            f"{remote.side.value} {remote.size} "
                            f"{remote.order_type.value} {remote.limit_price or ''}".rstrip(),
                        ),
                    )
                continue
            seen.add(stored.client_order_id)
            if (
                stored.status.is_terminal
                or stored.status is OrderStatus.PENDING_SUBMIT
                or stored.filled_size != remote.filled_size
            ):
                await self._apply_remote(report, stored, self._keyed(remote, stored.client_order_id))
            elif stored.client_order_id not in self.engine.tracked:
                self.engine.track(self._keyed(remote, stored.client_order_id))
        # Working in the store (or tracked) but not open at the exchange: it finished while we looked away.
        for stored in self.orders.open_orders():
            if stored.client_order_id in seen or stored.status is OrderStatus.PENDING_SUBMIT or not stored.order_id:
                continue
            remote = await self._retry("get_order", self._get_order_fn(stored.order_id or ""))
            if remote.status.is_working:
                self.engine.track(self._keyed(remote, stored.client_order_id))
                continue
            await self._apply_remote(report, stored, self._keyed(remote, stored.client_order_id))

    def _get_order_fn(self, order_id: str) -> Callable[[], Awaitable[Order]]:
        return lambda: self.broker.get_order(order_id)

    def _by_client_id_fn(self, client_order_id: str) -> Callable[[], Awaitable[Order | None]]:
        return lambda: self.broker.get_order_by_client_id(client_order_id)

    @staticmethod
    def _keyed(order: Order, client_order_id: str) -> Order:
        if order.client_order_id == client_order_id:
            return order
        return msgspec.structs.replace(order, client_order_id=client_order_id)

    # ------------------------------------------------------------------ positions
    async def exchange_holdings(self) -> dict[str, Decimal]:
        """Perp symbol -> signed size, spot base asset -> total balance (including holds)."""
        positions = await self._retry("list_positions", self.broker.list_positions)
        balances = await self._retry("list_balances", self.broker.list_balances)
        out: dict[str, Decimal] = {}
        perps = {s for s, p in self.products.items() if p.is_perpetual}
        for pos in positions:
            if pos.symbol in perps:
                out[pos.symbol] = out.get(pos.symbol, ZERO) + pos.size
        bases = {p.base_asset for p in self.products.values() if not p.is_perpetual}
        for bal in balances:
            if bal.asset in bases:
                out[bal.asset] = out.get(bal.asset, ZERO) + bal.total
        return out

    def store_holdings(self) -> dict[str, tuple[Decimal, tuple[str, ...]]]:
        """The bot's own positions keyed like `exchange_holdings` (spot grouped by base asset)."""
        out: dict[str, tuple[Decimal, tuple[str, ...]]] = {}
        for sym, product in sorted(self.products.items()):
            key = sym if product.is_perpetual else product.base_asset
            size, syms = out.get(key, (ZERO, ()))
            out[key] = (size + self.engine.positions.size(sym), (*syms, sym))
        return out

    async def _compare_positions(
        self,
        report: ReconciliationReport,
        *,
        accept_exchange: bool,
        settle_rounds: int,
        set_baseline: bool = True,
    ) -> None:
        diffs: list[PositionDiff] = []
        for _ in range(settle_rounds):
            exchange = await self.exchange_holdings()
            baseline = self.orders.baseline()
            mine = self.store_holdings()
            if baseline is None:
                if not set_baseline:
                    return
                spot = {
                    k: exchange.get(k, ZERO) - size
                    for k, (size, syms) in mine.items()
                    if not self.products[syms[0]].is_perpetual
                }
                self.orders.set_baseline(spot, at=self.broker.now())
                self._correct(
                    report,
                    Correction(
                        kind="baseline_recorded",
                        detail="holdings not attributed to the bot: "
                        + (", ".join(f"{k}={v}" for k, v in sorted(spot.items()) if v) or "none"),
                    ),
                )
                baseline = spot
            diffs = []
            rows = []
            for key, (size, syms) in mine.items():
                theirs = exchange.get(key, ZERO) - baseline.get(key, ZERO)
                rows.append((key, syms, size, theirs))
                if abs(theirs - size) > self.settings.position_tolerance:
                    diffs.append(PositionDiff(key=key, symbols=syms, store=size, exchange=theirs))
            self.orders.save_positions_snapshot(rows, at=self.broker.now())
            if not diffs:
                break
            # A fill may have landed between the reads: pull fills and look again before judging.
            if await self._sweep_fills(report) == 0:
                break
        if diffs and accept_exchange:
            for diff in diffs:
                await self._accept(report, diff)
            # after the adjustments the bot holds what the exchange showed
            held = self.store_holdings()
            self.orders.save_positions_snapshot(
                [(k, syms, size, size) for k, (size, syms) in held.items()], at=self.broker.now()
            )
            diffs = []
        report.mismatches = diffs
        for diff in diffs:
            self.metrics.inc("reconcile.position_mismatch")
            self.events.append(
                "reconcile_mismatch", msgspec.to_builtins(diff), ts=self.broker.now(), symbol=diff.symbols[0]
            )
            log.error("position mismatch", detail=diff.describe())

    async def _accept(self, report: ReconciliationReport, diff: PositionDiff) -> None:
        symbol = diff.symbols[0]
        price = await self._reference_price(symbol)
        self.orders.add_adjustment(
            symbol, diff.difference, price=price, at=self.broker.now(), reason="reconcile --accept-exchange"
        )
        self._rebuild_positions()
        self._correct(
            report,
            Correction(
                kind="accepted_exchange_position",
                symbol=symbol,
                detail=f"{diff.describe()}; adjusted the bot's position by {diff.difference:+} at {price}",
            ),
        )

    async def _reference_price(self, symbol: str) -> Decimal:
        try:
            positions = await self.broker.list_positions()
            for pos in positions:
                if pos.symbol == symbol and pos.entry_price > 0:
                    return pos.entry_price
            quote = await self.broker.get_quote(symbol)
            return quote.mark_price
        except BrokerageError:
            led = self.engine.positions.ledgers.get(symbol)
            return led.entry_price if led is not None else ZERO

    def _finish(self, phase: str, report: ReconciliationReport) -> None:
        summary = {
            "phase": phase,
            "corrections": len(report.corrections),
            "by_kind": {k: report.count(k) for k in sorted({c.kind for c in report.corrections})},
            "mismatches": [d.describe() for d in report.mismatches],
            "flagged_orders": report.flagged_orders,
            "resent": report.resent,
            "tracked": len(self.engine.tracked),
        }
        self.events.append("reconciliation", summary, ts=self.broker.now())
        self.metrics.inc(f"reconcile.runs.{phase}")
        log.info(
            "reconciliation done",
            **{k: v for k, v in summary.items() if k != "mismatches"},
            mismatches=len(report.mismatches),
        )
