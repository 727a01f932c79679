#!/usr/bin/env bash
# The risk cycle benchmark with the risk hot path compiled by mypyc, for comparison with the interpreted
# figures of `benchmarks/risk_cycle.py` (which is what the bot runs). Compiles a scratch copy of src/
# (about 45 s on 2 cores; needs the dev extra for mypyc, and gcc), never the working tree, so no
# compiled module can shadow an edited source file. risk/manager.py stays interpreted: mypyc does not
# keep its msgspec AccountSnapshot weakly referenceable, which the pre-trade checker relies on.
#
#     bash benchmarks/risk_cycle_compiled.sh [risk_cycle.py options, e.g. --runs 3]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/src" "$scratch/src"
cd "$scratch/src"
modules=(
  gpt_trader/features/live_trade/risk_calculations.py
  gpt_trader/features/live_trade/risk/pretrade.py
  gpt_trader/features/live_trade/risk/guards.py
)
echo "compiling ${#modules[@]} risk modules with mypyc ..."
"$py" -m mypyc "${modules[@]}" >"$scratch/mypyc.log" 2>&1 || { tail -40 "$scratch/mypyc.log"; exit 1; }
PYTHONPATH="$scratch/src" "$py" - <<'PY'
import gpt_trader.features.live_trade.risk.pretrade as m
assert m.__file__.endswith(".so"), f"not compiled: {m.__file__}"
print(f"using {m.__file__.rsplit('/', 1)[-1]}")
PY
cd "$root"
PYTHONPATH="$scratch/src" "$py" benchmarks/risk_cycle.py "$@"
