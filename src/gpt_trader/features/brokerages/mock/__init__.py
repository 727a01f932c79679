"""Deterministic in-process venue. Entry point: `MockBroker` (a `Broker` and a `SimulatedVenue`)."""

from gpt_trader.features.brokerages.mock.broker import ACCOUNT, MockBroker

__all__ = ["ACCOUNT", "MockBroker"]
