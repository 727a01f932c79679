"""`perps-bot exchange-sim` / `python -m gpt_trader.exchange_sim`: run the simulator until interrupted.

Prints exactly one JSON line on stdout once listening (URLs and the credentials it accepts); logs go
to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import Annotated

import typer

from gpt_trader.exchange_sim.intx import INTX_DENIALS
from gpt_trader.exchange_sim.server import ExchangeSimulator, SimulatorConfig


@dataclass
class SimArgs:
    host: str = "127.0.0.1"
    port: int = 8765
    seed: int = 42
    data: list[str] = field(default_factory=list)
    speed: float = 1.0
    faults: str = ""
    tls: bool = False
    cdp_key_file: str | None = None
    hmac_key: str | None = None
    hmac_secret: str | None = None
    rate_limit_private: int = 30
    rate_limit_public: int = 10
    intx_access: bool = True
    intx_denial: str = "scopes"


async def _serve(args: SimArgs, stop: asyncio.Event | None = None) -> None:
    config = SimulatorConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        data=list(args.data),
        speed=args.speed,
        faults=args.faults,
        tls=args.tls,
        cdp_key_file=args.cdp_key_file,
        hmac_key=args.hmac_key,
        hmac_secret=args.hmac_secret,
        rate_limit_private=args.rate_limit_private,
        rate_limit_public=args.rate_limit_public,
        intx_access=args.intx_access,
        intx_denial=args.intx_denial,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with ExchangeSimulator(config) as sim:
        sys.stdout.write(json.dumps(sim.info()) + "\n")
        sys.stdout.flush()
        await stop.wait()


def run_simulator(args: SimArgs) -> None:
    """Blocking entry point: serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve(args))


def exchange_sim_command(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic market and ids")] = 42,
    data: Annotated[
        list[str] | None,
        typer.Option(help="Replay file (candle or trade CSV[.gz]); 'PRODUCT=FILE' maps it, default BTC-USD"),
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second")] = 1.0,
    faults: Annotated[str, typer.Option(help="Fault spec, e.g. 'latency:50,http429:3' (see exchange_sim.faults)")] = "",
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS/WSS with a generated self-signed cert")] = False,
    cdp_key_file: Annotated[str | None, typer.Option(help="CDP key JSON {name, privateKey} to accept")] = None,
    hmac_key: Annotated[str | None, typer.Option(help="Legacy HMAC key id to accept")] = None,
    hmac_secret: Annotated[str | None, typer.Option(help="Legacy HMAC secret to accept")] = None,
    rate_limit_private: Annotated[int, typer.Option(help="Private req/s per key (0 = off)")] = 30,
    rate_limit_public: Annotated[int, typer.Option(help="Public req/s per IP (0 = off)")] = 10,
    intx_access: Annotated[
        bool, typer.Option("--intx-access/--no-intx-access", help="Account has INTX (perpetuals) access")
    ] = True,
    intx_denial: Annotated[
        str, typer.Option(help="Without INTX access, INTX routes answer: scopes (403) or not_found (404)")
    ] = "scopes",
) -> None:
    """Run the Coinbase-compatible exchange simulator."""
    if (hmac_key is None) != (hmac_secret is None):
        raise typer.BadParameter("--hmac-key and --hmac-secret must be given together")
    if speed <= 0:
        raise typer.BadParameter(f"--speed must be > 0, got {speed}")
    if intx_denial not in INTX_DENIALS:
        raise typer.BadParameter(f"--intx-denial={intx_denial!r} is not allowed; allowed: {', '.join(INTX_DENIALS)}")
    run_simulator(
        SimArgs(
            host=host,
            port=port,
            seed=seed,
            data=list(data or []),
            speed=speed,
            faults=faults,
            tls=tls,
            cdp_key_file=cdp_key_file,
            hmac_key=hmac_key,
            hmac_secret=hmac_secret,
            rate_limit_private=rate_limit_private,
            rate_limit_public=rate_limit_public,
            intx_access=intx_access,
            intx_denial=intx_denial,
        )
    )


def main() -> None:
    typer.run(exchange_sim_command)
