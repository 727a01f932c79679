"""Position sizing: turn a strategy decision into a base-unit quantity.

Entry point: `PositionSizer(config.sizing, risk=config.risk, symbol_limits=...)`, then `.size(...)`.
Methods: fixed size, fixed notional, fraction of equity, volatility targeting, Kelly (full or
fractional, scaled by the decision's confidence, falling back to fixed sizing until the trade history
is long enough). Every result is capped by the risk limits and floored to the product's increment;
0 means "do not trade". The RiskManager's pre-trade check remains the authority on every order.
"""

from gpt_trader.features.position_sizing.kelly import KellyEstimate, kelly_estimate
from gpt_trader.features.position_sizing.sizer import PositionSizer

__all__ = ["KellyEstimate", "PositionSizer", "kelly_estimate"]
