"""The live bot's import path stays lean (DESIGN principle 8): the Coinbase path, the bot and the CLI load
none of the optional extras that cost memory without use (rich's tracebacks through structlog, httpx's own
command line, pydantic through typer's value coercion), and those stay importable for the summary."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, sys
from gpt_trader.cli import app
from typer.testing import CliRunner
import gpt_trader.orchestration.perps_bot
import gpt_trader.features.brokerages.coinbase.broker
result = CliRunner().invoke(app, ["config-check", "--profile", "canary"])
loaded = [m for m in ("rich", "pygments", "click", "greenlet", "pydantic") if m in sys.modules]
import rich.table
print(json.dumps({"loaded": loaded, "rich_after": "rich.table" in sys.modules}))
"""


def test_live_import_path_loads_no_optional_extras() -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # config-check prints a rich table (imports rich itself); the others must never load
    assert [m for m in out["loaded"] if m != "rich"] == []
    assert out["rich_after"]


def test_coinbase_adapter_imported_first_loads_no_optional_extras() -> None:
    """Whichever module imports httpx first decides whether rich and pygments come along (+4.5 MB measured
    in the bot): the adapter's modules, imported before anything else, must not bring them."""
    code = (
        "import sys\n"
        "import gpt_trader.features.brokerages.coinbase.broker\n"
        "print([m for m in ('rich', 'pygments', 'click', 'cryptography') if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
