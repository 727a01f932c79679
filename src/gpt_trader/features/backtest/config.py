"""What a backtest runs under: cash, fees, slippage, sizing, the modelled guards and the product.

Both engines read the same `BacktestConfig`, which is how they share one execution model (DESIGN §7):
a signal on bar t's close fills at bar t+1's open plus slippage, fees on notional, no look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import Product, ProductType


def research_product(symbol: str) -> Product:
    """Product used for files from venues other than Coinbase: BTC-USD-like increments.

    base_increment 1e-8, price_increment 0.01, quote_increment 0.01, min size one base increment. Every
    shared OHLCV file quotes prices on a 0.01 grid (or coarser), so opens are exact ticks. Always a SPOT
    (cash) product, perpetual files included: backtests model an unlevered cash account, and perp
    funding, when a funding series is given, is charged as a cash flow on the held position.
    """
    base, quote = _split(symbol)
    return Product(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        product_type=ProductType.SPOT,
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        price_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        base_max_size=Decimal("1000000"),
        quote_min_size=Decimal("0"),
    )


def _split(symbol: str) -> tuple[str, str]:
    s = symbol.upper()
    for sep in ("-", "/", "_"):
        if sep in s:
            base, quote = s.split(sep, 1)
            return base, ("USD" if quote == "PERP" else quote)
    for quote in ("USDT", "USDC", "USD", "EUR", "GBP"):
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)], quote
    return s, "USD"


def resolve_product(symbol: str) -> Product:
    """The venue's own product definition when we know it (Coinbase symbols), else `research_product`."""
    try:
        from gpt_trader.features.brokerages.core.products import default_products
    except ImportError:
        return research_product(symbol)
    for product in default_products():
        if product.symbol == symbol:
            return product
    return research_product(symbol)


def decimal_places(increment: Decimal, label: str) -> int:
    """Exponent k with increment == 10**-k; the engines count prices and sizes in these integer ticks."""
    exponent = increment.normalize().as_tuple()
    digits = exponent.digits
    if increment <= 0 or digits != (1,) or not isinstance(exponent.exponent, int) or exponent.exponent > 0:
        raise ValueError(f"{label} must be a power of ten <= 1 (e.g. 0.01, 1e-8), got {increment}")
    return -exponent.exponent


@dataclass(frozen=True)
class BacktestConfig:
    initial_cash: Decimal = Decimal("10000")
    fee_bps: Decimal = Decimal("60")  # taker fee on notional
    slippage_bps: Decimal = Decimal("0")
    size_pct: Decimal | None = Decimal("100")
    size_qty: Decimal | None = None
    # protective exits inside each bar from its OHLC (pricing.intrabar_exit: stop before target)
    stop_loss_pct: Decimal | None = None  # stop at entry x (1 - p/100)
    take_profit_pct: Decimal | None = None  # target at entry x (1 + p/100), filled when the high crosses it
    trailing_pct: Decimal | None = None  # stop at (best high of earlier bars since entry) x (1 - p/100)
    # limit entries: a post-only limit entry_limit_bps under the signal bar's close, resting for
    # entry_timeout_bars bars; filled at its price when a bar's low crosses it (low < price), maker fee
    entry_limit_bps: Decimal | None = None  # None: market entries at the next open
    entry_timeout_bars: int = 5
    maker_fee_bps: Decimal | None = None  # None: fee_bps (one rate)
    max_daily_loss_pct: Decimal | None = None  # flatten and stop entries for the rest of the UTC day
    max_drawdown_pct: Decimal | None = None  # flatten and stop entries for good
    product: Product | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.initial_cash <= 0:
            raise ValueError(f"initial_cash must be > 0, got {self.initial_cash}")
        if not Decimal(0) <= self.fee_bps < Decimal(10000):
            raise ValueError(f"fee_bps must be in [0, 10000), got {self.fee_bps}")
        if not Decimal(0) <= self.slippage_bps < Decimal(10000):
            raise ValueError(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if (self.size_pct is None) == (self.size_qty is None):
            raise ValueError("give exactly one of size_pct and size_qty")
        if self.size_pct is not None and not Decimal(0) < self.size_pct <= Decimal(100):
            raise ValueError(f"size_pct must be in (0, 100], got {self.size_pct}")
        if self.entry_limit_bps is not None and not Decimal(0) <= self.entry_limit_bps < Decimal(10000):
            raise ValueError(f"entry_limit_bps must be in [0, 10000), got {self.entry_limit_bps}")
        if self.entry_timeout_bars < 1:
            raise ValueError(f"entry_timeout_bars must be >= 1, got {self.entry_timeout_bars}")
        if self.maker_fee_bps is not None and not Decimal(0) <= self.maker_fee_bps < Decimal(10000):
            raise ValueError(f"maker_fee_bps must be in [0, 10000), got {self.maker_fee_bps}")
        if self.size_qty is not None and self.size_qty <= 0:
            raise ValueError(f"size_qty must be > 0, got {self.size_qty}")
        for name in ("stop_loss_pct", "take_profit_pct", "trailing_pct", "max_daily_loss_pct", "max_drawdown_pct"):
            value = getattr(self, name)
            if value is not None and not Decimal(0) < value < Decimal(100):
                raise ValueError(f"{name} must be in (0, 100), got {value}")

    @property
    def fee_rate(self) -> Decimal:
        return self.fee_bps / Decimal(10000)

    @property
    def maker_fee_rate(self) -> Decimal:
        return (self.maker_fee_bps if self.maker_fee_bps is not None else self.fee_bps) / Decimal(10000)

    def product_for(self, symbol: str) -> Product:
        return self.product if self.product is not None else resolve_product(symbol)

    def slippage_ratio(self) -> tuple[int, int]:
        """slippage_bps as an exact fraction num/den of 1 (so fill prices are integer arithmetic)."""
        num, den = (self.slippage_bps / Decimal(10000)).as_integer_ratio()
        return int(num), int(den)

    def modelled_rules(self) -> list[str]:
        """The guards active in this run (both engines model exactly these)."""
        names = {
            "stop_loss": self.stop_loss_pct,
            "take_profit": self.take_profit_pct,
            "trailing_stop": self.trailing_pct,
            "daily_loss": self.max_daily_loss_pct,
            "max_drawdown": self.max_drawdown_pct,
        }
        return [k for k, v in names.items() if v is not None]
