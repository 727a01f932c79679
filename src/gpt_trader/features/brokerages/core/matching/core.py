"""Engine state and read-only helpers (books, margin, fees) shared by the validation and execution mixins."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BookLevel,
    BookUpdate,
    Fill,
    InvalidOrderError,
    NotFoundError,
    Order,
    OrderSide,
    Product,
    StopDirection,
)
from gpt_trader.features.brokerages.core.matching.book import SymbolState
from gpt_trader.features.brokerages.core.matching.fees import FeeSchedule, FeeTier
from gpt_trader.features.brokerages.core.matching.ledger import (
    Account,
    PerpPosition,
    liquidation_price,
    unrealized_pnl,
)
from gpt_trader.features.brokerages.core.matching.types import (
    EngineEvent,
    LiquidationEvent,
)

ZERO = Decimal("0")
ONE = Decimal("1")
BUY = OrderSide.BUY
SELL = OrderSide.SELL

Listener = Callable[[EngineEvent], None]
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Working:
    """Engine-side state of one order; `order` is the public record (copied out, never handed out)."""

    order: Order
    account: Account
    state: SymbolState
    seq: int
    hold_asset: str
    hold_unit: Decimal
    hold: Decimal
    leverage: Decimal
    rest_price: Decimal | None = None
    in_book: bool = False
    quote_left: Decimal | None = None
    fills: list[Fill] = field(default_factory=list)


@dataclass(slots=True)
class _Prep:
    size: Decimal | None
    quote_size: Decimal | None
    leverage: Decimal
    hold_asset: str
    hold_unit: Decimal
    stop_direction: StopDirection | None
    work_price: Decimal | None  # highest-risk price the order can trade at (hold basis)


class _EngineCore:
    """State plus pure reads. The constructor documented on MatchingEngine lives here."""

    def __init__(
        self,
        products: Iterable[Product],
        *,
        fees: FeeSchedule | None = None,
        clock: Callable[[], datetime],
        seed: int = 0,
        bracket_stop_slippage: Decimal = Decimal("0.05"),
        default_funding_rate: Decimal = Decimal("0.00001"),
        book_events: bool = True,
    ) -> None:
        self._states: dict[str, SymbolState] = {}
        for product in products:
            self._states[product.symbol] = SymbolState(product=product, funding_rate=default_funding_rate)
        if not self._states:
            raise ValueError("MatchingEngine needs at least one product")
        self.fees = fees or FeeSchedule()
        self._clock = clock
        self._rng = random.Random(seed)
        self._seq = 0
        self._bracket_slip = bracket_stop_slippage
        self._book_events = book_events
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, _Working] = {}
        self._expiries: list[tuple[datetime, int, str]] = []
        self._listeners: list[Listener] = []
        self._touched: set[tuple[str, bool, Decimal]] = set()
        self._perp_states = [st for st in self._states.values() if st.product.is_perpetual]
        self._collateral = {s.product.quote_asset for s in self._states.values() if s.product.is_perpetual}
        self.liquidations: list[LiquidationEvent] = []
        self.listener_errors = 0

    def _equity(self, acct: Account) -> Decimal:
        cash = sum((acct.total(a) for a in self._collateral), ZERO) if self._collateral else acct.total("USD")
        return cash + self._upnl(acct)

    def _account(self, account_id: str) -> Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            if not account_id:
                raise ValueError("account_id must be a non-empty string")
            acct = Account.new(account_id, self.fees.window)
            self._accounts[account_id] = acct
        return acct

    def _state(self, symbol: str) -> SymbolState:
        st = self._states.get(symbol)
        if st is None:
            raise InvalidOrderError(
                f"unknown product_id {symbol!r}; known: {', '.join(sorted(self._states))}",
                reason="INVALID_PRODUCT_ID",
            )
        return st

    def _owned(self, account_id: str, order_id: str, *, reason: str) -> _Working:
        w = self._orders.get(order_id)
        if w is None or w.account.account_id != account_id:
            raise NotFoundError(f"order {order_id!r} not found for account {account_id!r}", reason=reason)
        return w

    def _tier(self, acct: Account, perpetual: bool) -> FeeTier:
        if isinstance(acct.fee_override, FeeTier):
            return acct.fee_override
        if self.fees.override is not None:
            return self.fees.override
        return self.fees.tier_for(acct.volume.total(self._clock()), perpetual=perpetual)

    def _upnl(self, acct: Account) -> Decimal:
        total = ZERO
        for symbol, pos in acct.perps.items():
            if pos.size:
                mark = self._states[symbol].mark or pos.entry_price
                total += unrealized_pnl(pos, mark)
        return total

    def _initial_margin(self, acct: Account) -> Decimal:
        total = ZERO
        for symbol, pos in acct.perps.items():
            if pos.size:
                mark = self._states[symbol].mark or pos.entry_price
                total += abs(pos.size) * mark / pos.leverage
        return total

    def _maintenance(self, acct: Account) -> Decimal:
        total = ZERO
        for symbol, pos in acct.perps.items():
            if pos.size:
                st = self._states[symbol]
                mark = st.mark or pos.entry_price
                total += abs(pos.size) * mark * st.product.maintenance_margin_rate
        return total

    def _available(self, acct: Account, asset: str) -> Decimal:
        if asset in self._collateral and acct.perps:
            avail = acct.total(asset) + self._upnl(acct) - acct.hold(asset) - self._initial_margin(acct)
        else:
            avail = acct.total(asset) - acct.hold(asset)
        return avail if avail > 0 else ZERO

    def _balance(self, acct: Account, asset: str) -> Balance:
        hold = acct.hold(asset)
        if asset in self._collateral and acct.perps:
            hold += self._initial_margin(acct)
        return Balance(asset=asset, total=acct.total(asset), available=self._available(acct, asset), hold=hold)

    def _liq_price(self, acct: Account, pos: PerpPosition) -> Decimal | None:
        st = self._states[pos.symbol]
        product = st.product
        cash = acct.total(product.quote_asset)
        others = ZERO
        for symbol, other in acct.perps.items():
            if symbol == pos.symbol or other.size == 0:
                continue
            ost = self._states[symbol]
            mark = ost.mark or other.entry_price
            others += unrealized_pnl(other, mark) - abs(other.size) * mark * ost.product.maintenance_margin_rate
        price = liquidation_price(pos, product.maintenance_margin_rate, cash + others)
        if price is None:
            return None
        return price.quantize(product.price_increment, rounding=ROUND_HALF_EVEN)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @staticmethod
    def _snap(order: Order) -> Order:
        return msgspec.structs.replace(order)

    @staticmethod
    def _next_boundary(now: datetime, interval_s: int) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        elapsed = int((now - epoch).total_seconds())
        return epoch + timedelta(seconds=(elapsed // interval_s + 1) * interval_s)

    def _finish(self, ev: list[EngineEvent], now: datetime) -> list[EngineEvent]:
        if self._touched:
            if self._book_events:
                for symbol, is_bid, price in sorted(self._touched, key=lambda t: (t[0], t[1], t[2])):
                    st = self._states[symbol]
                    ev.append(
                        BookUpdate(
                            symbol=symbol,
                            side=BUY if is_bid else SELL,
                            price=price,
                            size=self._level_size(st, is_bid, price),
                            ts=now,
                        )
                    )
            self._touched.clear()
        for event in ev:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # a broken subscriber must not corrupt the book mid-stream
                    self.listener_errors += 1
                    _log.exception("matching engine listener failed on %s", type(event).__name__)
        return ev

    def _iter_liquidity(
        self, st: SymbolState, taker_side: OrderSide
    ) -> Iterator[tuple[Decimal, Decimal, _Working | None, list[Decimal] | None]]:
        """(price, size, resting order or None, external level or None) in priority order."""
        if taker_side is BUY:
            ext, usr = st.ext_asks, st.user_asks
        else:
            ext, usr = st.ext_bids, st.user_bids
        ei = 0
        usr_px = usr.best()
        buy = taker_side is BUY
        while True:
            while ei < len(ext) and ext[ei][1] <= 0:
                ei += 1
            ext_px = ext[ei][0] if ei < len(ext) else None
            if ext_px is None and usr_px is None:
                return
            if usr_px is not None and (ext_px is None or usr_px == ext_px or ((usr_px < ext_px) == buy)):
                for oid in list(usr.levels.get(usr_px, ())):
                    rw = self._orders[oid]
                    yield usr_px, rw.order.remaining_size, rw, None
                usr_px = usr.next_after(usr_px)  # O(log n), safe while levels empty out
            else:
                lvl = ext[ei]
                yield lvl[0], lvl[1], None, lvl
                ei += 1

    def _plan(
        self,
        st: SymbolState,
        side: OrderSide,
        limit: Decimal | None,
        account_id: str,
        size: Decimal | None,
        quote: Decimal | None,
    ) -> list[tuple[Decimal, Decimal]]:
        """Dry run of a taker walk: (price, size) slices, without touching state."""
        out: list[tuple[Decimal, Decimal]] = []
        inc = st.product.base_increment
        want = size
        budget = quote
        for px, avail, rw, _ in self._iter_liquidity(st, side):
            if limit is not None and (px > limit if side is BUY else px < limit):
                break
            if rw is not None and rw.account.account_id == account_id:
                break
            if budget is not None:
                cap = (budget / px / inc).to_integral_value(rounding=ROUND_FLOOR) * inc
            else:
                assert want is not None
                cap = want
            take = min(cap, avail)
            if take <= 0:
                break
            out.append((px, take))
            if budget is not None:
                budget -= px * take
            else:
                assert want is not None
                want -= take
                if want <= 0:
                    break
        return out

    def _self_trade_ahead(
        self, st: SymbolState, side: OrderSide, limit: Decimal, account: Account, size: Decimal
    ) -> bool:
        """Would a taker of `size` up to `limit` reach one of the account's own resting orders?"""
        want = size
        for px, avail, rw, _ in self._iter_liquidity(st, side):
            if px > limit if side is BUY else px < limit:
                return False
            if rw is not None and rw.account is account:
                return True
            want -= avail
            if want <= 0:
                return False
        return False

    def _merged(self, st: SymbolState, is_bid: bool, depth: int) -> list[BookLevel]:
        sizes: dict[Decimal, Decimal] = {}
        for price, size in st.ext_bids if is_bid else st.ext_asks:
            if size > 0:
                sizes[price] = sizes.get(price, ZERO) + size
        user = st.user_bids if is_bid else st.user_asks
        for i, price in enumerate(user.prices_best_first()):
            if i >= depth:
                break
            total = sum((self._orders[oid].order.remaining_size for oid in user.levels[price]), ZERO)
            if total > 0:
                sizes[price] = sizes.get(price, ZERO) + total
        prices = sorted(sizes, reverse=is_bid)[:depth]
        return [BookLevel(p, sizes[p]) for p in prices]

    def _level_size(self, st: SymbolState, is_bid: bool, price: Decimal) -> Decimal:
        total = st.ext_size_at(is_bid, price)
        user = st.user_bids if is_bid else st.user_asks
        for oid in user.levels.get(price, ()):
            total += self._orders[oid].order.remaining_size
        return total

    @staticmethod
    def _check_leverage(product: Product, leverage: Decimal) -> None:
        if leverage <= 0 or leverage > product.max_leverage:
            raise InvalidOrderError(
                f"leverage {leverage} for {product.symbol} must be in (0, {product.max_leverage}]",
                reason="INVALID_LEVERAGE",
            )

    def _increases(self, acct: Account, product: Product, side: OrderSide, size: Decimal) -> bool:
        if not product.is_perpetual:
            return side is BUY
        pos = acct.perp_size(product.symbol)
        return pos == 0 or (pos > 0) == (side is BUY) or size > abs(pos)

    def _hold_unit(
        self,
        acct: Account,
        product: Product,
        side: OrderSide,
        price: Decimal,
        leverage: Decimal,
        reduce_only: bool,
        *,
        increases: bool = True,
    ) -> Decimal:
        rate = self._tier(acct, product.is_perpetual).taker_fee_rate
        if product.is_perpetual:
            fee_part = price * rate
            return fee_part if (reduce_only or not increases) else price / leverage + fee_part
        return price * (ONE + rate) if side is BUY else ONE

    def _bracket_stop_price(self, product: Product, side: OrderSide, trigger: Decimal) -> Decimal:
        """Protective limit for a triggered bracket stop: `bracket_stop_slippage` through the trigger."""
        inc = product.price_increment
        if side is SELL:
            raw = trigger * (ONE - self._bracket_slip)
            price = (raw / inc).to_integral_value(rounding=ROUND_CEILING) * inc
            return max(price, inc)
        raw = trigger * (ONE + self._bracket_slip)
        return (raw / inc).to_integral_value(rounding=ROUND_FLOOR) * inc

    def _min_step_cost(self, st: SymbolState) -> Decimal:
        best = st.best_ask() or st.reference or ZERO
        return best * st.product.base_increment
