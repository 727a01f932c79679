"""Fuzz suite settings: bounded examples in CI (`ci`, the default), many more with `make fuzz`
(`HYPOTHESIS_PROFILE=fuzz`). No deadline: the machine is shared, timing is not what is tested."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
