"""MatchingEngine: the one fill model behind the mock broker, the exchange simulator and backtest replay.

Liquidity is the external book (synthetic or replayed, replaced by each `set_book`) merged with resting
user orders in price-time priority; at one price resting user orders go first. Takers walk that merged
book level by level. Resting user orders that a new external book crosses fill as MAKER at their own
price. Time comes only from the injected clock; ids come from a seeded RNG, so a run is reproducible.
"""

from __future__ import annotations

import heapq
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
    InsufficientFundsError,
    InvalidOrderError,
    Liquidity,
    MarginType,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Product,
    ProductType,
    StopDirection,
    TimeInForce,
    TradeTick,
)
from gpt_trader.features.brokerages.core.matching.book import SymbolState, UserSide
from gpt_trader.features.brokerages.core.matching.fees import FeeSchedule, FeeTier, compute_fee
from gpt_trader.features.brokerages.core.matching.ledger import (
    Account,
    PerpPosition,
    liquidation_price,
    unrealized_pnl,
)
from gpt_trader.features.brokerages.core.matching.types import (
    EngineEvent,
    FundingEvent,
    LiquidationEvent,
    Preview,
    SubmitResult,
)
from gpt_trader.features.brokerages.core.quantization import check_min_size, is_multiple

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
    notional: Decimal = ZERO
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


class MatchingEngine:
    """Price-time-priority matching with balances, holds, fees, stops, brackets and perpetuals.

    Not thread-safe: callers serialize access (the simulator runs it on one event loop).
    """

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
        self._collateral = {s.product.quote_asset for s in self._states.values() if s.product.is_perpetual}
        self.liquidations: list[LiquidationEvent] = []
        self.listener_errors = 0

    # ================================================================== setup
    @property
    def products(self) -> dict[str, Product]:
        return {sym: st.product for sym, st in self._states.items()}

    def product(self, symbol: str) -> Product:
        return self._state(symbol).product

    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def fund(self, account_id: str, asset: str, amount: Decimal) -> Balance:
        """Deposit (or, negative, withdraw) an asset. Deposited base enters the cost basis at the mark."""
        acct = self._account(account_id)
        if amount < 0 and self._available(acct, asset) < -amount:
            raise InsufficientFundsError(
                f"withdraw {-amount} {asset} exceeds available {self._available(acct, asset)}",
                reason="INSUFFICIENT_FUND",
            )
        acct.credit(asset, amount)
        if amount > 0:
            for st in self._states.values():
                if st.product.base_asset == asset and not st.product.is_perpetual:
                    acct.spot_buy(asset, amount, st.mark or ZERO)
                    break
        return self._balance(acct, asset)

    def set_leverage(self, account_id: str, symbol: str, leverage: Decimal) -> None:
        product = self._state(symbol).product
        self._check_leverage(product, leverage)
        self._account(account_id).leverage[symbol] = leverage

    def set_fee_tier(self, account_id: str, tier: FeeTier | None) -> None:
        """Pin an account's tier (None returns it to volume-based pricing)."""
        self._account(account_id).fee_override = tier

    def fee_tier(self, account_id: str, *, perpetual: bool = False) -> FeeTier:
        return self._tier(self._account(account_id), perpetual)

    def thirty_day_volume(self, account_id: str) -> Decimal:
        return self._account(account_id).volume.total(self._clock())

    def set_funding_rate(self, symbol: str, rate: Decimal) -> None:
        st = self._state(symbol)
        if not st.product.is_perpetual:
            raise ValueError(f"{symbol} is not a perpetual; funding applies to PERPETUAL products only")
        st.funding_rate = rate

    def funding_rate(self, symbol: str) -> Decimal:
        return self._state(symbol).funding_rate

    def next_funding_time(self, symbol: str) -> datetime | None:
        return self._state(symbol).next_funding

    def account_of(self, order_id: str) -> str:
        w = self._orders.get(order_id)
        if w is None:
            raise NotFoundError(f"unknown order_id {order_id!r}", reason="ORDER_NOT_FOUND")
        return w.account.account_id

    def accounts(self) -> list[str]:
        return list(self._accounts)

    # ================================================================== market data in
    def set_book(
        self, symbol: str, bids: Iterable[BookLevel], asks: Iterable[BookLevel], ts: datetime | None = None
    ) -> list[EngineEvent]:
        """Replace external liquidity; fill crossed resting orders as MAKER; fire stops."""
        st = self._state(symbol)
        now = ts or self._clock()
        old_bids = {p: s for p, s in st.ext_bids} if self._book_events else None
        old_asks = {p: s for p, s in st.ext_asks} if self._book_events else None
        st.ext_bids = sorted(
            ([lvl.price, lvl.size] for lvl in bids if lvl.size > 0), key=lambda x: x[0], reverse=True
        )
        st.ext_asks = sorted(([lvl.price, lvl.size] for lvl in asks if lvl.size > 0), key=lambda x: x[0])
        st.book_ts = now
        if st.ext_bids and st.ext_asks:
            st.mid = (st.ext_bids[0][0] + st.ext_asks[0][0]) / 2
        elif st.ext_bids or st.ext_asks:
            st.mid = (st.ext_bids or st.ext_asks)[0][0]
        if st.product.is_perpetual and st.next_funding is None:
            st.next_funding = self._next_boundary(now, st.product.funding_interval_s or 3600)
        ev: list[EngineEvent] = []
        lo, hi = self._cross_resting(st, now, ev)
        ref = st.mid
        if ref is not None:
            lo = ref if lo is None else min(lo, ref)
            hi = ref if hi is None else max(hi, ref)
        if lo is not None and hi is not None:
            self._check_triggers(st, lo, hi, now, ev)
        if old_bids is not None and old_asks is not None:
            for old, new, is_bid in ((old_bids, st.ext_bids, True), (old_asks, st.ext_asks, False)):
                new_map = {p: s for p, s in new}
                for price in old.keys() | new_map.keys():
                    if old.get(price) != new_map.get(price):
                        self._touched.add((symbol, is_bid, price))
        return self._finish(ev, now)

    def set_mark(self, symbol: str, price: Decimal | None) -> list[EngineEvent]:
        """Pin the perps mark (None: follow the mid again); checks liquidations at the new mark."""
        st = self._state(symbol)
        st.mark_override = price
        ev: list[EngineEvent] = []
        now = self._clock()
        self._check_liquidations(now, ev)
        return self._finish(ev, now)

    def record_trade(self, symbol: str, price: Decimal, ts: datetime | None = None) -> list[EngineEvent]:
        """An external print: updates the last price and fires stops it crosses."""
        st = self._state(symbol)
        now = ts or self._clock()
        st.last = price
        ev: list[EngineEvent] = []
        self._check_triggers(st, price, price, now, ev)
        return self._finish(ev, now)

    def needs_ticks(self, symbol: str) -> bool:
        """True when intermediate books matter: resting/stop orders or an open perps position."""
        st = self._state(symbol)
        if st.user_bids.prices or st.user_asks.prices or st.stops or st.brackets:
            return True
        if st.product.is_perpetual:
            return any(a.perp_size(symbol) != 0 for a in self._accounts.values())
        return False

    def mid(self, symbol: str) -> Decimal | None:
        return self._state(symbol).mid

    def mark(self, symbol: str) -> Decimal | None:
        return self._state(symbol).mark

    def last_price(self, symbol: str) -> Decimal | None:
        return self._state(symbol).last

    # ================================================================== orders
    def submit(self, account_id: str, request: OrderRequest) -> SubmitResult:
        acct = self._account(account_id)
        coid = request.client_order_id
        if coid and coid in acct.client_ids:
            existing = self._orders[acct.client_ids[coid]]
            return SubmitResult(order=self._snap(existing.order), duplicate=True)
        st = self._state(request.symbol)
        now = self._clock()
        prep = self._prepare(acct, st, request, now)
        w = self._create(acct, st, request, prep, now)
        ev: list[EngineEvent] = []
        order = w.order
        if request.order_type is OrderType.STOP_LIMIT:
            order.transition(OrderStatus.OPEN, at=now)
            st.stops.append(order.order_id)
            ev.append(OrderUpdate(order=self._snap(order), ts=now))
        else:
            self._run_taker(w, now, ev)
            if request.order_type is OrderType.BRACKET and not order.is_terminal:
                st.brackets.append(order.order_id)
        if w.fills or request.order_type is OrderType.BRACKET:
            prices = [f.price for f in w.fills] or [p for p in (st.reference,) if p is not None]
            if prices:
                self._check_triggers(st, min(prices), max(prices), now, ev)
        events = self._finish(ev, now)
        return SubmitResult(order=self._snap(order), fills=list(w.fills), events=events)

    def preview(self, account_id: str, request: OrderRequest) -> Preview:
        acct = self._account(account_id)
        errors: list[str] = []
        st = self._states.get(request.symbol)
        if st is None:
            return Preview(
                symbol=request.symbol,
                side=request.side,
                base_size=ZERO,
                quote_size=ZERO,
                avg_price=None,
                fee=ZERO,
                total=ZERO,
                slippage=ZERO,
                best_bid=None,
                best_ask=None,
                errors=["INVALID_PRODUCT_ID"],
            )
        try:
            self._prepare(acct, st, request, self._clock())
        except (InvalidOrderError, InsufficientFundsError) as exc:
            errors.append(exc.reason)
        product = st.product
        limit = request.limit_price if request.order_type is not OrderType.MARKET else None
        if request.order_type is OrderType.STOP_LIMIT:
            plan: list[tuple[Decimal, Decimal]] = []
        else:
            plan = self._plan(st, request.side, limit, acct.account_id, request.size, request.quote_size)
        taken = sum((s for _, s in plan), ZERO)
        notional = sum((p * s for p, s in plan), ZERO)
        tier = self._tier(acct, product.is_perpetual)
        fee = compute_fee(notional, tier.taker_fee_rate, product.quote_increment)
        base = taken
        if request.size is not None and limit is not None and taken < request.size:
            resting = request.size - taken
            base += resting
            rest_notional = resting * limit
            notional += rest_notional
            fee += compute_fee(rest_notional, tier.maker_fee_rate, product.quote_increment)
        best = st.best_ask() if request.side is BUY else st.best_bid()
        avg = (notional / base) if base > 0 else None
        slippage = ZERO
        if plan and best:
            imm_avg = sum((p * s for p, s in plan), ZERO) / taken
            slippage = abs(imm_avg - best) / best
        notional_q = notional.quantize(product.quote_increment, rounding=ROUND_HALF_EVEN)
        total = notional_q + fee if request.side is BUY else notional_q - fee
        if request.order_type is OrderType.MARKET and not plan and "INVALID_NO_LIQUIDITY" not in errors:
            errors.append("INVALID_NO_LIQUIDITY")
        return Preview(
            symbol=request.symbol,
            side=request.side,
            base_size=base,
            quote_size=notional_q,
            avg_price=avg,
            fee=fee,
            total=total,
            slippage=slippage,
            best_bid=st.best_bid(),
            best_ask=st.best_ask(),
            errors=errors,
        )

    def cancel(self, account_id: str, order_id: str) -> Order:
        w = self._owned(account_id, order_id, reason="UNKNOWN_CANCEL_ORDER")
        order = w.order
        if order.is_terminal:
            reason = (
                "ORDER_IS_FULLY_FILLED" if order.status is OrderStatus.FILLED else "DUPLICATE_CANCEL_REQUEST"
            )
            raise InvalidOrderError(f"order {order_id} is already {order.status.value}", reason=reason)
        now = self._clock()
        order.transition(OrderStatus.PENDING_CANCEL, at=now)
        ev: list[EngineEvent] = []
        self._terminate(w, OrderStatus.CANCELLED, now, ev)
        self._finish(ev, now)
        return self._snap(order)

    def edit(
        self, account_id: str, order_id: str, size: Decimal | None = None, price: Decimal | None = None
    ) -> Order:
        """Amend a resting GTC limit. Priority is kept only when the price is unchanged and size shrinks."""
        w = self._owned(account_id, order_id, reason="ORDER_NOT_FOUND")
        order = w.order
        product = w.state.product
        if order.order_type is not OrderType.LIMIT or order.time_in_force is not TimeInForce.GTC:
            raise InvalidOrderError(
                f"only GTC limit orders can be edited, {order_id} is "
                f"{order.order_type.value}/{order.time_in_force.value}",
                reason="UNSUPPORTED_ORDER_CONFIGURATION",
            )
        if not order.status.is_working or order.status in (
            OrderStatus.PENDING_CANCEL,
            OrderStatus.PENDING_AMEND,
        ):
            raise InvalidOrderError(
                f"order {order_id} is {order.status.value}, not editable",
                reason="ORDER_IS_FULLY_FILLED"
                if order.status is OrderStatus.FILLED
                else "INVALID_ORDER_STATE",
            )
        if size is None and price is None:
            raise InvalidOrderError("edit needs size or price", reason="INVALID_REQUEST")
        new_price = price if price is not None else order.limit_price
        new_size = size if size is not None else order.size
        assert new_price is not None
        if new_price <= 0:
            raise InvalidOrderError(f"price must be > 0, got {new_price}", reason="INVALID_LIMIT_PRICE")
        if not is_multiple(new_price, product.price_increment):
            raise InvalidOrderError(
                f"price {new_price} is not a multiple of {product.price_increment}",
                reason="INVALID_PRICE_PRECISION",
            )
        if not is_multiple(new_size, product.base_increment):
            raise InvalidOrderError(
                f"size {new_size} is not a multiple of {product.base_increment}",
                reason="INVALID_SIZE_PRECISION",
            )
        if new_size <= order.filled_size:
            raise InvalidOrderError(
                f"new size {new_size} must exceed filled size {order.filled_size}", reason="INVALID_SIZE"
            )
        check_min_size(new_size, new_price, product)
        st = w.state
        if order.post_only:
            best = st.best_ask() if order.side is BUY else st.best_bid()
            if best is not None and (new_price >= best if order.side is BUY else new_price <= best):
                raise InvalidOrderError(
                    f"post-only price {new_price} would cross {best}", reason="INVALID_LIMIT_PRICE_POST_ONLY"
                )
        now = self._clock()
        prior = order.status
        order.transition(OrderStatus.PENDING_AMEND, at=now)
        new_unit = self._hold_unit(w.account, product, order.side, new_price, w.leverage, order.reduce_only)
        new_hold = (new_size - order.filled_size) * new_unit
        extra = new_hold - w.hold
        if extra > 0 and self._available(w.account, w.hold_asset) < extra:
            order.transition(prior, at=now)
            raise InsufficientFundsError(
                f"edit needs {extra} more {w.hold_asset}", reason="INSUFFICIENT_FUND"
            )
        if new_price != order.limit_price and self._self_trade_ahead(
            st, order.side, new_price, w.account, new_size - order.filled_size
        ):
            order.transition(prior, at=now)
            raise InvalidOrderError(
                f"edit to {new_price} would trade against the account's own resting order",
                reason="SELF_TRADE_PREVENTION",
            )
        lose_priority = new_price != order.limit_price or new_size > order.size
        if w.in_book and lose_priority:
            self._unbook(w)
        w.account.release_hold(w.hold_asset, w.hold)
        w.account.add_hold(w.hold_asset, new_hold)
        w.hold, w.hold_unit = new_hold, new_unit
        order.size = new_size
        order.limit_price = new_price
        order.transition(prior, at=now)
        ev: list[EngineEvent] = []
        if lose_priority:
            self._touched.add((st.product.symbol, order.side is BUY, new_price))
            w.rest_price = new_price
            self._seq += 1
            w.seq = self._seq
            fills_before = len(w.fills)
            self._walk(w, new_price, now, ev)
            if order.remaining_size > 0 and not order.is_terminal:
                self._book(w)
            elif order.remaining_size == 0:
                self._release(w)
            if len(w.fills) > fills_before:
                ev.append(OrderUpdate(order=self._snap(order), fills=tuple(w.fills[fills_before:]), ts=now))
        else:
            self._touched.add((st.product.symbol, order.side is BUY, new_price))
        ev.append(OrderUpdate(order=self._snap(order), ts=now))
        self._finish(ev, now)
        return self._snap(order)

    def close_position(
        self, account_id: str, symbol: str, size: Decimal | None = None, client_order_id: str = ""
    ) -> SubmitResult:
        """Market-close (reduce-only for perps; sell held base for spot)."""
        acct = self._account(account_id)
        st = self._state(symbol)
        product = st.product
        if product.is_perpetual:
            current = acct.perp_size(symbol)
            if current == 0:
                raise InvalidOrderError(f"no open position in {symbol}", reason="NO_POSITION")
            side = SELL if current > 0 else BUY
            qty = abs(current) if size is None else min(size, abs(current))
        else:
            held = self._available(acct, product.base_asset)
            if held <= 0:
                raise InvalidOrderError(
                    f"no {product.base_asset} held to close {symbol}", reason="NO_POSITION"
                )
            side = SELL
            qty = held if size is None else min(size, held)
        qty = (qty / product.base_increment).to_integral_value(rounding=ROUND_FLOOR) * product.base_increment
        request = OrderRequest(
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET,
            size=qty,
            time_in_force=TimeInForce.IOC,
            reduce_only=product.is_perpetual,
            client_order_id=client_order_id,
        )
        return self.submit(account_id, request)

    # ================================================================== queries
    def get_order(self, account_id: str, order_id: str) -> Order:
        return self._snap(self._owned(account_id, order_id, reason="ORDER_NOT_FOUND").order)

    def find_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        acct = self._account(account_id)
        oid = acct.client_ids.get(client_order_id)
        return self._snap(self._orders[oid].order) if oid else None

    def list_orders(
        self, account_id: str, symbol: str | None = None, *, open_only: bool = True
    ) -> list[Order]:
        """Newest first, as Coinbase lists them."""
        out: list[Order] = []
        acct = self._account(account_id)
        if open_only:
            for oid in [o for o in acct.open_ids if self._orders[o].order.is_terminal]:
                del acct.open_ids[oid]
        for oid in reversed(list(acct.open_ids) if open_only else acct.order_ids):
            order = self._orders[oid].order
            if symbol is not None and order.symbol != symbol:
                continue
            if open_only and order.is_terminal:
                continue
            out.append(self._snap(order))
        return out

    def list_fills(
        self,
        account_id: str,
        symbol: str | None = None,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Oldest first; `since` is inclusive (callers de-duplicate by trade_id)."""
        return [
            f
            for f in self._account(account_id).fills
            if (symbol is None or f.symbol == symbol)
            and (order_id is None or f.order_id == order_id)
            and (since is None or f.ts >= since)
        ]

    def order_hold(self, account_id: str, order_id: str) -> Decimal:
        """What an order still reserves (Coinbase `outstanding_hold_amount`), in its hold asset."""
        return self._owned(account_id, order_id, reason="ORDER_NOT_FOUND").hold

    def balances(self, account_id: str) -> list[Balance]:
        acct = self._account(account_id)
        assets = sorted(acct.totals.keys() | acct.holds.keys())
        return [self._balance(acct, a) for a in assets]

    def balance(self, account_id: str, asset: str) -> Balance:
        return self._balance(self._account(account_id), asset)

    def equity(self, account_id: str) -> Decimal:
        """Collateral cash plus unrealized perps PnL (spot holdings not included)."""
        acct = self._account(account_id)
        cash = sum((acct.total(a) for a in self._collateral), ZERO) if self._collateral else acct.total("USD")
        return cash + self._upnl(acct)

    def positions(self, account_id: str) -> list[Position]:
        acct = self._account(account_id)
        out: list[Position] = []
        for symbol, pos in acct.perps.items():
            if pos.size == 0:
                continue
            st = self._states[symbol]
            mark = st.mark or pos.entry_price
            out.append(
                Position(
                    symbol=symbol,
                    product_type=ProductType.PERPETUAL,
                    size=pos.size,
                    entry_price=pos.entry_price,
                    mark_price=mark,
                    realized_pnl=pos.realized_pnl,
                    unrealized_pnl=unrealized_pnl(pos, mark),
                    funding_paid=pos.funding_paid,
                    liquidation_price=self._liq_price(acct, pos),
                    leverage=pos.leverage,
                    margin_type=MarginType.CROSS,
                )
            )
        seen: set[str] = set()
        for symbol, st in self._states.items():
            product = st.product
            if product.is_perpetual or product.base_asset in seen:
                continue
            held = acct.total(product.base_asset)
            if held <= 0:
                continue
            seen.add(product.base_asset)
            cost = acct.spot_cost.get(product.base_asset)
            entry = cost.avg_price if cost else ZERO
            mark = st.mark or entry
            out.append(
                Position(
                    symbol=symbol,
                    product_type=ProductType.SPOT,
                    size=held,
                    entry_price=entry,
                    mark_price=mark,
                    realized_pnl=cost.realized_pnl if cost else ZERO,
                    unrealized_pnl=held * (mark - entry) if entry else ZERO,
                )
            )
        return out

    def book(self, symbol: str, depth: int = 50) -> OrderBook:
        st = self._state(symbol)
        bids = self._merged(st, True, depth)
        asks = self._merged(st, False, depth)
        return OrderBook(symbol=symbol, bids=tuple(bids), asks=tuple(asks), ts=st.book_ts or self._clock())

    # ================================================================== time
    def advance(self, now: datetime | None = None) -> list[EngineEvent]:
        """Expire GTD orders, settle funding at each interval boundary up to `now`, liquidate."""
        now = now or self._clock()
        ev: list[EngineEvent] = []
        while self._expiries and self._expiries[0][0] <= now:
            end, _, oid = heapq.heappop(self._expiries)
            w = self._orders[oid]
            if not w.order.is_terminal:
                self._terminate(w, OrderStatus.EXPIRED, end, ev)
        for st in self._states.values():
            product = st.product
            if not product.is_perpetual:
                continue
            interval = product.funding_interval_s or 3600
            if st.next_funding is None:
                st.next_funding = self._next_boundary(now, interval)
                continue
            while st.next_funding <= now:
                self._settle_funding(st, st.next_funding, ev)
                st.next_funding = st.next_funding + timedelta(seconds=interval)
        self._check_liquidations(now, ev)
        return self._finish(ev, now)

    # ================================================================== internals: validation
    def _prepare(self, acct: Account, st: SymbolState, request: OrderRequest, now: datetime) -> _Prep:
        product = st.product
        symbol = product.symbol
        if product.trading_disabled:
            raise InvalidOrderError(f"{symbol} trading is disabled", reason="UNTRADABLE_PRODUCT")
        if product.cancel_only:
            raise InvalidOrderError(f"{symbol} is cancel-only", reason="ORDER_ENTRY_DISABLED")
        if product.limit_only and request.order_type is OrderType.MARKET:
            raise InvalidOrderError(f"{symbol} is limit-only", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        if product.post_only and request.order_type is OrderType.LIMIT and not request.post_only:
            raise InvalidOrderError(f"{symbol} is post-only", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        request.validate()
        otype = request.order_type
        if otype is OrderType.BRACKET and request.quote_size is not None:
            raise InvalidOrderError(
                "brackets take size, not quote_size", reason="QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET"
            )
        if otype is OrderType.STOP_LIMIT and request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            raise InvalidOrderError(
                "stop-limit orders are GTC or GTD", reason="UNSUPPORTED_ORDER_CONFIGURATION"
            )
        if otype is OrderType.BRACKET and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            raise InvalidOrderError("brackets are GTC or GTD", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        if request.size is not None and not is_multiple(request.size, product.base_increment):
            raise InvalidOrderError(
                f"size {request.size} is not a multiple of base_increment {product.base_increment}",
                reason="INVALID_SIZE_PRECISION",
            )
        if request.quote_size is not None and not is_multiple(request.quote_size, product.quote_increment):
            raise InvalidOrderError(
                f"quote_size {request.quote_size} is not a multiple of quote_increment "
                f"{product.quote_increment}",
                reason="INVALID_SIZE_PRECISION",
            )
        for name in ("limit_price", "stop_price", "stop_trigger_price"):
            value = getattr(request, name)
            if value is not None and not is_multiple(value, product.price_increment):
                raise InvalidOrderError(
                    f"{name} {value} is not a multiple of price_increment {product.price_increment}",
                    reason="INVALID_PRICE_PRECISION",
                )
        if request.end_time is not None and request.end_time.tzinfo is None:
            raise InvalidOrderError(
                f"end_time {request.end_time.isoformat()} must be timezone-aware UTC",
                reason="INVALID_END_TIME",
            )
        if (
            request.time_in_force is TimeInForce.GTD
            and request.end_time is not None
            and request.end_time <= now
        ):
            raise InvalidOrderError(
                f"end_time {request.end_time.isoformat()} is not in the future", reason="INVALID_END_TIME"
            )
        ref = st.reference
        side = request.side
        stop_dir = request.stop_direction
        if otype is OrderType.STOP_LIMIT:
            assert request.stop_price is not None
            if stop_dir is None:
                if ref is None:
                    raise InvalidOrderError(
                        "stop_direction is required when the market has no price",
                        reason="INVALID_STOP_DIRECTION",
                    )
                stop_dir = StopDirection.STOP_UP if request.stop_price > ref else StopDirection.STOP_DOWN
            if ref is not None:
                if stop_dir is StopDirection.STOP_UP and request.stop_price <= ref:
                    raise InvalidOrderError(
                        f"STOP_UP stop_price {request.stop_price} must be above {ref}",
                        reason="STOP_PRICE_BELOW_LAST_TRADE_PRICE",
                    )
                if stop_dir is StopDirection.STOP_DOWN and request.stop_price >= ref:
                    raise InvalidOrderError(
                        f"STOP_DOWN stop_price {request.stop_price} must be below {ref}",
                        reason="STOP_PRICE_ABOVE_LAST_TRADE_PRICE",
                    )
        work_price: Decimal | None = request.limit_price
        if otype is OrderType.BRACKET:
            assert request.limit_price is not None and request.stop_trigger_price is not None
            stp = request.stop_trigger_price
            if (side is SELL and stp >= request.limit_price) or (side is BUY and stp <= request.limit_price):
                raise InvalidOrderError(
                    f"{side.value} bracket needs stop_trigger_price {'<' if side is SELL else '>'} "
                    "limit_price "
                    f"(got {stp} vs {request.limit_price})",
                    reason="INVALID_BRACKET_PRICES",
                )
            if side is BUY:
                work_price = max(request.limit_price, self._bracket_stop_price(product, side, stp))
            if product.is_perpetual and request.size is not None:
                pos = acct.perp_size(symbol)
                if pos == 0 or (pos > 0) == (side is BUY) or request.size > abs(pos):
                    raise InvalidOrderError(
                        f"a {symbol} bracket is an exit: it must reduce the position ({pos}), "
                        "not open or flip it",
                        reason="NO_POSITION" if pos == 0 else "INVALID_REDUCE_ONLY",
                    )
        notional_price = work_price if work_price is not None else ref
        if request.size is not None:
            check_min_size(request.size, notional_price, product)
        elif request.quote_size is not None:
            if request.quote_size < product.quote_min_size:
                raise InvalidOrderError(
                    f"quote_size {request.quote_size} is below quote_min_size {product.quote_min_size}",
                    reason="BELOW_MIN_NOTIONAL",
                )
            if request.side is not BUY:
                raise InvalidOrderError("quote_size is only supported on market BUY", reason="INVALID_SIZE")
        leverage = ONE
        if product.is_perpetual:
            leverage = request.leverage or acct.leverage.get(symbol, ONE)
            self._check_leverage(product, leverage)
        elif request.leverage is not None and request.leverage != ONE:
            raise InvalidOrderError(
                f"leverage is not available on spot product {symbol}", reason="INVALID_LEVERAGE"
            )
        size = request.size
        if request.reduce_only:
            if product.is_perpetual:
                pos = acct.perp_size(symbol)
                if pos == 0 or (pos > 0) == (side is BUY):
                    raise InvalidOrderError(
                        f"reduce-only {side.value} would increase the {symbol} position ({pos})",
                        reason="INVALID_REDUCE_ONLY",
                    )
                if size is not None and size > abs(pos):
                    raise InvalidOrderError(
                        f"reduce-only size {size} exceeds the {symbol} position {abs(pos)}",
                        reason="INVALID_REDUCE_ONLY",
                    )
            elif side is BUY:
                raise InvalidOrderError(
                    f"reduce-only BUY would increase spot {symbol}", reason="INVALID_REDUCE_ONLY"
                )
        hold_asset = product.quote_asset if (product.is_perpetual or side is BUY) else product.base_asset
        if otype is OrderType.MARKET:
            self._precheck_market(acct, st, request, leverage)
            return _Prep(size, request.quote_size, leverage, hold_asset, ZERO, stop_dir, None)
        assert size is not None and work_price is not None
        unit = self._hold_unit(
            acct,
            product,
            side,
            work_price,
            leverage,
            request.reduce_only,
            increases=self._increases(acct, product, side, size),
        )
        need = size * unit
        avail = self._available(acct, hold_asset)
        if need > avail:
            raise InsufficientFundsError(
                f"{symbol} {side.value} needs {need} {hold_asset}, available {avail}",
                reason="INSUFFICIENT_FUND",
            )
        if request.post_only:
            best = st.best_ask() if side is BUY else st.best_bid()
            if best is not None and (work_price >= best if side is BUY else work_price <= best):
                raise InvalidOrderError(
                    f"post-only {side.value} at {work_price} would cross the book at {best}",
                    reason="INVALID_LIMIT_PRICE_POST_ONLY",
                )
        return _Prep(size, None, leverage, hold_asset, unit, stop_dir, work_price)

    def _precheck_market(
        self, acct: Account, st: SymbolState, request: OrderRequest, leverage: Decimal
    ) -> None:
        product = st.product
        side = request.side
        plan = self._plan(st, side, None, acct.account_id, request.size, request.quote_size)
        if not plan:
            raise InvalidOrderError(
                f"no liquidity to fill a market {side.value} on {product.symbol}",
                reason="INVALID_NO_LIQUIDITY",
            )
        notional = sum((p * s for p, s in plan), ZERO)
        size = sum((s for _, s in plan), ZERO)
        rate = self._tier(acct, product.is_perpetual).taker_fee_rate
        if product.is_perpetual:
            if not self._increases(acct, product, side, size):
                return
            need = notional / leverage + notional * rate
            asset = product.quote_asset
        elif side is BUY:
            spend = request.quote_size if request.quote_size is not None else notional
            need = spend * (ONE + rate)
            asset = product.quote_asset
        else:
            need = request.size or ZERO
            asset = product.base_asset
        avail = self._available(acct, asset)
        if need > avail:
            raise InsufficientFundsError(
                f"market {side.value} {product.symbol} needs ~{need} {asset}, available {avail}",
                reason="INSUFFICIENT_FUND",
            )

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

    # ================================================================== internals: order flow
    def _create(
        self, acct: Account, st: SymbolState, request: OrderRequest, prep: _Prep, now: datetime
    ) -> _Working:
        order_id = self._new_id()
        coid = request.client_order_id or self._new_id()
        product = st.product
        order = Order(
            order_id=order_id,
            client_order_id=coid,
            symbol=product.symbol,
            side=request.side,
            order_type=request.order_type,
            size=prep.size if prep.size is not None else ZERO,
            time_in_force=request.time_in_force,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            stop_direction=prep.stop_direction,
            stop_trigger_price=request.stop_trigger_price,
            quote_size=request.quote_size,
            end_time=request.end_time,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            leverage=prep.leverage if product.is_perpetual else None,
            created_at=now,
            updated_at=now,
        )
        self._seq += 1
        hold = (prep.size or ZERO) * prep.hold_unit
        w = _Working(
            order=order,
            account=acct,
            state=st,
            seq=self._seq,
            hold_asset=prep.hold_asset,
            hold_unit=prep.hold_unit,
            hold=hold,
            leverage=prep.leverage,
            rest_price=request.limit_price,
            quote_left=request.quote_size,
        )
        acct.add_hold(prep.hold_asset, hold)
        self._orders[order_id] = w
        acct.order_ids.append(order_id)
        acct.open_ids[order_id] = None
        acct.client_ids[coid] = order_id
        if request.time_in_force is TimeInForce.GTD and request.end_time is not None:
            heapq.heappush(self._expiries, (request.end_time, self._seq, order_id))
        return w

    def _run_taker(self, w: _Working, now: datetime, ev: list[EngineEvent]) -> None:
        """Match what crosses, then rest or cancel the remainder according to type and TIF."""
        order = w.order
        st = w.state
        limit = None if order.order_type is OrderType.MARKET else w.rest_price
        if order.time_in_force is TimeInForce.FOK:
            plan = self._plan(st, order.side, limit, w.account.account_id, order.remaining_size, None)
            if sum((s for _, s in plan), ZERO) < order.remaining_size:
                self._terminate(w, OrderStatus.CANCELLED, now, ev)
                return
        stp = self._walk(w, limit, now, ev)
        immediate = order.order_type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        )
        if order.status is not OrderStatus.FILLED and (immediate or stp):
            if order.quote_size is not None:
                order.size = order.filled_size  # a quote-sized order is as big as what it bought
                spent = w.quote_left is not None and w.quote_left < self._min_step_cost(st)
                if w.fills and spent and not stp:
                    order.transition(OrderStatus.FILLED, at=now)
            if order.status is not OrderStatus.FILLED:
                self._terminate(w, OrderStatus.CANCELLED, now, ev, fills=tuple(w.fills))
                return
        if order.status is OrderStatus.FILLED:
            self._release(w)
        else:
            if order.status is OrderStatus.PENDING_SUBMIT:
                order.transition(OrderStatus.OPEN, at=now)
            self._book(w)
        ev.append(OrderUpdate(order=self._snap(order), fills=tuple(w.fills), ts=now))

    def _min_step_cost(self, st: SymbolState) -> Decimal:
        best = st.best_ask() or st.reference or ZERO
        return best * st.product.base_increment

    def _iter_liquidity(
        self, st: SymbolState, taker_side: OrderSide
    ) -> Iterator[tuple[Decimal, Decimal, _Working | None, list[Decimal] | None]]:
        """(price, size, resting order or None, external level or None) in priority order."""
        if taker_side is BUY:
            ext, usr = st.ext_asks, st.user_asks
        else:
            ext, usr = st.ext_bids, st.user_bids
        prices = list(usr.prices_best_first())
        ei = 0
        ui = 0
        buy = taker_side is BUY
        while True:
            while ei < len(ext) and ext[ei][1] <= 0:
                ei += 1
            ext_px = ext[ei][0] if ei < len(ext) else None
            usr_px = prices[ui] if ui < len(prices) else None
            if ext_px is None and usr_px is None:
                return
            if usr_px is not None and (ext_px is None or usr_px == ext_px or ((usr_px < ext_px) == buy)):
                for oid in list(usr.levels.get(usr_px, ())):
                    rw = self._orders[oid]
                    yield usr_px, rw.order.remaining_size, rw, None
                ui += 1
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

    def _walk(self, w: _Working, limit: Decimal | None, now: datetime, ev: list[EngineEvent]) -> bool:
        """Execute a taker against the merged book. Returns True if self-trade prevention stopped it."""
        order = w.order
        st = w.state
        side = order.side
        product = st.product
        inc = product.base_increment
        touched_ext = False
        for px, avail, rw, lvl in self._iter_liquidity(st, side):
            if limit is not None and (px > limit if side is BUY else px < limit):
                break
            if rw is not None and rw.account is w.account:
                if touched_ext:
                    st.purge_ext()
                return True
            cap = self._taker_cap(w, px, inc)
            if cap <= 0:
                break
            if rw is not None:
                maker_cap = self._reduce_cap(rw)
                if maker_cap is not None and maker_cap <= 0:
                    self._terminate(rw, OrderStatus.CANCELLED, now, ev)
                    continue
                take = min(cap, avail, maker_cap) if maker_cap is not None else min(cap, avail)
                self._trade(st, w, rw, px, take, now, ev)
            else:
                assert lvl is not None
                take = min(cap, avail)
                lvl[1] -= take
                touched_ext = True
                self._touched.add((product.symbol, side is SELL, px))
                self._trade(st, w, None, px, take, now, ev)
            if order.status is OrderStatus.FILLED:
                break
        if touched_ext:
            st.purge_ext()
        return False

    def _taker_cap(self, w: _Working, px: Decimal, inc: Decimal) -> Decimal:
        order = w.order
        product = w.state.product
        if w.quote_left is not None:
            cap = (w.quote_left / px / inc).to_integral_value(rounding=ROUND_FLOOR) * inc
        else:
            cap = order.remaining_size
        rcap = self._reduce_cap(w)
        if rcap is not None:
            cap = min(cap, rcap)
        if w.hold_unit == 0 and cap > 0:
            # market orders hold nothing up front: cap each slice by what the account can pay for now
            acct = w.account
            rate = self._tier(acct, product.is_perpetual).taker_fee_rate
            if product.is_perpetual:
                pos = acct.perp_size(product.symbol)
                reducible = abs(pos) if pos != 0 and (pos > 0) != (order.side is BUY) else ZERO
                if cap > reducible:
                    per_unit = px / w.leverage + px * rate
                    cap = min(cap, reducible + self._available(acct, product.quote_asset) / per_unit)
            elif order.side is BUY:
                afford = self._available(acct, product.quote_asset) / (px * (ONE + rate))
                cap = min(cap, afford)
            else:
                cap = min(cap, self._available(acct, product.base_asset))
            cap = (cap / inc).to_integral_value(rounding=ROUND_FLOOR) * inc
        return cap

    def _reduce_cap(self, w: _Working) -> Decimal | None:
        order = w.order
        if not order.reduce_only:
            return None
        product = w.state.product
        if product.is_perpetual:
            pos = w.account.perp_size(product.symbol)
            if pos == 0 or (pos > 0) == (order.side is BUY):
                return ZERO
            return abs(pos)
        return None

    def _trade(
        self,
        st: SymbolState,
        taker: _Working,
        maker: _Working | None,
        px: Decimal,
        size: Decimal,
        now: datetime,
        ev: list[EngineEvent],
    ) -> None:
        trade_id = self._new_id()
        self._settle(taker, px, size, Liquidity.TAKER, trade_id, now, ev)
        maker_side = taker.order.side.opposite
        if maker is not None:
            self._settle(maker, px, size, Liquidity.MAKER, trade_id, now, ev)
            self._touched.add((st.product.symbol, maker.order.side is BUY, px))
            if maker.order.status is OrderStatus.FILLED:
                self._unbook(maker)
                self._release(maker)
            ev.append(OrderUpdate(order=self._snap(maker.order), fills=(maker.fills[-1],), ts=now))
        st.last = px
        ev.append(
            TradeTick(
                symbol=st.product.symbol, trade_id=trade_id, price=px, size=size, side=maker_side, ts=now
            )
        )

    def _settle(
        self,
        w: _Working,
        px: Decimal,
        size: Decimal,
        liquidity: Liquidity,
        trade_id: str,
        now: datetime,
        ev: list[EngineEvent],
    ) -> None:
        acct = w.account
        order = w.order
        product = w.state.product
        qinc = product.quote_increment
        value = (px * size).quantize(qinc, rounding=ROUND_HALF_EVEN)
        tier = self._tier(acct, product.is_perpetual)
        rate = tier.maker_fee_rate if liquidity is Liquidity.MAKER else tier.taker_fee_rate
        fee = compute_fee(value, rate, qinc)
        if w.hold:
            release = min(w.hold, size * w.hold_unit)
            w.hold -= release
            acct.release_hold(w.hold_asset, release)
        if product.is_perpetual:
            signed = size if order.side is BUY else -size
            realized = acct.apply_perp_fill(product, signed, px, w.leverage)
            acct.credit(product.quote_asset, realized - fee)
        elif order.side is BUY:
            acct.credit(product.quote_asset, -(value + fee))
            acct.credit(product.base_asset, size)
            acct.spot_buy(product.base_asset, size, px)
        else:
            acct.credit(product.base_asset, -size)
            acct.credit(product.quote_asset, value - fee)
            acct.spot_sell(product.base_asset, size, px)
        acct.volume.add(now, value)
        order.filled_size += size
        w.notional += px * size
        order.avg_fill_price = w.notional / order.filled_size
        order.fees += fee
        if w.quote_left is not None:
            w.quote_left -= value
        done = order.remaining_size <= 0 and order.quote_size is None
        order.transition(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, at=now)
        fill = Fill(
            trade_id=trade_id,
            order_id=order.order_id,
            symbol=product.symbol,
            side=order.side,
            price=px,
            size=size,
            fee=fee,
            liquidity=liquidity,
            ts=now,
            client_order_id=order.client_order_id,
        )
        acct.fills.append(fill)
        w.fills.append(fill)
        ev.append(fill)

    def _book(self, w: _Working) -> None:
        assert w.rest_price is not None
        side = w.state.user_bids if w.order.side is BUY else w.state.user_asks
        side.add(w.rest_price, w.order.order_id)
        w.in_book = True
        self._touched.add((w.state.product.symbol, w.order.side is BUY, w.rest_price))

    def _unbook(self, w: _Working) -> None:
        if not w.in_book or w.rest_price is None:
            return
        side: UserSide = w.state.user_bids if w.order.side is BUY else w.state.user_asks
        side.remove(w.rest_price, w.order.order_id)
        w.in_book = False
        self._touched.add((w.state.product.symbol, w.order.side is BUY, w.rest_price))

    def _release(self, w: _Working) -> None:
        if w.hold:
            w.account.release_hold(w.hold_asset, w.hold)
            w.hold = ZERO

    def _terminate(
        self,
        w: _Working,
        status: OrderStatus,
        now: datetime,
        ev: list[EngineEvent],
        fills: tuple[Fill, ...] = (),
    ) -> None:
        self._unbook(w)
        st = w.state
        oid = w.order.order_id
        if oid in st.stops:
            st.stops.remove(oid)
        if oid in st.brackets:
            st.brackets.remove(oid)
        self._release(w)
        w.order.transition(status, at=now)
        ev.append(OrderUpdate(order=self._snap(w.order), fills=fills, ts=now))

    # ================================================================== internals: book & triggers
    def _cross_resting(
        self, st: SymbolState, now: datetime, ev: list[EngineEvent]
    ) -> tuple[Decimal | None, Decimal | None]:
        """Fill resting user orders that the new external book crosses, as MAKER at their own price."""
        lo: Decimal | None = None
        hi: Decimal | None = None
        for user, ext, is_bid in ((st.user_bids, st.ext_asks, True), (st.user_asks, st.ext_bids, False)):
            touched = False
            while user.prices and ext:
                best = user.best()
                assert best is not None
                lvl = next((x for x in ext if x[1] > 0), None)
                if lvl is None or (lvl[0] > best if is_bid else lvl[0] < best):
                    break
                oid = user.levels[best][0]
                w = self._orders[oid]
                rcap = self._reduce_cap(w)
                if rcap is not None and rcap <= 0:
                    self._terminate(w, OrderStatus.CANCELLED, now, ev)
                    continue
                take = (
                    min(w.order.remaining_size, lvl[1])
                    if rcap is None
                    else min(w.order.remaining_size, lvl[1], rcap)
                )
                lvl[1] -= take
                touched = True
                self._touched.add((st.product.symbol, not is_bid, lvl[0]))
                trade_id = self._new_id()
                self._settle(w, best, take, Liquidity.MAKER, trade_id, now, ev)
                self._touched.add((st.product.symbol, is_bid, best))
                if w.order.status is OrderStatus.FILLED:
                    self._unbook(w)
                    self._release(w)
                ev.append(OrderUpdate(order=self._snap(w.order), fills=(w.fills[-1],), ts=now))
                st.last = best
                ev.append(
                    TradeTick(
                        symbol=st.product.symbol,
                        trade_id=trade_id,
                        price=best,
                        size=take,
                        side=w.order.side,
                        ts=now,
                    )
                )
                lo = best if lo is None else min(lo, best)
                hi = best if hi is None else max(hi, best)
                if lvl[1] <= 0:
                    ext[:] = [x for x in ext if x[1] > 0]
            if touched:
                st.purge_ext()
        return lo, hi

    def _check_triggers(
        self, st: SymbolState, lo: Decimal, hi: Decimal, now: datetime, ev: list[EngineEvent]
    ) -> None:
        """Fire stop-limits and bracket stop legs whose trigger lies within [lo, hi]; repeat on new prints."""
        for _ in range(1000):
            fired = False
            for oid in list(st.stops):
                w = self._orders[oid]
                order = w.order
                assert order.stop_price is not None
                up = order.stop_direction is StopDirection.STOP_UP
                if (up and hi >= order.stop_price) or (not up and lo <= order.stop_price):
                    st.stops.remove(oid)
                    order.triggered = True
                    n = len(w.fills)
                    self._run_taker(w, now, ev)
                    fired = True
                    lo, hi = self._widen(lo, hi, w.fills[n:])
            for oid in list(st.brackets):
                w = self._orders[oid]
                order = w.order
                assert order.stop_trigger_price is not None
                stp = order.stop_trigger_price
                if (order.side is SELL and lo <= stp) or (order.side is BUY and hi >= stp):
                    st.brackets.remove(oid)
                    self._unbook(w)
                    order.triggered = True
                    w.rest_price = self._bracket_stop_price(st.product, order.side, stp)
                    self._seq += 1
                    w.seq = self._seq
                    n = len(w.fills)
                    self._walk(w, w.rest_price, now, ev)
                    if order.status is OrderStatus.FILLED:
                        self._release(w)
                    elif not order.is_terminal:
                        self._book(w)
                    ev.append(OrderUpdate(order=self._snap(order), fills=tuple(w.fills[n:]), ts=now))
                    fired = True
                    lo, hi = self._widen(lo, hi, w.fills[n:])
            if not fired:
                return

    @staticmethod
    def _widen(lo: Decimal, hi: Decimal, fills: list[Fill]) -> tuple[Decimal, Decimal]:
        for f in fills:
            lo = min(lo, f.price)
            hi = max(hi, f.price)
        return lo, hi

    def _merged(self, st: SymbolState, is_bid: bool, depth: int) -> list[BookLevel]:
        sizes: dict[Decimal, Decimal] = {}
        for price, size in st.ext_bids if is_bid else st.ext_asks:
            if size > 0:
                sizes[price] = sizes.get(price, ZERO) + size
        user = st.user_bids if is_bid else st.user_asks
        for price, queue in user.levels.items():
            total = sum((self._orders[oid].order.remaining_size for oid in queue), ZERO)
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

    # ================================================================== internals: perps
    def _settle_funding(self, st: SymbolState, at: datetime, ev: list[EngineEvent]) -> None:
        mark = st.mark
        if mark is None:
            return
        product = st.product
        rate = st.funding_rate
        for acct in self._accounts.values():
            pos = acct.perps.get(product.symbol)
            if pos is None or pos.size == 0:
                continue
            payment = (pos.size * mark * rate).quantize(product.quote_increment, rounding=ROUND_HALF_EVEN)
            acct.credit(product.quote_asset, -payment)
            pos.funding_paid += payment
            ev.append(
                FundingEvent(
                    account_id=acct.account_id,
                    symbol=product.symbol,
                    position_size=pos.size,
                    mark_price=mark,
                    rate=rate,
                    payment=payment,
                    ts=at,
                )
            )

    def _maintenance(self, acct: Account) -> Decimal:
        total = ZERO
        for symbol, pos in acct.perps.items():
            if pos.size:
                st = self._states[symbol]
                mark = st.mark or pos.entry_price
                total += abs(pos.size) * mark * st.product.maintenance_margin_rate
        return total

    def _check_liquidations(self, now: datetime, ev: list[EngineEvent]) -> None:
        for acct in self._accounts.values():
            if not any(p.size for p in acct.perps.values()):
                continue
            equity = self.equity(acct.account_id)
            maintenance = self._maintenance(acct)
            if equity >= maintenance:
                continue
            self._liquidate(acct, equity, maintenance, now, ev)

    def _liquidate(
        self, acct: Account, equity: Decimal, maintenance: Decimal, now: datetime, ev: list[EngineEvent]
    ) -> None:
        """Cross-margin liquidation: cancel the account's perps orders, close every position at mark."""
        for oid in list(acct.open_ids):
            w = self._orders[oid]
            if w.state.product.is_perpetual and not w.order.is_terminal:
                w.order.transition(OrderStatus.PENDING_CANCEL, at=now)
                self._terminate(w, OrderStatus.CANCELLED, now, ev)
        for symbol, pos in list(acct.perps.items()):
            if pos.size == 0:
                continue
            st = self._states[symbol]
            product = st.product
            mark = st.mark or pos.entry_price
            liq_px = self._liq_price(acct, pos)
            side = SELL if pos.size > 0 else BUY
            size = abs(pos.size)
            order_id = self._new_id()
            order = Order(
                order_id=order_id,
                client_order_id=f"liquidation-{order_id}",
                symbol=symbol,
                side=side,
                order_type=OrderType.MARKET,
                size=size,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                leverage=pos.leverage,
                created_at=now,
                updated_at=now,
            )
            self._seq += 1
            w = _Working(
                order=order,
                account=acct,
                state=st,
                seq=self._seq,
                hold_asset=product.quote_asset,
                hold_unit=ZERO,
                hold=ZERO,
                leverage=pos.leverage,
            )
            self._orders[order_id] = w
            acct.order_ids.append(order_id)
            acct.client_ids[order.client_order_id] = order_id
            closed = pos.size
            self._settle(w, mark, size, Liquidity.TAKER, self._new_id(), now, ev)
            ev.append(OrderUpdate(order=self._snap(order), fills=tuple(w.fills), ts=now))
            event = LiquidationEvent(
                account_id=acct.account_id,
                symbol=symbol,
                size=closed,
                mark_price=mark,
                liquidation_price=liq_px,
                equity=equity,
                maintenance_margin=maintenance,
                order_id=order_id,
                ts=now,
            )
            self.liquidations.append(event)
            ev.append(event)

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
            others += (
                unrealized_pnl(other, mark) - abs(other.size) * mark * ost.product.maintenance_margin_rate
            )
        price = liquidation_price(pos, product.maintenance_margin_rate, cash + others)
        if price is None:
            return None
        return price.quantize(product.price_increment, rounding=ROUND_HALF_EVEN)

    # ================================================================== internals: accounts
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
        return Balance(
            asset=asset, total=acct.total(asset), available=self._available(acct, asset), hold=hold
        )

    # ================================================================== internals: misc
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
