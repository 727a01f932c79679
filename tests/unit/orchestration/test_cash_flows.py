"""CashFlowDetector: external quote-cash transfers told apart from fills, fees, perp PnL and funding,
with the late-fill race and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    Fill,
    InsufficientFundsError,
    Liquidity,
    OrderSide,
    Position,
    Product,
    ProductType,
)
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.cash_flows import STATE_KEY, CashFlowDetector, fill_cash_effect
from gpt_trader.orchestration.live_execution import LiveExecutionEngine
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BTC = Product(
    symbol="BTC-USD",
    base_asset="BTC",
    quote_asset="USD",
    base_increment=D("0.00000001"),
    quote_increment=D("0.01"),
    price_increment=D("0.01"),
    base_min_size=D("0.00000001"),
    base_max_size=D("10000"),
)
PERP = Product(
    symbol="BTC-PERP-INTX",
    base_asset="BTC",
    quote_asset="USDC",
    product_type=ProductType.PERPETUAL,
    base_increment=D("0.0001"),
    quote_increment=D("0.01"),
    price_increment=D("0.1"),
    base_min_size=D("0.0001"),
    base_max_size=D("1000"),
    max_leverage=D("10"),
    funding_interval_s=3600,
)
PRODUCTS = {BTC.symbol: BTC, PERP.symbol: PERP}


class Reads:
    """Balance reads one minute apart."""

    def __init__(self, det: CashFlowDetector) -> None:
        self.det = det
        self.n = 0

    def __call__(
        self, usd: str, usdc: str = "0", *, positions: tuple[Position, ...] = (), settled: bool = True
    ) -> tuple[list[tuple[str, Decimal]], dict[str, Decimal]]:
        self.n += 1
        # holds must not matter: only `total` is read
        balances = [
            Balance(asset="USD", total=D(usd), available=D(usd) - D("7"), hold=D("7")),
            Balance(asset="USDC", total=D(usdc), available=D(usdc)),
            Balance(asset="BTC", total=D("3"), available=D("3")),
        ]
        obs = self.det.observe(balances, positions, at=T0 + timedelta(minutes=self.n), settled=settled)
        return [(t.asset, t.amount) for t in obs.transfers], obs.pending


def fill(side: OrderSide, size: str, price: str, fee: str, *, symbol: str = BTC.symbol, trade: str = "t1") -> Fill:
    return Fill(
        trade_id=trade,
        order_id="o-" + trade,
        symbol=symbol,
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.TAKER,
        ts=T0,
    )


def perp_pos(funding_paid: str, size: str = "0.1") -> Position:
    return Position(
        symbol=PERP.symbol,
        product_type=ProductType.PERPETUAL,
        size=D(size),
        entry_price=D("50000"),
        mark_price=D("50000"),
        funding_paid=D(funding_paid),
    )


def detector(store: StateStore | None = None, metrics: MetricsRegistry | None = None) -> CashFlowDetector:
    det = CashFlowDetector(state=store, metrics=metrics)
    det.bind(PRODUCTS)
    return det


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(open_database(tmp_path / "state.db"))


def test_first_read_sets_the_baseline_only() -> None:
    det = detector()
    read = Reads(det)
    assert det.record_fill(fill(OrderSide.BUY, "1", "100", "1"), D(0)) is False  # before the baseline
    assert read("1000") == ([], {})
    assert det.state.balances == {"USD": D("1000"), "USDC": D("0")}
    assert det.quote_assets == ["USD", "USDC"]


def test_deposit_is_booked_once_a_second_read_confirms_it() -> None:
    det = detector()
    read = Reads(det)
    read("1000")
    assert read("1500") == ([], {"USD": D("500")})  # first sighting: pending, not booked
    assert read("1500") == ([("USD", D("500"))], {})
    assert read("1500") == ([], {})  # booked once


def test_withdrawal_is_booked_negative() -> None:
    det = detector()
    read = Reads(det)
    read("1000")
    read("980")
    assert read("980") == ([("USD", D("-20"))], {})


def test_fills_fees_and_holds_explain_everything() -> None:
    det = detector()
    read = Reads(det)
    read("10000")
    # BUY 0.01 @ 50000.005 -> notional 500.00005 settles as 500.00, fee 3.00
    assert det.record_fill(fill(OrderSide.BUY, "0.01", "50000.005", "3.00", trade="a"), D(0))
    assert not det.record_fill(fill(OrderSide.BUY, "0.01", "50000.005", "3.00", trade="a"), D(0))  # duplicate
    assert read("9497.00") == ([], {})
    det.record_fill(fill(OrderSide.SELL, "0.01", "51000", "3.06", trade="b"), D("10"))
    assert read("10003.94") == ([], {})  # +510.00 - 3.06 (spot ignores `realized`)


def test_residual_under_a_cent_is_rounding() -> None:
    det = detector()
    read = Reads(det)
    read("1000")
    assert read("1000.009") == ([], {})  # dropped: the next read compares with 1000.009
    assert read("1000.001") == ([], {})
    assert read("999.991") == ([], {"USD": D("-0.010")})  # a cent or more is a candidate


def test_late_recorded_fill_is_not_a_phantom_transfer() -> None:
    """The venue applied the BUY before the read; the bot records it only after: pending, then explained."""
    det = detector()
    read = Reads(det)
    read("10000")
    assert read("9497", settled=False) == ([], {"USD": D("-503")})
    det.record_fill(fill(OrderSide.BUY, "0.01", "50000", "3"), D(0))
    assert read("9497") == ([], {})
    assert read("9497") == ([], {})


def test_late_fill_alongside_a_real_withdrawal_books_only_the_withdrawal() -> None:
    det = detector()
    read = Reads(det)
    read("10000")
    assert read("9477", settled=False) == ([], {"USD": D("-523")})
    det.record_fill(fill(OrderSide.BUY, "0.01", "50000", "3"), D(0))
    assert read("9477") == ([], {"USD": D("-20")})  # the amount changed: not confirmed yet
    assert read("9477") == ([("USD", D("-20"))], {})


def test_a_stable_residual_waits_while_an_order_is_working() -> None:
    det = detector()
    read = Reads(det)
    read("1000")
    read("900", settled=False)
    assert read("900", settled=False) == ([], {"USD": D("-100")})
    assert read("900", settled=True) == ([("USD", D("-100"))], {})


def test_perp_fill_realized_pnl_and_fee_explain_the_cash_change() -> None:
    det = detector()
    read = Reads(det)
    read("0", "5000")
    det.record_fill(fill(OrderSide.BUY, "0.1", "50000", "2.5", symbol=PERP.symbol, trade="p1"), D(0))
    assert read("0", "4997.5") == ([], {})  # opening a perp moves only the fee
    det.record_fill(fill(OrderSide.SELL, "0.1", "51000", "2.55", symbol=PERP.symbol, trade="p2"), D("100.004"))
    assert read("0", "5094.95") == ([], {})  # +100.00 realized - 2.55


def test_realized_pnl_comes_from_the_ledger_through_the_execution_hook(tmp_path: Path) -> None:
    seen: list[tuple[str, Decimal]] = []
    conn = open_database(tmp_path / "bot.sqlite3")
    broker = MockBroker(symbols=["BTC-USD"], seed=1, start=T0)
    engine = LiveExecutionEngine(
        broker,
        OrdersStore(conn),
        EventStore(conn, "s"),
        MetricsRegistry(),
        PositionBook(),
        bot_id="t",
        on_fill=lambda f, realized: seen.append((f.trade_id, realized)),
    )
    engine.record_fill(fill(OrderSide.BUY, "2", "100", "0.1", trade="a"))
    engine.record_fill(fill(OrderSide.SELL, "1", "110", "0.1", trade="b"))
    engine.record_fill(fill(OrderSide.SELL, "3", "90", "0.1", trade="c"))  # closes 1 (-10), opens short 2
    assert seen == [("a", D(0)), ("b", D("10")), ("c", D("-10"))]
    assert fill_cash_effect(fill(OrderSide.SELL, "1", "110", "0.1"), PERP, D("10")) == D("9.9")


def test_funding_paid_is_explained_by_the_increase_of_funding_paid() -> None:
    det = detector()
    read = Reads(det)
    read("0", "5000", positions=(perp_pos("4"),))
    assert read("0", "4998", positions=(perp_pos("6"),)) == ([], {})  # paid 2 more
    # the position closes (not listed): its count is kept; the next listing continues from it
    assert read("0", "4998") == ([], {})
    assert read("0", "4997", positions=(perp_pos("7"),)) == ([], {})
    # a venue that restarts the count for a new position: the new figure is all new
    assert read("0", "4996.5", positions=(perp_pos("0.5"),)) == ([], {})


def test_a_perp_first_listed_after_the_baseline_starts_its_funding_count_there() -> None:
    det = detector()
    read = Reads(det)
    read("0", "5000")
    # lifetime funding of 40 from positions before the bot: not a cash change now
    assert read("0", "5000", positions=(perp_pos("40"),)) == ([], {})
    assert read("0", "4999", positions=(perp_pos("41"),)) == ([], {})


def test_restart_keeps_balances_and_fills_accounted_since_the_last_read(store: StateStore) -> None:
    det = detector(store)
    read = Reads(det)
    read("10000")
    det.record_fill(fill(OrderSide.BUY, "0.01", "50000", "3", trade="a"), D(0))
    # crash; the new process loads what the old one persisted and reconciliation records a missed fill
    again = detector(store)
    assert again.state.accounted == ["a"]
    assert not again.record_fill(fill(OrderSide.BUY, "0.01", "50000", "3", trade="a"), D(0))
    assert again.record_fill(fill(OrderSide.SELL, "0.005", "50000", "1.5", trade="b"), D(0))
    read2 = Reads(again)
    read2.n = 10
    assert read2("9745.5") == ([], {})  # -503 + 248.5: everything explained


def test_withdrawal_while_down_is_booked_after_restart(store: StateStore) -> None:
    det = detector(store)
    Reads(det)("10000")
    again = detector(store)
    read = Reads(again)
    assert read("9980") == ([], {"USD": D("-20")})
    assert read("9980") == ([("USD", D("-20"))], {})


def test_a_race_pending_at_a_crash_is_explained_after_restart(store: StateStore) -> None:
    det = detector(store)
    read = Reads(det)
    read("10000")
    read("9497", settled=False)  # the venue applied a BUY; the bot died before recording it
    again = detector(store)
    assert again.state.pending == {"USD": D("-503")}
    again.record_fill(fill(OrderSide.BUY, "0.01", "50000", "3"), D(0))  # found by start-up reconciliation
    assert Reads(again)("9497") == ([], {})


def test_malformed_state_starts_a_new_baseline(store: StateStore) -> None:
    store.put(STATE_KEY, {"balances": {"USD": "not a number"}})
    metrics = MetricsRegistry()
    det = detector(store, metrics)
    assert metrics.counter("cash_flows.state_errors") == 1
    assert det.state.balances is None
    assert Reads(det)("10") == ([], {})


def test_observe_before_bind_and_bind_without_products_fail_clearly() -> None:
    det = CashFlowDetector()
    with pytest.raises(RuntimeError, match="before bind"):
        det.observe([], [], at=T0, settled=True)
    with pytest.raises(ValueError, match="at least one product"):
        det.bind({})


def test_mock_broker_transfer_moves_cash_and_refuses_overdrafts() -> None:
    broker = MockBroker(symbols=["BTC-USD"], seed=1, start=T0, starting_cash=D("100"))
    assert broker.transfer("USD", D("-30")).total == D("70")
    assert broker.transfer("USD", D("5.5")).total == D("75.5")
    with pytest.raises(InsufficientFundsError, match=r"cannot withdraw 100 USD: only 75\.5 USD available"):
        broker.transfer("USD", D("-100"))
    with pytest.raises(ValueError, match="unknown asset 'EUR'; allowed: BTC, USD"):
        broker.transfer("EUR", D("1"))
    with pytest.raises(ValueError, match="non-zero"):
        broker.transfer("USD", D("0"))


async def test_the_confirming_refresh_sends_nothing(tmp_path: Path) -> None:
    """`poll(resend=False)` (the mid-cycle refresh the confirming read uses) leaves an unsent intent pending."""
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderType, TransientError

    conn = open_database(tmp_path / "bot.sqlite3")
    broker = MockBroker(symbols=["BTC-USD"], seed=1, start=T0)
    await broker.connect()
    engine = LiveExecutionEngine(
        broker, OrdersStore(conn), EventStore(conn, "s"), MetricsRegistry(), PositionBook(), bot_id="t"
    )
    broker.fail_next(1, TransientError)
    request = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.001"))
    assert (await engine.submit(request, intent_id="ambiguous")).status == "pending"
    await engine.poll(resend=False)
    assert engine.pending_count == 1 and await broker.list_orders(open_only=False) == []
    await engine.poll()
    assert engine.pending_count == 0 and len(await broker.list_orders(open_only=False)) == 1


@pytest.mark.parametrize("atomic", [True, False])
async def test_a_stored_fill_and_its_accounting_commit_together(tmp_path: Path, atomic: bool) -> None:
    """With the shared connection's transaction, a failure while accounting a fill leaves no stored fill
    (the next poll or reconciliation records it again); without it, the fill would be stored unaccounted."""
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderType
    from gpt_trader.persistence.sqlite import transaction

    conn = open_database(tmp_path / "bot.sqlite3")
    broker = MockBroker(symbols=["BTC-USD"], seed=1, start=T0)
    await broker.connect()
    store = OrdersStore(conn)

    def crash(fill: Fill, realized: Decimal) -> None:
        raise RuntimeError("process died while accounting the fill")

    engine = LiveExecutionEngine(
        broker,
        store,
        EventStore(conn, "s"),
        MetricsRegistry(),
        PositionBook(),
        bot_id="t",
        on_fill=crash,
        atomic=(lambda: transaction(conn)) if atomic else None,
    )
    request = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.001"))
    with pytest.raises(RuntimeError, match="process died"):
        await engine.submit(request, intent_id="atomic")
    assert len(store.fills()) == (0 if atomic else 1)
    assert not conn.in_transaction


def test_unrounded_fills_are_explained_exactly() -> None:
    """The venue debits notional and commission unrounded: many sub-cent fills leave no residual, and the
    tolerance stays flat however many fills a read covers."""
    det = detector()
    read = Reads(det)
    read("10000")
    for n in range(40):  # 0.0001 x 100.37 = 0.010037 each, fee 0.8 % of that = 0.0000802960
        det.record_fill(fill(OrderSide.BUY, "0.0001", "100.37", "0.000080296", trade=f"r{n}"), D(0))
    assert det.tolerance("USD") == D("0.01")  # was 0.01 + 40 x half a cent: 0.21 would hide a withdrawal
    assert read(str(D("10000") - 40 * (D("0.010037") + D("0.000080296")))) == ([], {})
    assert det.state.pending == {}


def test_a_quiet_read_costs_no_write(tmp_path: Path) -> None:
    writes: list[str] = []

    class Counting(StateStore):
        def put(self, key: str, value: dict[str, object]) -> None:
            writes.append(key)
            super().put(key, value)

    counting = Counting(open_database(tmp_path / "counted.db"))
    det = detector(counting)
    read = Reads(det)
    read("1000")
    assert len(writes) == 1
    read("1000")
    read("1000")
    assert len(writes) == 1  # same balances, nothing pending: nothing new to keep
    read("900")
    assert len(writes) == 2 and det.state.pending == {"USD": D("-100")}


def test_a_transfer_says_after_which_read_it_appeared() -> None:
    """`after` is the last read before the flow: a baseline from any later reading already holds it."""
    det = detector()
    bal = [Balance(asset="USD", total=D("1000"), available=D("1000"))]
    t = [T0 + timedelta(minutes=n) for n in range(4)]
    det.observe(bal, [], at=t[0], settled=True)
    det.observe(bal, [], at=t[1], settled=True)
    low = [Balance(asset="USD", total=D("900"), available=D("900"))]
    assert det.observe(low, [], at=t[2], settled=False).pending == {"USD": D("-100")}
    assert det.observe(low, [], at=t[3], settled=False).transfers == []  # still working: waits
    (transfer,) = det.observe(low, [], at=t[3] + timedelta(seconds=1), settled=True).transfers
    assert (transfer.amount, transfer.after, transfer.at) == (D("-100"), t[1], t[3] + timedelta(seconds=1))
    assert transfer.payload()["after"] == t[1].isoformat() and transfer.kind == "withdrawal"
