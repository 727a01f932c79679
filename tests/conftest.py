"""Session-wide test rules. Every exchange simulator a test starts must pass its money audit
(`tests/sim_audit.py` has the mechanism and why)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim_audit import REGISTRY, install

install()


@pytest.fixture(autouse=True)
def _simulator_audit_ok() -> Iterator[None]:
    """After each test: every simulator still running, and every one stopped during it, audited ok."""
    yield
    failures = REGISTRY.check()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
