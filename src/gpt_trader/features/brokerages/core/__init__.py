"""Shared venue contract. Entry points: `interfaces` (Broker, domain types, errors), `quantization`."""
