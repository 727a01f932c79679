"""The one fill model every venue reuses. Entry points: `MatchingEngine`, `FeeSchedule`, `SubmitResult`."""

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
