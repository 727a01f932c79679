"""Venues. Start with `core.interfaces` (the Broker protocol and the domain types)."""
