"""Execution: creating orders, walking the book, settling fills, triggers, funding and liquidation."""

from __future__ import annotations

import heapq
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    StopDirection,
    TimeInForce,
    TradeTick,
)
from gpt_trader.features.brokerages.core.matching.book import SymbolState, UserSide
from gpt_trader.features.brokerages.core.matching.core import BUY, ONE, SELL, ZERO, _EngineCore, _Prep, _Working
from gpt_trader.features.brokerages.core.matching.fees import compute_fee
from gpt_trader.features.brokerages.core.matching.ledger import (
    Account,
)
from gpt_trader.features.brokerages.core.matching.types import (
    EngineEvent,
    FundingEvent,
    LiquidationEvent,
)


class _ExecutionMixin(_EngineCore):
    def _create(self, acct: Account, st: SymbolState, request: OrderRequest, prep: _Prep, now: datetime) -> _Working:
        order_id = self._new_id()
        coid = request.client_order_id or self._new_id()
        product = st.product
        order = Order.from_request(
            request,
            order_id=order_id,
            at=now,
            client_order_id=coid,
            symbol=product.symbol,
            size=prep.size if prep.size is not None else ZERO,
            stop_direction=prep.stop_direction,
            leverage=prep.leverage if product.is_perpetual else None,
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
        ev.append(TradeTick(symbol=st.product.symbol, trade_id=trade_id, price=px, size=size, side=maker_side, ts=now))

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
        value = px * size  # exact: the venue settles notional and fee unrounded
        tier = self._tier(acct, product.is_perpetual)
        rate = tier.maker_fee_rate if liquidity is Liquidity.MAKER else tier.taker_fee_rate
        fee = compute_fee(value, rate)
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
        order.filled_value += value
        order.avg_fill_price = order.filled_value / order.filled_size
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
                    min(w.order.remaining_size, lvl[1]) if rcap is None else min(w.order.remaining_size, lvl[1], rcap)
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

    def _check_triggers(self, st: SymbolState, lo: Decimal, hi: Decimal, now: datetime, ev: list[EngineEvent]) -> None:
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
            payment = pos.size * mark * rate  # exact, like fees (no venue fact says funding is rounded)
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

    def _check_liquidations(self, now: datetime, ev: list[EngineEvent]) -> None:
        for acct in self._accounts.values():
            if not any(p.size for p in acct.perps.values()):
                continue
            equity = self._equity(acct)
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
