"""Coinbase Advanced Trade adapter.

Entry points: `broker.CoinbaseBroker` (the Broker for live trading), `config.CoinbaseConfig.from_env`
(URLs, credentials, derivatives gate), `account.CoinbaseAccountManager` (telemetry snapshots).
Below them: `auth` (JWT/HMAC signers), `rest` (async REST client), `ws` (market/user WebSocket),
`parsing` + `models` (wire structs -> domain types), `rate_limit` (token buckets).
"""
