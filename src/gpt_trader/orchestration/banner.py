"""The start-up banner: every setting and limit in force, in plain text (no rich: the live process stays
lean while it trades; the end-of-session summary table is `summary.py`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from gpt_trader.orchestration.configuration import BotConfig
    from gpt_trader.orchestration.service_registry import ServiceRegistry


def caps_lines(config: BotConfig) -> list[tuple[str, str]]:
    """Which per-symbol caps files are in force (banner and config-check); their absence said loudly."""
    risk = config.risk
    spot = risk.spot_caps_file
    rows = [
        (
            "per-symbol caps",
            f"{spot} (risk.limits_file)"
            if spot
            else "NONE: no per-symbol caps from a file (risk.limits_file: none)"
            + (f"; inline symbol_limits only: {', '.join(sorted(risk.symbol_limits))}" if risk.symbol_limits else ""),
        )
    ]
    from gpt_trader.orchestration.service_registry import perps_possible

    if perps_possible(config):
        perps = risk.perps_caps_file
        rows.append(
            (
                "perps caps",
                f"{perps} (risk.perps_limits_file; perp symbols trade only once INTX access is confirmed)"
                if perps
                else "NONE: no per-symbol caps for perps (risk.perps_limits_file: none)",
            )
        )
    return rows


def print_banner(registry: ServiceRegistry, out: TextIO | None = None) -> None:
    """Every setting and limit in force, as plain `key  value` lines (rich is left for the end summary: the
    live process does not load it while it trades)."""
    cfg = registry.config
    rows: list[tuple[str, str]] = [
        ("venue", f"{registry.broker.name}{' (DRY RUN: nothing is sent)' if cfg.dry_run else ''}"),
        ("session", registry.session_id),
        ("symbols", ", ".join(cfg.symbols)),
        ("strategy", f"{cfg.strategy.name} {cfg.strategy.params} on {cfg.strategy.granularity_s}s bars"),
        ("sizing", cfg.sizing.method),
    ]
    window = cfg.trading_window
    rows.append(("trading window", f"{window.start}-{window.end} UTC" if window else "always open"))
    rows.extend(caps_lines(cfg))
    universe = set(cfg.symbols)
    for name, value in registry.risk.describe_limits():
        if "-" in name and name.isupper() and name not in universe:
            continue  # a per-symbol cap for a market this profile does not trade
        rows.append((f"limit: {name}", value))
    rows.append(("exits", exits_line(cfg)))
    rows.extend(("notice", notice) for notice in registry.notices)
    width = max(len(key) for key, _ in rows)
    lines = [f"GPT-Trader — profile {cfg.profile}"]
    lines += [f"  {key.ljust(width)}  {value}" for key, value in rows]
    print("\n".join(lines), file=out or sys.stdout, flush=True)


def exits_line(cfg: BotConfig) -> str:
    """The banner's protection line: the default exits and where the stops live (venue or this process)."""
    ex = cfg.exits
    if ex is None:
        what = "none by default (only decisions that carry exits are protected)"
    else:
        parts = [
            f"{name} {getattr(ex, name)}" for name in ("stop_loss", "take_profit", "trailing") if getattr(ex, name)
        ]
        what = f"{', '.join(parts)} ({'x ATR' + str(ex.atr_period) if ex.unit == 'atr' else 'fraction of price'})"
    if cfg.broker != "coinbase":
        return f"{what}; stops rest in the venue's matching engine"
    mode = cfg.coinbase.client_side_stops
    if mode == "always":
        return f"{what}; CLIENT-SIDE triggers: stops fire only while this bot runs"
    if mode == "never":
        return f"{what}; native brackets / stop-limits only (a product without them is refused)"
    return f"{what}; native brackets / stop-limits, client-side triggers where refused (counted: triggers.emulated)"
