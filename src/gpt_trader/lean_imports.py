"""Keep libraries' optional extras out of the live process (DESIGN principle 8: <= 50 MB RSS).

structlog imports rich (and through it pygments and attrs) only to pretty-print tracebacks, and httpx
imports click, rich and pygments only for its own command line; the bot needs neither (its console
renderer formats exceptions as plain text). `without_extras` hides those optional packages while such a
library is imported, so it takes its documented fallback; they stay importable afterwards (the summary
table imports rich when it prints).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

OPTIONAL_EXTRAS = ("rich", "pygments", "click", "greenlet")


@contextmanager
def without_extras(names: tuple[str, ...] = OPTIONAL_EXTRAS) -> Iterator[None]:
    """While open, `import <name>` raises ImportError for each of `names` not yet imported."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not available" marker
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
