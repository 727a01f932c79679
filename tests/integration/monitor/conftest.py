"""Fixtures of the monitor integration tests: local Slack / PagerDuty receivers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_receivers import AlertReceivers


@pytest.fixture
def receivers() -> Iterator[AlertReceivers]:
    r = AlertReceivers().start()
    yield r
    r.stop()
