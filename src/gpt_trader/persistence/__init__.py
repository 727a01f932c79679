"""Durable state in SQLite (WAL) behind store interfaces.

Entry points: `interfaces` (the Protocols callers type against), `sqlite.open_database`,
`orders_store.OrdersStore`, `event_store.EventStore`, `state_store.StateStore` (key -> JSON document,
e.g. risk guard state). Schemas migrate forward at start-up (`sqlite.migrate`).
"""
