"""Fuzz suite settings: bounded examples in CI (`ci`, the default), many more with `make fuzz`
(`HYPOTHESIS_PROFILE=fuzz`), or any depth with `FUZZ_EXAMPLES=N`. No deadline: the machine is shared,
timing is not what is tested."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=SUPPRESS)
if os.environ.get("FUZZ_EXAMPLES"):
    settings.register_profile(
        "custom", max_examples=int(os.environ["FUZZ_EXAMPLES"]), deadline=None, suppress_health_check=SUPPRESS
    )
settings.load_profile("custom" if os.environ.get("FUZZ_EXAMPLES") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))
