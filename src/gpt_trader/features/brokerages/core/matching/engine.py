"""MatchingEngine: the one fill model behind the mock broker, the exchange simulator and backtest replay.

Liquidity is the external book (synthetic or replayed, replaced by each `set_book`) merged with resting
user orders in price-time priority; at one price resting user orders go first. Takers walk that merged
book level by level. Resting user orders that a new external book crosses fill as MAKER at their own
price. Time comes only from the injected clock; ids come from a seeded RNG, so a run is reproducible.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BookLevel,
    Fill,
    InsufficientFundsError,
    InvalidOrderError,
    MarginType,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Product,
    ProductType,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching.core import BUY, SELL, ZERO, Listener
from gpt_trader.features.brokerages.core.matching.execution import _ExecutionMixin
from gpt_trader.features.brokerages.core.matching.fees import FeeTier, compute_fee
from gpt_trader.features.brokerages.core.matching.ledger import (
    unrealized_pnl,
)
from gpt_trader.features.brokerages.core.matching.types import (
    EngineEvent,
    Preview,
    SubmitResult,
)
from gpt_trader.features.brokerages.core.matching.validation import _ValidationMixin
from gpt_trader.features.brokerages.core.quantization import check_min_size, is_multiple


class MatchingEngine(_ValidationMixin, _ExecutionMixin):
    """Price-time-priority matching with balances, holds, fees, stops, brackets and perpetuals.

    `MatchingEngine(products, *, fees=None, clock, seed=0, bracket_stop_slippage=Decimal("0.05"),
    default_funding_rate=Decimal("0.00001"), book_events=True)` (constructor in `core._EngineCore`).
    Not thread-safe: callers serialize access (the simulator runs it on one event loop).
    """

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

    def set_book(
        self, symbol: str, bids: Iterable[BookLevel], asks: Iterable[BookLevel], ts: datetime | None = None
    ) -> list[EngineEvent]:
        """Replace external liquidity; fill crossed resting orders as MAKER; fire stops."""
        st = self._state(symbol)
        now = ts or self._clock()
        old_bids = {p: s for p, s in st.ext_bids} if self._book_events else None
        old_asks = {p: s for p, s in st.ext_asks} if self._book_events else None
        st.set_external(
            sorted(([lvl.price, lvl.size] for lvl in bids if lvl.size > 0), key=lambda x: x[0], reverse=True),
            sorted(([lvl.price, lvl.size] for lvl in asks if lvl.size > 0), key=lambda x: x[0]),
        )
        st.book_ts = now
        if st.ext_bids and st.ext_asks:
            st.mid = (st.ext_bids[0][0] + st.ext_asks[0][0]) / 2
        elif st.ext_bids or st.ext_asks:
            st.mid = (st.ext_bids or st.ext_asks)[0][0]
        ev: list[EngineEvent] = []
        self._catch_up(now, ev)
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

    def submit(self, account_id: str, request: OrderRequest) -> SubmitResult:
        acct = self._account(account_id)
        coid = request.client_order_id
        if coid and coid in acct.client_ids:
            existing = self._orders[acct.client_ids[coid]]
            return SubmitResult(order=self._snap(existing.order), duplicate=True)
        st = self._state(request.symbol)
        now = self._clock()
        ev: list[EngineEvent] = []
        self._catch_up(now, ev)
        try:
            prep = self._prepare(acct, st, request, now)
        except Exception:
            self._finish(ev, now)
            raise
        w = self._create(acct, st, request, prep, now)
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
        fee = compute_fee(notional, tier.taker_fee_rate)
        base = taken
        if request.size is not None and limit is not None and taken < request.size:
            resting = request.size - taken
            base += resting
            rest_notional = resting * limit
            notional += rest_notional
            fee += compute_fee(rest_notional, tier.maker_fee_rate)
        best = st.best_ask() if request.side is BUY else st.best_bid()
        avg = (notional / base) if base > 0 else None
        slippage = ZERO
        if plan and best:
            imm_avg = sum((p * s for p, s in plan), ZERO) / taken
            slippage = abs(imm_avg - best) / best
        total = notional + fee if request.side is BUY else notional - fee
        if request.order_type is OrderType.MARKET and not plan and "INVALID_NO_LIQUIDITY" not in errors:
            errors.append("INVALID_NO_LIQUIDITY")
        return Preview(
            symbol=request.symbol,
            side=request.side,
            base_size=base,
            quote_size=notional,
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
            reason = "ORDER_IS_FULLY_FILLED" if order.status is OrderStatus.FILLED else "DUPLICATE_CANCEL_REQUEST"
            raise InvalidOrderError(f"order {order_id} is already {order.status.value}", reason=reason)
        now = self._clock()
        order.transition(OrderStatus.PENDING_CANCEL, at=now)
        ev: list[EngineEvent] = []
        self._terminate(w, OrderStatus.CANCELLED, now, ev)
        self._finish(ev, now)
        return self._snap(order)

    def edit(
        self,
        account_id: str,
        order_id: str,
        size: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """Amend a resting GTC limit. Priority is kept only when the price is unchanged and size shrinks.
        A stop price cannot be edited (as on the venue: only GTC limits' price and size)."""
        if stop_price is not None:
            raise InvalidOrderError(
                "only a GTC limit's price and size can be edited; a stop price cannot",
                reason="UNSUPPORTED_ORDER_CONFIGURATION",
            )
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
                reason="ORDER_IS_FULLY_FILLED" if order.status is OrderStatus.FILLED else "INVALID_ORDER_STATE",
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
            raise InsufficientFundsError(f"edit needs {extra} more {w.hold_asset}", reason="INSUFFICIENT_FUND")
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
                raise InvalidOrderError(f"no {product.base_asset} held to close {symbol}", reason="NO_POSITION")
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

    def get_order(self, account_id: str, order_id: str) -> Order:
        return self._snap(self._owned(account_id, order_id, reason="ORDER_NOT_FOUND").order)

    def find_by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        acct = self._account(account_id)
        oid = acct.client_ids.get(client_order_id)
        return self._snap(self._orders[oid].order) if oid else None

    def list_orders(self, account_id: str, symbol: str | None = None, *, open_only: bool = True) -> list[Order]:
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
        return self._equity(acct)

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

    def advance(self, now: datetime | None = None) -> list[EngineEvent]:
        """Expire GTD orders, settle funding at each interval boundary up to `now`, liquidate."""
        now = now or self._clock()
        ev: list[EngineEvent] = []
        self._catch_up(now, ev)
        self._check_liquidations(now, ev)
        return self._finish(ev, now)

    def _catch_up(self, now: datetime, ev: list[EngineEvent]) -> None:
        """Apply what is due by `now` (GTD expiries, funding boundaries) before anything else happens,
        so a caller that rarely calls `advance` never fills an expired order or mis-charges funding."""
        while self._expiries and self._expiries[0][0] <= now:
            end, _, oid = heapq.heappop(self._expiries)
            w = self._orders[oid]
            if not w.order.is_terminal:
                self._terminate(w, OrderStatus.EXPIRED, end, ev)
        for st in self._perp_states:
            interval = st.product.funding_interval_s or 3600
            if st.next_funding is None:
                st.next_funding = self._next_boundary(now, interval)
                continue
            while st.next_funding <= now:
                self._settle_funding(st, st.next_funding, ev)
                st.next_funding = st.next_funding + timedelta(seconds=interval)
