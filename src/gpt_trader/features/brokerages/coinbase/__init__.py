"""Coinbase Advanced Trade adapter.

Entry points: `broker.CoinbaseBroker` (the Broker for live trading), `config.CoinbaseConfig.from_env`
(URLs, credentials, derivatives gate), `account.CoinbaseAccountManager` (telemetry snapshots).
Below them: `auth` (JWT/HMAC signers), `rest` (async REST client), `ws` (market/user WebSocket),
`parsing` + `models` (wire structs -> domain types), `rate_limit` (token buckets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker


def build_coinbase_broker(config: Any, credentials: Any) -> CoinbaseBroker:
    """The orchestrator's factory: BotConfig (`config.coinbase.*`) + Credentials -> an unconnected broker."""
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
    from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings

    return CoinbaseBroker(CoinbaseSettings.from_bot_config(config, credentials))


__all__ = ["build_coinbase_broker"]
