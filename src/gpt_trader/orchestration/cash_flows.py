"""External quote-cash transfers (deposits, withdrawals), told apart from trading.

The daily-loss and drawdown guards compare equity with a baseline; a user withdrawing cash would read
as a trading loss and a deposit would lift the peak. `CashFlowDetector` finds the part of each quote
currency's balance change (`Balance.total`, so holds do not matter) that no fill, fee, perp realized PnL
or funding explains, and reports it as a `Transfer`; PerpsBot moves the guard baselines by it
(`RiskManager.record_transfer`) before the guards see the same snapshot.

Expected cash change, exact as the venue settles it (Coinbase debits notionals and `commission`
unrounded, finer than the quote increment): spot BUY -(size*price) - fee; spot SELL +(size*price) - fee;
perp fill: the fill's realized PnL (from the bot's ledger, before/after the fill; rounded half-even to the
quote increment, as the shared fill model settles average-entry PnL) - fee; perp funding: -(increase of
Position.funding_paid). A perp position first listed after the baseline starts its funding count there
(the venue's figure may be cumulative over earlier positions, which must not count). Residuals under the
tolerance are dropped: one cent (or the currency's largest quote increment if coarser), a flat margin that
no longer grows with the number of fills (no per-fill rounding is left to allow for).
Base-asset (crypto) transfers are out of scope: reconciliation treats a holdings difference as a
mismatch (`perps-bot reconcile --accept-exchange`).

The race rule. A fill the venue applied before a balance read but that the bot records only later makes
that read show an unexplained change which the next read reverses (the same holds for funding settled
between the balance and position reads). So a residual is never booked on the read that first shows it:
  1. each read computes R = (balance - previous balance) - expected since the previous read, and the
     unexplained total U = pending + R (pending = the not yet booked residual of earlier reads);
  2. |U| under the tolerance: nothing (a pending residual that the late fill now explains vanishes);
  3. a first sighting (nothing pending) becomes pending;
  4. a pending residual is booked (amount U) when the next read adds nothing unexplained of its own
     (|R| under the tolerance: no new fill moved it) AND that read was `settled`, i.e. the bot had no
     working or unresolved order, so no fill of its own could have been applied and still be unknown;
  5. otherwise U stays pending for the next read.
A booked transfer carries the time of the last read before it appeared (`after`): a guard baseline taken
from a later equity reading (a new peak or a day roll while it awaited confirmation) already holds it, so
`RiskManager.record_transfer` leaves that baseline alone instead of moving it twice. (A venue clock that
does not move between reads makes every baseline look as old as the flow: they all move, as they would
without this rule.)
PerpsBot takes the confirming read in the same cycle (refresh working orders, read again), so a
withdrawal moves the baselines before the guards evaluate. A venue whose order and fill endpoints lag
its balances while the order still shows as working cannot fool rule 4; while the bot has a working
order, booking waits (the guards see the change meanwhile: fail closed).

Restarts: the last balances, pending residuals, funding counts and the fills accounted since the last
read (trade ids: the cursor) are persisted in the StateStore whenever they change. A fill is accounted in
the same SQLite transaction that stores it (`LiveExecutionEngine.fill_transaction`), so no crash leaves a
stored fill unaccounted; fills that start-up reconciliation (or `perps-bot reconcile`) finds are accounted
against the balances read before the crash, and a transfer made while the bot was down is booked by the
reads at start-up, before the risk manager rolls its day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    Balance,
    Fill,
    OrderSide,
    Position,
    Product,
    to_usd,
)
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.persistence.interfaces import StateStoreProtocol

log = structlog.get_logger("cash_flows")

STATE_KEY = "cash_flows.state"
MIN_TOLERANCE = Decimal("0.01")


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """A booked external cash flow: `amount` > 0 deposit, < 0 withdrawal, in `asset` (a quote currency)."""

    asset: str
    amount: Decimal
    balance: Decimal  # the balance of the read that confirmed it
    at: datetime  # the read that confirmed it
    after: datetime | None  # the last read before it appeared (every later equity reading holds it)

    @property
    def kind(self) -> str:
        return "deposit" if self.amount > 0 else "withdrawal"

    @property
    def usd(self) -> Decimal:
        """The amount in USD, as the guard baselines count it (USDC 1:1, `interfaces.to_usd`)."""
        return to_usd(self.amount, self.asset)

    def details(self) -> dict[str, str]:
        return {
            "asset": self.asset,
            "kind": self.kind,
            "balance": str(self.balance),
            "at": self.at.isoformat(),
            "after": self.after.isoformat() if self.after is not None else "",
        }

    def payload(self) -> dict[str, str]:
        return {"amount": str(self.amount), **self.details()}


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    transfers: list[Transfer]
    pending: dict[str, Decimal]  # asset -> unexplained change waiting for a confirming read
    baseline: bool = False  # this read only set the baseline


class DetectorState(msgspec.Struct, kw_only=True):
    balances: dict[str, Decimal] | None = None  # None until the first read (the baseline)
    expected: dict[str, Decimal] = {}  # cash change explained by fills since the last read
    pending: dict[str, Decimal] = {}
    pending_after: dict[str, datetime | None] = {}  # the last read before the pending amount appeared
    funding: dict[str, Decimal] = {}  # perp symbol -> last funding_paid seen
    accounted: list[str] = []  # trade ids folded into `expected` since the last read (the cursor)
    observed_at: datetime | None = None


def fill_cash_effect(fill: Fill, product: Product, realized: Decimal) -> Decimal:
    """What the fill does to the quote balance, exactly. `realized` is the fill's realized PnL (perps only)."""
    if product.is_perpetual:
        return realized.quantize(product.quote_increment, rounding=ROUND_HALF_EVEN) - fill.fee
    value = fill.size * fill.price
    return (-value if fill.side is OrderSide.BUY else value) - fill.fee


class CashFlowDetector:
    def __init__(
        self,
        *,
        state: StateStoreProtocol | None = None,
        metrics: MetricsRegistry | None = None,
        key: str = STATE_KEY,
    ) -> None:
        self._store = state
        self._metrics = metrics or MetricsRegistry()
        self._key = key
        self._products: dict[str, Product] = {}
        self._tolerance: dict[str, Decimal] = {}
        self._written: dict[str, Any] | None = None  # the last document persisted
        self._state = DetectorState()
        self._accounted: set[str] = set()

    # ------------------------------------------------------------------ set-up
    def bind(self, products: Mapping[str, Product]) -> None:
        """Set the universe (its quote assets are the currencies watched) and load the persisted state."""
        if not products:
            raise ValueError("CashFlowDetector.bind needs at least one product")
        self._products = dict(products)
        tol: dict[str, Decimal] = {}
        for p in self._products.values():
            tol[p.quote_asset] = max(tol.get(p.quote_asset, MIN_TOLERANCE), p.quote_increment)
        self._tolerance = tol
        self._load()

    @property
    def quote_assets(self) -> list[str]:
        return sorted(self._tolerance)

    @property
    def state(self) -> DetectorState:
        return self._state

    def tolerance(self, asset: str) -> Decimal:
        """The residual under which a change of `asset` is not a transfer."""
        return self._tolerance[asset]

    def _load(self) -> None:
        self._state = DetectorState()
        if self._store is None:
            return
        doc = self._store.get(self._key)
        if doc is None:
            return
        try:
            self._state = msgspec.convert(doc, DetectorState, strict=False)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            # Starting over only loses a transfer made while down; the guards then see it (fail closed).
            self._metrics.inc("cash_flows.state_errors")
            log.error("cash-flow state malformed; the next read sets a new baseline", error=str(exc))
            self._state = DetectorState()
            return
        self._accounted = set(self._state.accounted)
        self._written = msgspec.to_builtins(self._state)
        log.info(
            "cash-flow state restored",
            balances={k: str(v) for k, v in (self._state.balances or {}).items()},
            pending={k: str(v) for k, v in self._state.pending.items()},
            fills_since_read=len(self._state.accounted),
        )

    def _persist(self) -> None:
        """Write the state when it changed (a quiet cycle, same balances and nothing pending, costs no
        write; the read time alone is not worth one)."""
        if self._store is None:
            return
        doc: dict[str, Any] = msgspec.to_builtins(self._state)
        if self._written is not None and {**doc, "observed_at": None} == {**self._written, "observed_at": None}:
            return
        try:
            self._store.put(self._key, doc)
            self._written = doc
        except Exception as exc:  # keep going in memory; say loudly that the store failed
            self._metrics.inc("cash_flows.state_errors")
            log.error("cash-flow state not persisted", error=str(exc))

    # ------------------------------------------------------------------ inputs
    def record_fill(self, fill: Fill, realized: Decimal) -> bool:
        """Account one fill (call once per stored fill). Returns False when it changes nothing: before the
        first read (the baseline includes it), already accounted, or a symbol outside the universe."""
        st = self._state
        if st.balances is None:
            return False
        product = self._products.get(fill.symbol)
        if product is None:
            self._metrics.inc("cash_flows.unknown_symbol_fills")
            log.warning("fill for a symbol outside the universe; not accounted", symbol=fill.symbol)
            return False
        if fill.trade_id in self._accounted:
            return False
        asset = product.quote_asset
        st.expected[asset] = st.expected.get(asset, ZERO) + fill_cash_effect(fill, product, realized)
        st.accounted.append(fill.trade_id)
        self._accounted.add(fill.trade_id)
        self._persist()
        return True

    def observe(
        self, balances: Iterable[Balance], positions: Iterable[Position], *, at: datetime, settled: bool
    ) -> Observation:
        """One balance read (with the positions of the same snapshot, for funding). `settled`: the bot had
        no working or unresolved order at the read (see the race rule in the module docstring)."""
        if not self._tolerance:
            raise RuntimeError("CashFlowDetector.observe before bind(products)")
        totals = {a: ZERO for a in self._tolerance}
        for b in balances:
            if b.asset in totals:
                totals[b.asset] += b.total
        st = self._state
        funding = self._funding_expected(positions, first=st.balances is None)
        if st.balances is None:
            self._fold(totals, at)
            log.info("cash-flow baseline", balances={k: str(v) for k, v in totals.items()})
            return Observation(transfers=[], pending={}, baseline=True)
        transfers: list[Transfer] = []
        previous = st.observed_at
        for asset, now in totals.items():
            tol = self.tolerance(asset)
            expected = st.expected.get(asset, ZERO) + funding.get(asset, ZERO)
            residual = now - st.balances.get(asset, ZERO) - expected
            held = st.pending.get(asset, ZERO)
            unexplained = held + residual
            if abs(unexplained) < tol:
                if held:
                    self._metrics.inc("cash_flows.pending_explained")
                    log.info("unexplained cash change explained by later fills", asset=asset, amount=str(held))
                st.pending.pop(asset, None)
                st.pending_after.pop(asset, None)
            elif held and abs(residual) < tol and settled:
                st.pending.pop(asset, None)
                after = st.pending_after.pop(asset, previous)
                transfers.append(Transfer(asset=asset, amount=unexplained, balance=now, at=at, after=after))
                self._metrics.inc("cash_flows.transfers")
            else:
                st.pending[asset] = unexplained
                st.pending_after.setdefault(asset, previous)
        self._fold(totals, at)
        return Observation(transfers=transfers, pending=dict(st.pending))

    def _funding_expected(self, positions: Iterable[Position], *, first: bool) -> dict[str, Decimal]:
        """Cash change per quote asset from funding since the last read (paid funding lowers cash)."""
        out: dict[str, Decimal] = {}
        seen = self._state.funding
        for pos in positions:
            product = self._products.get(pos.symbol)
            if product is None or not product.is_perpetual:
                continue
            paid = pos.funding_paid
            last = seen.get(pos.symbol)
            seen[pos.symbol] = paid
            if first or last is None:
                continue  # the count starts at the first read that lists the position
            delta = paid - last if paid >= last else paid  # a lower figure: the venue restarted its count
            if delta:
                out[product.quote_asset] = out.get(product.quote_asset, ZERO) - delta
        return out

    def _fold(self, totals: dict[str, Decimal], at: datetime) -> None:
        st = self._state
        st.balances = dict(totals)
        st.expected = {}
        st.accounted = []
        st.observed_at = at
        self._accounted.clear()
        self._persist()
