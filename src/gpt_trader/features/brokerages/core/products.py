"""Catalog of realistic product definitions shared by the mock broker, simulator and backtests.

Increments follow Coinbase's published spot product metadata (BTC-USD trades in 1e-8 BTC and 0.01 USD,
DOGE-USD in 0.1 DOGE and 0.00001 USD, ...). Perpetuals mirror the INTX `*-PERP-INTX` products: quoted,
margined and settled in USDC as on the venue (a recorded ETH-PERP-INTX carries quote_currency_id "USDC");
their margin rates are conservative choices, not exchange-published numbers.
"""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import PERP_QUOTE, Product, ProductType

D = Decimal

#: Realistic price levels used to start synthetic markets (USD, late 2024 / early 2025 levels).
REFERENCE_PRICES: dict[str, Decimal] = {
    "BTC": D("95000"),
    "ETH": D("3300"),
    "SOL": D("190"),
    "XRP": D("2.3"),
    "LTC": D("100"),
    "ADA": D("0.9"),
    "DOGE": D("0.32"),
    "BCH": D("450"),
    "AVAX": D("35"),
    "LINK": D("20"),
}

# base, base_increment, price_increment, base_min_size, base_max_size
_SPOT: tuple[tuple[str, str, str, str, str], ...] = (
    ("BTC", "0.00000001", "0.01", "0.00000001", "3400"),
    ("ETH", "0.00000001", "0.01", "0.00000001", "38000"),
    ("SOL", "0.00000001", "0.01", "0.00000001", "500000"),
    ("XRP", "0.000001", "0.0001", "0.000001", "10000000"),
    ("LTC", "0.00000001", "0.01", "0.00000001", "100000"),
    ("ADA", "0.00000001", "0.0001", "0.00000001", "20000000"),
    ("DOGE", "0.1", "0.00001", "0.1", "90000000"),
    ("BCH", "0.00000001", "0.01", "0.00000001", "20000"),
    ("AVAX", "0.00000001", "0.01", "0.00000001", "300000"),
    ("LINK", "0.01", "0.001", "0.01", "800000"),
)

# symbol, base, base_increment, price_increment, max_leverage, maintenance_margin_rate
_PERPS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("BTC-PERP-INTX", "BTC", "0.0001", "0.1", "20", "0.025"),
    ("ETH-PERP-INTX", "ETH", "0.001", "0.01", "20", "0.025"),
    ("SOL-PERP-INTX", "SOL", "0.01", "0.001", "10", "0.05"),
)


def default_products() -> list[Product]:
    """Ten USD spot pairs plus three INTX-style perpetuals (USDC-quoted, USDC collateral, hourly funding)."""
    out: list[Product] = []
    for base, base_inc, price_inc, base_min, base_max in _SPOT:
        out.append(
            Product(
                symbol=f"{base}-USD",
                base_asset=base,
                quote_asset="USD",
                product_type=ProductType.SPOT,
                base_increment=D(base_inc),
                quote_increment=D(price_inc),
                price_increment=D(price_inc),
                base_min_size=D(base_min),
                base_max_size=D(base_max),
                quote_min_size=D("1"),
                quote_max_size=D("50000000"),
            )
        )
    for symbol, base, base_inc, price_inc, max_lev, mmr in _PERPS:
        out.append(
            Product(
                symbol=symbol,
                base_asset=base,
                quote_asset=PERP_QUOTE,
                product_type=ProductType.PERPETUAL,
                base_increment=D(base_inc),
                quote_increment=D("0.01"),
                price_increment=D(price_inc),
                base_min_size=D(base_inc),
                base_max_size=D("10000000"),
                quote_min_size=D("10"),
                quote_max_size=D("50000000"),
                max_leverage=D(max_lev),
                funding_interval_s=3600,
                maintenance_margin_rate=D(mmr),
            )
        )
    return out


def products_by_symbol(products: list[Product] | None = None) -> dict[str, Product]:
    return {p.symbol: p for p in (products if products is not None else default_products())}


def reference_price(product: Product) -> Decimal:
    """Starting level for a product's synthetic market (perps quote USDC at the same level, 1:1 with USD);
    unknown bases start at 100."""
    return REFERENCE_PRICES.get(product.base_asset, D("100"))
