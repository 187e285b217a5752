"""The `tradekit` command. Bad input exits non-zero with one clear line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradekit.sim.server import SimServer


def _demo(args: argparse.Namespace) -> int:
    from tradekit.demo import run_demo

    ticks = (
        args.ticks if args.ticks is not None else (20_000 if args.exchange == "paper" else 2_000)
    )
    run_demo(seed=args.seed, ticks=ticks, db=args.db, out=sys.stdout, exchange=args.exchange)
    return 0


SIM_HOME = Path("~/.tradekit/sim")
SIM_PORT = 8765


def _sim_serve(args: argparse.Namespace) -> int:
    """Run the simulator until Ctrl-C; print where it is and what a client needs."""
    import logging
    import signal
    import time

    from tradekit.sim.server import SimServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: as Ctrl-C
    home = SIM_HOME.expanduser()
    keys_file = Path(args.keys_file) if args.keys_file else home / "cdp_api_key.json"
    faults = _parse_faults(args.fault or [])
    server = SimServer(
        host=args.host,
        port=args.port,
        tls=args.tls,
        keys_file=keys_file,
        state_path=args.state,
        rate_limit_per_s=args.rate_limit,
        tls_dir=home / "tls" if args.tls else None,
        log_level="info",
    )
    server.state.faults.update(faults)  # refused with the fault's name if unknown or bad
    try:
        server.start()
        market = "off" if args.no_market else _start_market(server, args.prices, args.speed)
        print(f"tradekit sim: a Coinbase Advanced Trade look-alike on {server.base_url}")
        print(f"  REST         {server.base_url}/api/v3/brokerage")
        print(f"  WebSocket    {server.ws_url}   (user data also at {server.ws_user_url})")
        print(f"  SDK base_url {server.host_port}")
        print(f"  key file     {server.keys_file}")
        if server.ca_file is not None:
            print(f"  CA file      {server.ca_file}   (e.g. REQUESTS_CA_BUNDLE={server.ca_file})")
        print(f"  state        {args.state or 'in memory (lost on exit)'}")
        print(f"  market       {market}")
        print(f"  admin        {server.base_url}/sim/admin/state (loopback only)")
        print(f"  admin token  {server.admin_token}   (X-Tradekit-Admin-Token; also in")
        print(f"               {server.admin_token_file})")
        print("Ctrl-C stops.", flush=True)
        while server.running:
            time.sleep(0.5)
        print("tradekit sim: the server stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tradekit sim: stopped", file=sys.stderr)
        return 0
    finally:
        server.stop()


def _parse_faults(specs: list[str]) -> dict[str, object]:
    """`--fault NAME=VALUE` (a number, `null`, or a string such as "POST /orders")."""
    import json

    faults: dict[str, object] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"--fault {spec!r}: expected NAME=VALUE, e.g. rest_error_rate=0.1")
        try:
            faults[name] = json.loads(raw)
        except ValueError:
            faults[name] = raw
    return faults


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_market(server: SimServer, prices: str | None, speed: str) -> str:
    """Start the price driver of `tradekit.sim.market` (`start_market(state, prices,
    speed)`), when that module has one: the market is the WebSocket half's."""
    import importlib

    try:
        module = importlib.import_module("tradekit.sim.market")
    except ImportError:
        return "off (no tradekit.sim.market)"
    start = getattr(module, "start_market", None)
    if start is None:
        return "off (tradekit.sim.market has no start_market)"
    server.call(lambda state: start(state, prices, speed))
    return f"{prices or 'default prices'} at {speed}"


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from tradekit.config import load_config

    config = load_config(args.config)
    return asyncio.run(_run_portfolio(config, args))


async def _run_portfolio(config: object, args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tradekit.engine.session import open_session

    async with open_session(
        config,  # type: ignore[arg-type]
        args.db,
        live=args.live,
        speed=args.speed,
    ) as session:
        where = "LIVE on Coinbase" if session.live else f"tradekit sim at {session.sim.base_url}"
        print(f"tradekit run: {len(session.portfolio.drivers)} pairs, {where}, store {args.db}")
        handle = session.portfolio.start()
        deadline = None if args.for_s is None else time.monotonic() + args.for_s
        last = 0.0
        while handle.running and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.2)
            if time.monotonic() - last >= args.status_every:
                last = time.monotonic()
                for row in session.portfolio.status():
                    print(_status_line(row))
        error = handle.exception
        await handle.stop()
        if error is not None:
            raise error
        print("tradekit run: stopped; open stops are left in place")
        for row in session.portfolio.status():
            print(_status_line(row))
    return 0


def _status_line(row: dict[str, object]) -> str:
    stop = row["stop"] if row["stop"] is not None else "-"
    held = row["open_size"] if row["open_size"] is not None else 0
    return (
        f"  {row['product_id']:<8} {row['state']:<6} {row['phase']:<11} "
        f"last {row['last_price']}  held {held}  stop {stop}  P&L {row['realized_pnl']}"
    )


def build_parser() -> argparse.ArgumentParser:
    from tradekit import __version__

    parser = argparse.ArgumentParser(
        prog="tradekit",
        description="Limit-order entries and ratchet-only trailing stops for Coinbase spot.",
    )
    parser.add_argument("--version", action="version", version=f"tradekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short deterministic paper-trading run")
    demo.add_argument("--seed", type=int, default=7, help="price path seed (default 7)")
    demo.add_argument(
        "--ticks", type=int, default=None, help="ticks to run (default 20000; 2000 on sim)"
    )
    demo.add_argument(
        "--exchange",
        choices=["paper", "sim"],
        default="paper",
        help="paper (in-memory) or sim (tradekit sim over real sockets, started here)",
    )
    demo.add_argument("--db", default=None, help="SQLite file to keep (default: temporary)")
    demo.set_defaults(func=_demo)

    run = sub.add_parser(
        "run",
        help="run a portfolio from a config (on tradekit sim unless --live with real keys)",
    )
    run.add_argument("config", help="a TOML config (see examples/portfolio.toml)")
    run.add_argument("--for", dest="for_s", type=float, default=None, help="seconds to run")
    run.add_argument("--live", action="store_true", help="trade on Coinbase (real keys)")
    run.add_argument("--db", default="tradekit-run.sqlite", help="the SQLite store")
    run.add_argument("--speed", default="10x", help="the simulator's market speed")
    run.add_argument("--status-every", type=float, default=5.0, help="seconds between status")
    run.set_defaults(func=_run)

    sim = sub.add_parser("sim", help="the Coinbase Advanced Trade simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser(
        "serve",
        help="serve the simulator until Ctrl-C",
        description="Serve a Coinbase Advanced Trade look-alike (REST and WebSocket) that "
        "really trades, on a paper exchange. Prints the URLs, the key file and the CA file.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=SIM_PORT, help=f"port, 0 = a free one (default {SIM_PORT})"
    )
    serve.add_argument(
        "--keys-file",
        default=None,
        help=f"Coinbase JSON key file, made if missing (default {SIM_HOME}/cdp_api_key.json)",
    )
    serve.add_argument(
        "--tls", action="store_true", help=f"HTTPS/WSS with a local CA in {SIM_HOME}/tls"
    )
    serve.add_argument(
        "--state", default=None, help="journal file: orders survive a restart (default: none)"
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="private requests per second per key (default 30)",
    )
    serve.add_argument(
        "--prices", default=None, help="market price source, e.g. seed:0 or csv:PATH"
    )
    serve.add_argument(
        "--speed", default="realtime", help="market speed: realtime, 10x, max (default realtime)"
    )
    serve.add_argument(
        "--no-market", action="store_true", help="no price driver (print trades via the admin API)"
    )
    serve.add_argument(
        "--fault",
        action="append",
        metavar="NAME=VALUE",
        help="a fault from the start, e.g. rest_error_rate=0.1, ws_drop_after=100, "
        "ws_skip_seq=0.01 (repeatable; also POST /sim/admin/faults at run time)",
    )
    serve.set_defaults(func=_sim_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tradekit.config import ConfigError
    from tradekit.exchange.types import ExchangeError
    from tradekit.store.sqlite import StoreError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("tradekit: interrupted", file=sys.stderr)
        return 130
    except ConfigError as exc:  # one line, naming every bad field with its path
        problems = "; ".join(exc.problems)
        print(f"tradekit: error: {exc.source}: {problems}", file=sys.stderr)
        return 2
    except (ValueError, OSError, StoreError, ExchangeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tradekit: error: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
