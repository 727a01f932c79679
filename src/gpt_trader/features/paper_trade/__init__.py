"""Paper trading: real market data from a live feed, fills simulated by the shared MatchingEngine.

Entry points: `PaperBroker` (a Broker over any feed Broker), `build_paper_broker(config, credentials)`
(the orchestrator's factory: a public-data CoinbaseBroker feed for the profile's symbols).
"""

from __future__ import annotations

from typing import Any

from gpt_trader.features.paper_trade.broker import PaperBroker


def build_paper_broker(config: Any, credentials: Any = None) -> PaperBroker:
    """BotConfig -> PaperBroker over Coinbase market data (credentials optional: public data suffices)."""
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
    from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings

    # Public market data suffices: without credentials the feed has no signer.
    settings = CoinbaseSettings.from_bot_config(config, credentials, require_credentials=False)
    feed = CoinbaseBroker(settings)
    return PaperBroker(feed, list(config.symbols), starting_cash=config.paper.starting_cash)


__all__ = ["PaperBroker", "build_paper_broker"]
