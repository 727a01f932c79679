"""Vertical feature slices. They meet only through `brokerages.core.interfaces` and `orchestration`."""
