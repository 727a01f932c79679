"""INTX perps are USDC-quoted: pre-trade rules value a perp's notional in USD (USDC 1:1 unless a rate is
known), margin it against the USDC collateral only, and keep spot on USD cash."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from risk_builders import D, book, fresh, market, perp, snapshot, spot

from gpt_trader.features.brokerages.core.interfaces import USD_RATES, OrderSide
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.monitor.metrics import MetricsRegistry

BUY = OrderSide.BUY
BTC, PERP = "BTC-USD", "BTC-PERP-INTX"


def snap(**kw: Any) -> AccountSnapshot:
    kw.setdefault("products", [spot(BTC), perp(PERP)])
    kw.setdefault("mids", {BTC: "50000", PERP: "50000"})
    kw.setdefault("books", {s: book(s, "50000", sizes=("10",) * 5) for s in (BTC, PERP)})
    return snapshot(**kw)


def started(
    s: AccountSnapshot, *, limits: dict[str, SymbolLimit] | None = None, rates: dict[str, Decimal] | None = None
) -> RiskManager:
    rm = RiskManager(RiskConfig(max_leverage=D("5")), limits or {}, MetricsRegistry(), None, lambda: s.now, rates)
    rm.start(s)
    rm.evaluate(s)
    return rm


def test_default_rate_is_one_usd_per_usdc() -> None:
    assert USD_RATES["USDC"] == D("1") and USD_RATES["USD"] == D("1")
    assert perp(PERP).quote_asset == "USDC"


def test_perp_notional_cap_counts_usdc_one_to_one() -> None:
    s = snap()
    rm = started(s, limits={PERP: SymbolLimit(max_notional=D("25000"), max_leverage=D("5"))})
    ok = rm.check_order(market(PERP, BUY, "0.5", leverage="2"), fresh(s), is_reducing=False)  # ~25000 USDC
    assert ok.ok, ok
    bad = rm.check_order(market(PERP, BUY, "0.51", leverage="2"), fresh(s), is_reducing=False)
    assert not bad.ok and bad.rule == "max_notional"
    assert bad.details["quote_asset"] == "USDC" and bad.details["usd_rate"] == "1"
    assert bad.details["projected_notional"] == "25500.00"
    assert "USDC at 1 USD" in (bad.reason or "")


def test_a_known_usdc_rate_values_the_perp_notional() -> None:
    s = snap()
    limits = {PERP: SymbolLimit(max_notional=D("25000"), max_leverage=D("5"))}
    rates = {"USD": D("1"), "USDC": D("0.9")}
    # 0.55 x 50000 = 27500 USDC = 24750 USD at 0.9: inside the 25000 USD cap; at 1:1 it is not
    assert (
        started(s, limits=limits, rates=rates)
        .check_order(market(PERP, BUY, "0.55", leverage="2"), fresh(s), is_reducing=False)
        .ok
    )
    refused = started(s, limits=limits).check_order(
        market(PERP, BUY, "0.55", leverage="2"), fresh(s), is_reducing=False
    )
    assert refused.rule == "max_notional"


def test_a_quote_currency_without_a_rate_is_refused() -> None:
    eur = "BTC-EUR"
    s = snap(products=[spot(eur)], mids={eur: "50000"}, books={eur: book(eur, "50000", sizes=("10",) * 5)})
    res = started(s).check_order(market(eur, BUY, "0.01"), fresh(s), is_reducing=False)
    assert not res.ok and res.rule == "product"
    assert "no USD rate for quote currency 'EUR'" in (res.reason or "") and res.details["quote_asset"] == "EUR"


def test_perp_margin_uses_usdc_collateral_and_spot_uses_usd_cash() -> None:
    base = snap(equity="101000")
    s = msgspec.structs.replace(base, cash_by_quote={"USD": D("100000"), "USDC": D("1000")})
    rm = started(s)
    # 0.2 BTC perp at 2x: 5000 USDC initial margin > 1000 USDC collateral, though USD cash is plentiful
    bad = rm.check_order(market(PERP, BUY, "0.2", leverage="2"), fresh(s), is_reducing=False)
    assert not bad.ok and bad.rule == "margin" and bad.details["quote_asset"] == "USDC"
    assert bad.details["available"] == "1000"
    # 0.03 BTC at 2x: ~750 USDC margin fits; a second one does not (the first is in flight)
    s2 = fresh(s)
    assert rm.check_order(market(PERP, BUY, "0.03", leverage="2"), s2, is_reducing=False).ok
    again = rm.check_order(market(PERP, BUY, "0.03", leverage="2"), s2, is_reducing=False)
    assert again.rule == "margin"
    # spot draws on USD: 1 BTC = ~50000 USD is fine while USDC holds only 1000
    assert rm.check_order(market(BTC, BUY, "1"), fresh(s), is_reducing=False).ok

    poor_usd = msgspec.structs.replace(base, cash_by_quote={"USD": D("100"), "USDC": D("100000")})
    rm2 = started(poor_usd)
    spot_bad = rm2.check_order(market(BTC, BUY, "0.01"), fresh(poor_usd), is_reducing=False)
    assert spot_bad.rule == "insufficient_cash" and spot_bad.details["quote_asset"] == "USD"
