"""Durable state in SQLite (WAL) behind small store interfaces.

Entry points: `sqlite.open_database`, `orders_store.OrdersStore`, `event_store.EventStore`,
`state_store.StateStore` (key -> JSON document, e.g. risk guard state).
"""
