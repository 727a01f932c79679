"""Secrets at rest: a file holding a secret (a CDP key file, `.env`, the web dashboard token) must be
readable by its owner only, as ssh demands of a private key.

Why one module: the bot, the Coinbase signer and the dashboard each read such a file, and each must
refuse it the same way (a message naming the file, its mode and the fix `chmod 600 FILE`, exit 2),
never read a secret that others on the machine could have read too.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: permission bits that let anyone but the owner read, write or run the file
OTHERS_BITS = 0o077


def exposure(path: Path) -> str | None:
    """Why `path` may not hold a secret (group/others can access it), or None when it is owner-only.
    A file that does not exist is the caller's business (None)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & OTHERS_BITS:
        who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if mode & bits)
        return (
            f"{path} holds secrets but has mode {mode:04o} (accessible by {who}); "
            f"it must be readable by its owner only: chmod 600 {path}"
        )
    return None
