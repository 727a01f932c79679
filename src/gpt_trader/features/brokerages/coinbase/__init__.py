"""Coinbase Advanced Trade adapter.

Entry points: `broker.CoinbaseBroker` (the live Broker; `build_coinbase_broker(config, credentials)`,
or `orchestration.venue_settings.coinbase_settings_from_env` for tools without a profile),
`account.CoinbaseAccountManager` (telemetry snapshots), `cli.account_command` (`perps-bot account`).
Below them: `profile_config` (the profile's `coinbase:` section), `config` (the settings the broker
runs on), `auth` (JWT/HMAC signers), `rest` (async REST client + retry rules), `ws` (market/user
WebSocket, L2 books, derived fills), `parsing` + `models` (wire structs -> domain types), `errors`
(failure -> typed error), `rate_limit` (token buckets), `symbols` (perps gate), `triggers` (client-side
stops/brackets), `trigger_store` (durable trigger records on the StateStore;
`attach_trigger_store(broker, state)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker


def build_coinbase_broker(config: Any, credentials: Any) -> CoinbaseBroker:
    """The orchestrator's factory: BotConfig (`config.coinbase.*`) + Credentials -> an unconnected broker."""
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
    from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings

    settings = CoinbaseSettings.from_bot_config(config, credentials)
    settings.confirm_orders = not config.streams  # on streams the user channel confirms each order
    return CoinbaseBroker(settings)


__all__ = ["build_coinbase_broker"]
