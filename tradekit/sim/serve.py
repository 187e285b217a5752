"""`tradekit sim serve` and `python -m tradekit.sim`: the simulator (or a classroom) on a
socket until Ctrl-C. The simulator's own entry point, so that `python -m tradekit.sim`
needs nothing of the layers above it; `tradekit.cli` adds these options to its `sim
serve` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradekit.sim.server import SimServer


SIM_HOME = Path("~/.tradekit/sim")
SIM_PORT = 8765


def run(args: argparse.Namespace) -> int:
    """Run the simulator until Ctrl-C; print where it is and what a client needs."""
    import logging
    import signal

    from tradekit.sim.server import SimServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: as Ctrl-C
    if args.roster is not None:
        return _classroom_serve(args)
    if args.keys_dir is not None or args.scenario is not None:
        raise ValueError("--keys-dir and --scenario go with --roster N (a classroom)")
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

    def banner() -> None:
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

    return _serve_until_stopped(server, banner)


def _serve_until_stopped(server: SimServer, banner: Callable[[], None]) -> int:
    """Start `server`, say where it is (`banner`), and serve until Ctrl-C (exit 0) or
    until the server stops by itself (exit 1)."""
    import time

    try:
        server.start()
        banner()
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


def _classroom_serve(args: argparse.Namespace) -> int:
    """`tradekit sim serve --roster N --keys-dir DIR`: a class on one seeded market."""

    from tradekit.sim.admin import is_loopback
    from tradekit.sim.classroom import CLASSROOM, Classroom, ClassroomServer
    from tradekit.sim.market import parse_speed

    if args.keys_dir is None:
        raise ValueError("--roster needs --keys-dir DIR (where each student's key file goes)")
    if not is_loopback("127.0.0.1" if args.host == "localhost" else args.host):
        raise ValueError("a classroom serves loopback only (--host 127.0.0.1)")
    if args.state or args.tls or args.no_market or args.prices or args.keys_file:
        raise ValueError("--roster takes --scenario and --speed (not --state/--tls/--prices)")
    room = Classroom(
        args.roster,
        args.keys_dir,
        scenario=args.scenario or "calm-trend",
        speed=parse_speed(args.speed),
        loop_source=True,
    )
    server = ClassroomServer(room, port=args.port, log_level="info")

    def banner() -> None:
        first, last = min(room.key_files.values()), max(room.key_files.values())
        print(f"tradekit sim: a classroom of {len(room.students)} on {server.base_url}")
        print(f"  scenario     {room.scenario.name} (seed {room.scenario.seed}), {args.speed}")
        print(f"  key files    {first} ... {last.name} (one per student, 0600)")
        print(f"  moderator    {server.base_url}{CLASSROOM}/ (token in {room.token_file})")
        print(f"  recording    {room.recorder.path}")

    return _serve_until_stopped(server, banner)


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
    """Start the simulator's price driver (`tradekit.sim.market.start_market`)."""
    from tradekit.sim.market import start_market

    server.call(lambda state: start_market(state, prices, speed))
    return f"{prices or 'default prices'} at {speed}"


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """The options of `tradekit sim serve` (and `python -m tradekit.sim`)."""
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
    serve.add_argument(
        "--roster",
        type=int,
        default=None,
        metavar="N",
        help="a classroom: N students, each their own account and key on one market",
    )
    serve.add_argument(
        "--keys-dir", default=None, help="with --roster: student-01.json... and the moderator token"
    )
    serve.add_argument(
        "--scenario",
        default=None,
        help="with --roster: a scenario of the deck (tradekit scenarios)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tradekit.sim [options]`: the same as `tradekit sim serve [options]`."""
    parser = argparse.ArgumentParser(
        prog="python -m tradekit.sim",
        description="Serve a Coinbase Advanced Trade look-alike (REST and WebSocket) that "
        "really trades, on a paper exchange (as `tradekit sim serve`).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("tradekit sim: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tradekit sim: error: {first}", file=sys.stderr)
        return 2
