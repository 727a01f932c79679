"""Property: random decisions on random market paths never get an order past check_order that breaks a
configured limit.

A small simulated account (two spot markets and one perp, resting limit orders, market fills that walk
the book, crashes, stale feeds, failing API calls, losing trades) is driven by hypothesis. Every order
the RiskManager accepts is re-checked here by an independent, plain implementation of each limit
against the snapshot it was accepted on.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from risk_builders import T0, Clock, D, book, perp, spot

from gpt_trader.features.brokerages.core.interfaces import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    ProductType,
    Quote,
    TimeInForce,
)
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.monitor.metrics import MetricsRegistry

BTC, ETH, PERP = "BTC-USD", "ETH-USD", "BTC-PERP-INTX"
SYMBOLS = (BTC, ETH, PERP)
PRODUCTS = {BTC: spot(BTC), ETH: spot(ETH), PERP: perp(PERP, max_leverage="20")}
LIMITS = {
    BTC: SymbolLimit(max_notional=D("5000"), max_position_size=D("0.08")),
    ETH: SymbolLimit(max_notional=D("3000")),
    PERP: SymbolLimit(max_notional=D("9000"), max_leverage=D("3")),
}
CONFIG = RiskConfig(
    max_leverage=D("2"),
    max_total_notional=D("12000"),
    max_impact_bps=D("30"),
    max_open_orders_per_symbol=2,
    max_orders_per_minute=12,
    max_daily_loss_pct=D("20"),
    max_drawdown_pct=D("25"),
    max_consecutive_api_errors=3,
    error_rate_min_calls=6,
    max_consecutive_losses=3,
    loss_cooldown_s=120,
    volatility_short_window=5,
    volatility_long_window=30,
    max_move_pct=D("6"),
    volatility_cooldown_s=30,
)
BPS = Decimal(10000)


def _caps(draw: st.DrawFn) -> tuple[RiskConfig, dict[str, SymbolLimit]]:
    """A random but valid set of limits: some tight, some absent."""
    money = st.sampled_from([None, "500", "2000", "5000", "9000", "20000"])
    limits = {
        BTC: SymbolLimit(
            max_notional=_d(draw(money)), max_position_size=_d(draw(st.sampled_from([None, "0.01", "0.08", "1"])))
        ),
        ETH: SymbolLimit(max_notional=_d(draw(money))),
        PERP: SymbolLimit(max_notional=_d(draw(money)), max_leverage=D(draw(st.sampled_from(["1", "3", "10"])))),
    }
    config = RiskConfig(
        max_leverage=D(draw(st.sampled_from(["1", "2", "5"]))),
        max_total_notional=_d(draw(st.sampled_from([None, "3000", "12000"]))),
        default_max_notional=_d(draw(money)),
        max_impact_bps=D(draw(st.sampled_from(["5", "30", "50"]))),
        max_open_orders_per_symbol=draw(st.integers(min_value=1, max_value=3)),
        max_orders_per_minute=draw(st.integers(min_value=2, max_value=15)),
        max_daily_loss_pct=D("20"),
        max_drawdown_pct=D("25"),
        max_consecutive_api_errors=3,
        error_rate_min_calls=6,
        max_consecutive_losses=3,
        loss_cooldown_s=120,
        volatility_short_window=5,
        volatility_long_window=30,
        max_move_pct=D("6"),
        volatility_cooldown_s=30,
    )
    return config, limits


def _d(value: str | None) -> Decimal | None:
    return None if value is None else D(value)


class RiskRails(RuleBasedStateMachine):
    @initialize(caps=st.one_of(st.just((CONFIG, LIMITS)), st.composite(_caps)()))
    def setup(self, caps: tuple[RiskConfig, dict[str, SymbolLimit]]) -> None:
        self.config, self.limits = caps
        self.clock = Clock(T0)
        self.metrics = MetricsRegistry()
        self.rm = RiskManager(self.config, self.limits, self.metrics, None, self.clock)
        self.mids = {BTC: D("50000"), ETH: D("2500"), PERP: D("50000")}
        self.depth = {s: D("1") for s in SYMBOLS}
        self.quote_ts = {s: T0 for s in SYMBOLS}
        self.cash = D("6000")
        self.positions: dict[str, Decimal] = {s: D(0) for s in SYMBOLS}
        self.entries: dict[str, Decimal] = {s: D(0) for s in SYMBOLS}
        self.open_orders: list[Order] = []
        self.accepted_at: deque = deque()
        self.inflight: list[tuple[str, OrderSide, Decimal, bool, Decimal, Decimal]] = []
        self.n = 0
        self.snap = self._snapshot()
        self.rm.start(self.snap)
        self.verdict = self.rm.evaluate(self.snap)

    # ------------------------------------------------------------------------ account model
    def _equity(self) -> Decimal:
        eq = self.cash
        for s in (BTC, ETH):
            eq += self.positions[s] * self.mids[s]
        eq += self.positions[PERP] * (self.mids[PERP] - self.entries[PERP])
        return eq

    def _snapshot(self) -> AccountSnapshot:
        now = self.clock.now
        quotes, books, positions = {}, {}, {}
        for s in SYMBOLS:
            mid = self.mids[s]
            spread = (mid * D("0.0002")).quantize(D("0.01"))
            quotes[s] = Quote(symbol=s, bid=mid - spread / 2, ask=mid + spread / 2, last=mid, ts=self.quote_ts[s])
            unit = (D("2000") / mid * self.depth[s]).quantize(D("0.0001"))
            books[s] = book(
                s, mid, spread=spread, step=(mid * D("0.001")).quantize(D("0.01")), sizes=[str(unit)] * 5, ts=now
            )
            if self.positions[s] != 0:
                ptype = ProductType.PERPETUAL if s == PERP else ProductType.SPOT
                positions[s] = Position(
                    symbol=s,
                    product_type=ptype,
                    size=self.positions[s],
                    entry_price=self.entries[s],
                    mark_price=mid,
                    leverage=D("3"),
                )
        return AccountSnapshot(
            now=now,
            equity=self._equity(),
            cash=self.cash,
            positions=positions,
            quotes=quotes,
            books=books,
            open_orders=list(self.open_orders),
            products=dict(PRODUCTS),
        )

    # -------------------------------------------------------------------------------- market
    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(min_value=-1500, max_value=800))
    def move_market(self, symbol: str, move: int) -> None:
        """Price moves in bps: mostly small, sometimes a crash."""
        self.mids[symbol] = max(D("1"), (self.mids[symbol] * (1 + D(move) / BPS)).quantize(D("0.01")))

    @rule(symbol=st.sampled_from(SYMBOLS), depth=st.sampled_from(["0.05", "0.3", "1", "3"]))
    def change_liquidity(self, symbol: str, depth: str) -> None:
        self.depth[symbol] = D(depth)

    @rule(seconds=st.sampled_from([1, 5, 20, 45, 90, 400]), freeze=st.sampled_from([None, *SYMBOLS]))
    def cycle(self, seconds: int, freeze: str | None) -> None:
        self.clock.advance(seconds)
        for s in SYMBOLS:
            if s != freeze:
                self.quote_ts[s] = self.clock.now
        self._new_snapshot()
        assert self.verdict.mode in ("active", "reducing", "halted")

    def _new_snapshot(self) -> None:
        self.snap = self._snapshot()
        self.inflight = []
        self.verdict = self.rm.evaluate(self.snap)

    @rule(ok=st.sampled_from([True, True, True, True, True, False]), n=st.integers(min_value=1, max_value=4))
    def api_calls(self, ok: bool, n: int) -> None:
        for _ in range(n):
            self.rm.record_api_call(ok)

    @rule(amount=st.integers(min_value=-800, max_value=1500))
    def cash_flow(self, amount: int) -> None:
        """Deposits, withdrawals, fees: equity and free cash move under the open book."""
        self.cash = max(D(0), self.cash + D(amount))
        self._new_snapshot()

    @rule(pnl=st.integers(min_value=-20, max_value=50))
    def trade_closed(self, pnl: int) -> None:
        self.rm.record_trade_result(BTC, D(pnl))

    @rule(data=st.data())
    def fill_resting(self, data: st.DataObject) -> None:
        if not self.open_orders:
            return
        order = data.draw(st.sampled_from(self.open_orders))
        self.open_orders.remove(order)
        self._fill(order.symbol, order.side, order.size, order.limit_price or self.mids[order.symbol])

    # -------------------------------------------------------------------------------- orders
    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        notional=st.integers(min_value=1, max_value=9000),
        kind=st.sampled_from(["market", "limit_passive", "limit_cross", "close"]),
        claim_reducing=st.sampled_from([False, False, False, True]),
    )
    def submit(
        self, symbol: str, side: OrderSide, notional: int, kind: str, claim_reducing: bool, lev: str | None = None
    ) -> None:
        snap = self.snap
        mid = self.mids[symbol]
        size = (D(notional) / mid).quantize(D("0.000001"))
        if kind == "close":
            pos = self.positions[symbol]
            if pos == 0:
                return
            side = OrderSide.SELL if pos > 0 else OrderSide.BUY
            size = abs(pos)
        if size <= 0:
            return
        if kind == "market" or kind == "close":
            req = OrderRequest(
                symbol=symbol,
                side=side,
                order_type=OrderType.MARKET,
                size=size,
                time_in_force=TimeInForce.IOC,
                leverage=D(lev) if lev is not None and symbol == PERP else None,
            )
        else:
            off = D("-0.01") if kind == "limit_passive" else D("0.003")
            price = (mid * (1 + off * side.sign)).quantize(D("0.01"))
            req = OrderRequest(symbol=symbol, side=side, order_type=OrderType.LIMIT, size=size, limit_price=price)
        res = self.rm.check_order(req, snap, is_reducing=claim_reducing or kind == "close")
        if not res.ok:
            assert res.rule and res.reason
            return
        self._assert_within_limits(res.request, snap)
        self.accepted_at.append(snap.now)
        sent = res.request
        if sent.order_type is OrderType.MARKET or kind == "limit_cross":
            avg = snap.books[symbol].average_fill_price(sent.side, sent.size or D(0))
            if avg is not None:
                self._fill(symbol, sent.side, sent.size or D(0), avg)
        else:
            self.n += 1
            self.open_orders.append(
                Order(
                    order_id=f"o{self.n}",
                    client_order_id=f"c{self.n}",
                    symbol=symbol,
                    side=sent.side,
                    order_type=OrderType.LIMIT,
                    size=sent.size or D(0),
                    status=OrderStatus.OPEN,
                    limit_price=sent.limit_price,
                )
            )

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from([OrderSide.BUY, OrderSide.BUY, OrderSide.SELL]),
        notional=st.integers(min_value=100, max_value=4000),
        kind=st.sampled_from(["market", "limit_passive", "limit_cross"]),
        lev=st.sampled_from([None, "2", "3", "5", "25"]),
    )
    def submit_entry(self, symbol: str, side: OrderSide, notional: int, kind: str, lev: str | None) -> None:
        """Entries are the orders that can break limits: give them extra weight (and leverage on perps)."""
        self.submit(symbol, side, notional, kind, False, lev)

    def _fill(self, symbol: str, side: OrderSide, size: Decimal, price: Decimal) -> None:
        signed = size * side.sign
        old = self.positions[symbol]
        new = old + signed
        if symbol == PERP:
            if old != 0 and (old > 0) != (signed > 0):  # closing part: realize
                closed = min(abs(signed), abs(old))
                self.cash += closed * (price - self.entries[symbol]) * (1 if old > 0 else -1)
            if new != 0 and (old == 0 or (old > 0) == (signed > 0)):
                self.entries[symbol] = (abs(old) * self.entries[symbol] + size * price) / abs(new)
        else:
            self.cash -= signed * price
            if side is OrderSide.BUY:
                self.entries[symbol] = (abs(old) * self.entries[symbol] + size * price) / abs(new)
        self.positions[symbol] = new
        if new == 0:
            self.entries[symbol] = D(0)

    # ---------------------------------------------------------------------- the independent check
    def _assert_within_limits(self, req: OrderRequest, snap: AccountSnapshot) -> None:
        """Check `req` against every limit, given the snapshot plus what was accepted since it."""
        resting = req.order_type is not OrderType.MARKET
        committed, entry_notional = self._oracle(req, snap)
        self.inflight.append((req.symbol, req.side, req.size or D(0), resting, committed, entry_notional))

    def _oracle(self, req: OrderRequest, snap: AccountSnapshot) -> tuple[Decimal, Decimal]:
        sym = req.symbol
        product = snap.products[sym]
        size = req.size
        assert size is not None and size > 0
        assert size % product.base_increment == 0, "size off the increment grid"
        assert size >= product.base_min_size
        assert not self.rm.halted, "an order passed while halted"
        # rate limit: accepted orders in the 60 s before this one
        recent = [t for t in self.accepted_at if (snap.now - t).total_seconds() < 60]
        assert len(recent) < self.config.max_orders_per_minute, "order rate limit broken"

        pos = snap.positions.get(sym)
        cur = pos.size if pos is not None else D(0)
        working = [o for o in snap.open_orders if o.symbol == sym]
        same = sum((o.remaining_size for o in working if o.side is req.side), D(0))
        same += sum((f[2] for f in self.inflight if f[0] == sym and f[1] is req.side), D(0))
        n_working = len(working) + sum(1 for f in self.inflight if f[0] == sym and f[3])
        reducing = cur != 0 and (cur > 0) != (req.side is OrderSide.BUY) and same + size <= abs(cur)
        if reducing:
            return D(0), D(0)
        # an entry
        assert self.verdict.mode == "active" and not self.rm.reduce_only, "entry passed in reduce-only/halt"
        assert sym not in self.verdict.blocked_symbols, "entry passed on a blocked symbol"
        assert (snap.now - snap.quotes[sym].ts).total_seconds() <= self.config.stale_mark_s, "entry on a stale mark"
        assert n_working < self.config.max_open_orders_per_symbol
        if product.product_type is ProductType.SPOT:
            assert req.side is OrderSide.BUY, "spot short"
        mark = snap.quotes[sym].mark_price
        projected = abs(cur + req.side.sign * (same + size))
        lim = self.limits[sym]
        notional = projected * mark
        if lim.max_position_size is not None:
            assert projected <= lim.max_position_size
        cap = lim.max_notional if lim.max_notional is not None else self.config.default_max_notional
        assert cap is None or notional <= cap, "symbol notional cap broken"
        others = sum((abs(p.size) * snap.quotes[s].mark_price for s, p in snap.positions.items() if s != sym), D(0))
        others += sum((f[5] for f in self.inflight if f[0] != sym), D(0))
        cash = snap.cash - sum((f[4] for f in self.inflight), D(0))
        cfg = self.config
        assert cfg.max_total_notional is None or others + notional <= cfg.max_total_notional, "total cap broken"
        sym_lev = min(cfg.max_leverage, lim.max_leverage, product.max_leverage if sym == PERP else D(1))
        assert notional <= snap.equity * sym_lev, "symbol leverage broken"
        assert req.leverage is None or req.leverage <= sym_lev, "requested leverage over the limit"
        assert others + notional <= snap.equity * cfg.max_leverage, "account leverage broken"
        book_ = snap.books[sym]
        marketable = req.order_type is OrderType.MARKET or (
            req.limit_price is not None
            and (
                req.limit_price >= book_.asks[0].price
                if req.side is OrderSide.BUY
                else req.limit_price <= book_.bids[0].price
            )
        )
        price = req.limit_price or (snap.quotes[sym].ask if req.side is OrderSide.BUY else snap.quotes[sym].bid)
        if marketable:
            avg = book_.average_fill_price(req.side, size)
            assert avg is not None, "entry larger than the book"
            mid = book_.mid
            assert mid is not None, "one-sided book"
            assert abs(avg - mid) / mid * BPS <= cfg.max_impact_bps, "impact cap broken"
            if req.order_type is OrderType.MARKET:
                price = avg
        if sym == PERP:
            lev = min(max(req.leverage or D(1), D(1)), product.max_leverage)  # the venue's default is 1x
            margin = size * price / lev
            assert margin <= cash, "initial margin over free collateral"
            return margin, size * mark
        assert size * price <= cash, "spot buy over cash"
        return size * price, size * mark

    @invariant()
    def spot_never_short_and_counters_sane(self) -> None:
        if not hasattr(self, "metrics"):
            return
        assert self.positions[BTC] >= 0 and self.positions[ETH] >= 0, "a spot position went short"
        assert all(v >= 0 for v in self.metrics.counters().values())


RiskRails.TestCase.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestRiskRails = RiskRails.TestCase
