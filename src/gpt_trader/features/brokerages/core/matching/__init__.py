"""The one fill model every venue reuses. Entry points: `MatchingEngine`, `FeeSchedule`, `SubmitResult`.

Semantics in brief (choices where Coinbase is silent are marked [?]):
- Liquidity = external book (`set_book`, replaced each call; consumed size stays consumed until the
  next call) + resting user orders, price-time priority; at one price user orders go first [?].
- Takers fill at each level's price (slippage across levels); crossed resting orders fill as MAKER at
  their own price when a new external book crosses them.
- Self-trade prevention: a taker reaching its own account's resting order stops and its remainder is
  cancelled (cancel-newest) [?]; an edit that would self-trade is refused (SELF_TRADE_PREVENTION).
- Holds: BUY limits hold quote x (1 + taker rate), SELL limits hold base, perps hold initial margin
  plus fee; market orders hold nothing and are capped slice by slice by what the account can pay.
- Market BUY by quote_size: fees are charged on top of quote_size [?].
- Stops trigger on the external mid or on a print crossing stop_price; placing a stop that is already
  triggered is refused (STOP_PRICE_ABOVE/BELOW_LAST_TRADE_PRICE).
- trigger_bracket = an exit: rests as a limit at limit_price (take profit); when the mid or a print
  crosses stop_trigger_price it is pulled and re-priced at stop_trigger_price -/+ 5 %
  (`bracket_stop_slippage`), taking what it can and resting the rest. On perps it must reduce a position.
- Perps: cross margin in USD; equity = cash + unrealized PnL; liquidation closes every position at mark
  (taker fee charged, no insurance fund: cash may end negative) [?]; funding at epoch-aligned
  interval boundaries, payment = size x mark x rate (longs pay when rate > 0).
- Fees and notionals: per-fill, quote currency, exact Decimal products, never rounded (Coinbase reports
  `commission` unrounded); funding payments exact too. Perp realized PnL (average entry) is rounded
  half-even to quote_increment: the average is a division, so one defined rounding keeps it reproducible.
- Ids are UUID-shaped from a seeded RNG; time comes only from the injected clock.
"""

from gpt_trader.features.brokerages.core.matching.engine import MatchingEngine
from gpt_trader.features.brokerages.core.matching.fees import COINBASE_SPOT_TIERS, FeeSchedule, FeeTier
from gpt_trader.features.brokerages.core.matching.types import (
    EngineEvent,
    FundingEvent,
    LiquidationEvent,
    Preview,
    SubmitResult,
)

__all__ = [
    "COINBASE_SPOT_TIERS",
    "EngineEvent",
    "FeeSchedule",
    "FeeTier",
    "FundingEvent",
    "LiquidationEvent",
    "MatchingEngine",
    "Preview",
    "SubmitResult",
]
