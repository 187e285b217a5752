"""The `tradekit` command. Bad input exits non-zero with one clear line.

Exit statuses: 0 a clean end; 2 fix something first (the config, the command line, a
damaged store); 75 the exchange or the network failed (start again: the run resumes from
its store); 77 the exchange refused the key; 130 interrupted; 1 an unexpected error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from tradekit.demo import run_demo

    ticks = (
        args.ticks if args.ticks is not None else (20_000 if args.exchange == "paper" else 2_000)
    )
    run_demo(seed=args.seed, ticks=ticks, db=args.db, out=sys.stdout, exchange=args.exchange)
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    """List the deck (or show one scenario, with its reference run's outline)."""
    from tradekit.teaching.scenario import deck, load

    if args.name:
        sc = load(args.name)
        print(sc.describe())
        print(f"  {sc.product} from {sc.start_price}, {sc.ticks} ticks, seed {sc.seed}")
        print(f"  rules: trail {sc.trail_pct}, stop-limit buffer {sc.stop_limit_buffer_pct}")
        print(f"  file: {sc.source}")
        return 0
    for sc in deck():
        print(f"{sc.name:<18} {sc.title}: {sc.summary}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from tradekit.config import load_config

    config = load_config(args.config)
    return asyncio.run(_run_portfolio(config, args))


async def _run_portfolio(config: object, args: argparse.Namespace) -> int:
    """Run until `--for` seconds, the end of the feed, an error or Ctrl-C; a live view
    meanwhile, a summary at the end whatever ended it."""
    import asyncio
    import time

    from rich.live import Live

    from tradekit.app.session import open_session
    from tradekit.app.terminal import console, status_view, summary_lines

    out = console()
    async with open_session(
        config,  # type: ignore[arg-type]
        args.db,
        live=args.live,
        mode="paper" if args.paper else None,
        speed=args.speed,
    ) as session:
        out.print(f"tradekit run: {len(session.portfolio.drivers)} pairs, {session.where}")
        handle = session.start()
        started = time.monotonic()
        deadline = None if args.for_s is None else started + args.for_s
        why = "stopped"
        live = Live(console=out, auto_refresh=False) if out.is_terminal else None
        try:
            if live is not None:
                live.start()
            last = 0.0
            while handle.running and (deadline is None or time.monotonic() < deadline):
                await asyncio.sleep(0.2)
                now = time.monotonic()
                if live is not None:
                    live.update(status_view(session, started), refresh=True)
                elif now - last >= args.status_every:
                    last = now
                    out.print(status_view(session, started))
            if not handle.running:
                why = "the portfolio ended"
        except asyncio.CancelledError:  # Ctrl-C (asyncio.run cancels this task)
            why = "interrupted"
        finally:
            if live is not None:
                live.stop()
        error = handle.exception
        await handle.stop(keep_entries=args.keep_entries)
        if error is not None:
            why = f"stopped by an error ({type(error).__name__})"
        out.print(status_view(session, started))
        for line in summary_lines(session, time.monotonic() - started, why):
            out.print(line)
        if error is not None:
            raise error
    if why == "interrupted":
        raise KeyboardInterrupt
    return 0


def _check(args: argparse.Namespace) -> int:
    """`tradekit check CONFIG [--live]`: the preflight table; exit 1 when a check fails."""
    from rich.table import Table

    from tradekit.app.terminal import console
    from tradekit.config import load_config
    from tradekit.exchange.coinbase import CoinbaseRest
    from tradekit.exchange.coinbase.credentials import Credentials, CredentialsError
    from tradekit.exchange.coinbase.preflight import (
        Caps,
        PairNeed,
        Row,
        exit_status,
        key_file_row,
        run_checks,
    )

    config = load_config(args.config)
    ex = config.exchange
    paper = ex.kind == "paper"
    rows: list[Row] = []
    creds = None
    if paper:
        base_url = args.base_url or ex.market_rest_url
        rows.append(Row("key", "-", "skip", "paper trading needs no key"))
    else:
        base_url = args.base_url or "https://api.coinbase.com"
        problem = ""
        try:
            creds = Credentials.from_file(ex.keys_file) if ex.keys_file else Credentials.from_env()
        except CredentialsError as exc:
            problem = str(exc)
        rows.append(key_file_row(ex.keys_file, problem))
    needs = [PairNeed(p.product_id, p.size, p.quote_budget) for p in config.pairs]
    p = config.portfolio
    caps = Caps(p.max_open_positions, p.max_quote_exposure, p.max_quote_exposure_per_pair)
    with CoinbaseRest(creds, base_url, ca_file=args.ca_file or ex.market_ca_file) as rest:
        rows += run_checks(
            rest,
            needs,
            caps,
            live=args.live,
            paper_balances=dict(ex.paper_balances) if paper else None,
        )
    out = console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("check", "subject", "result", "detail"):
        table.add_column(name, no_wrap=name != "detail")
    styles = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
    for r in rows:
        table.add_row(r.check, r.subject, f"[{styles[r.status]}]{r.status.upper()}[/]", r.detail)
    mode = "PAPER" if paper else "LIVE" if args.live else "read-only"
    out.print(f"tradekit check: {args.config} against {base_url} ({mode})")
    out.print(table)
    status = exit_status(rows)
    failed = sum(1 for r in rows if r.status == "fail")
    warned = sum(1 for r in rows if r.status == "warn")
    verdict = "ready" if status == 0 else "NOT ready"
    out.print(f"tradekit check: {verdict}: {failed} failed, {warned} to look at")
    return status


def _market_data(spec: str, product_id: str) -> object:
    """`--data`: a candle file (.csv, .parquet), a recording (.jsonl) or seed:SEED[:TICKS]."""
    if spec.startswith("seed:"):
        from decimal import Decimal

        from tradekit.data.generators import PricePath

        parts = spec.split(":")
        try:
            seed = int(parts[1])
            ticks = int(parts[2]) if len(parts) > 2 else 100_000
        except (IndexError, ValueError):
            raise ValueError(f"--data {spec!r}: expected seed:SEED or seed:SEED:TICKS") from None
        start = {"BTC-USD": "60000", "ETH-USD": "3000", "SOL-USD": "150"}.get(product_id, "100")
        return PricePath(product_id, Decimal(start), ticks, seed=seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"--data {spec}: no such file (a seeded path is seed:SEED[:TICKS])")
    return path


def _backtest(args: argparse.Namespace) -> int:
    import json

    from tradekit.backtest import backtest, resolve_spec

    spec = resolve_spec(args.config, args.product)
    data = _market_data(args.data, spec.product_id)
    result = backtest(
        data, spec, engine=args.engine, product_id=spec.product_id, progress=not args.json
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(result.summary())
    return 0


def _candles(args: argparse.Namespace) -> int:
    from tradekit.data.history import fetch_candles

    output = args.output or f"{args.product}-{args.granularity}.parquet"
    frame = fetch_candles(
        args.product,
        args.start,
        args.end,
        args.granularity,
        base_url=args.base_url,
        cache_dir="" if args.no_cache else args.cache,
        output=output,
        ca_file=args.ca_file,
    )
    first, last = frame["start"].iloc[0], frame["start"].iloc[-1]  # never empty: it raises
    print(
        f"tradekit candles: {len(frame)} {args.granularity} candles of {args.product}, "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC, written to {output}"
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import json

    from tradekit.backtest import resolve_spec, sweep
    from tradekit.backtest.sweep import parse_axis
    from tradekit.core.money import plain

    spec = resolve_spec(args.config, args.product)
    data = _market_data(args.data, spec.product_id)
    grid = dict(parse_axis(g) for g in args.grid)
    executor = None
    if args.scheduler:
        from distributed import Client

        executor = Client(args.scheduler)  # type: ignore[no-untyped-call]
    try:
        frame = sweep(
            grid,
            data,
            executor,
            params=spec,
            engine=args.engine,
            workers=args.workers,
            progress=not args.json,
        )
    finally:
        if executor is not None:
            executor.close()  # type: ignore[no-untyped-call]
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.json:
        from decimal import Decimal

        for row in frame.to_dict(orient="records"):
            print(
                json.dumps({k: plain(v) if isinstance(v, Decimal) else v for k, v in row.items()})
            )
        return 0
    shown = frame.copy()
    for column in ("pnl", "final_equity", "fees"):
        shown[column] = [f"{v:,.2f}" for v in shown[column]]
    shown["return"] = [f"{float(v):+.2%}" for v in frame["return"]]
    shown["max_drawdown"] = [f"{v:.2%}" for v in frame["max_drawdown"]]
    shown["win_rate"] = ["-" if v is None or v != v else f"{v:.0%}" for v in frame["win_rate"]]
    shown["exposure"] = [f"{v:.0%}" for v in frame["exposure"]]
    print(shown.to_string(index=False))
    best = frame.iloc[int(frame["return"].map(float).idxmax())]
    axes = ", ".join(f"{k}={best[k]}" for k in grid)
    print(f"best return: {axes} ({float(best['return']):+.2%})")
    return 0


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
        help="run a portfolio from a config (on tradekit sim; --paper on the live market "
        "with paper orders; --live with real keys)",
    )
    run.add_argument("config", help="a TOML config (see examples/portfolio.toml)")
    run.add_argument("--for", dest="for_s", type=float, default=None, help="seconds to run")
    run.add_argument(
        "--keep-entries",
        action="store_true",
        help="leave resting entry buys on the exchange at the end (default: cancelled)",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument("--live", action="store_true", help="trade on Coinbase (real keys)")
    where.add_argument(
        "--paper",
        action="store_true",
        help="paper trading on Coinbase's live public market: no key, orders never sent",
    )
    run.add_argument("--db", default="tradekit-run.sqlite", help="the SQLite store")
    run.add_argument("--speed", default="10x", help="the simulator's market speed")
    run.add_argument(
        "--status-every",
        type=float,
        default=5.0,
        help="seconds between status blocks when the output is not a terminal",
    )
    run.set_defaults(func=_run)

    check = sub.add_parser(
        "check",
        help="preflight before trading: keys, products, minimums, balances, fees, clock, "
        "foreign open orders",
        description="Check what a run of CONFIG needs, on Coinbase (or --base-url): a table "
        "and exit status 0 (ready), 1 (a check failed), 2 (bad input). Only reads, except "
        "--live's edit preview (POST /orders/edit_preview, which changes nothing).",
    )
    check.add_argument("config", help="a TOML config")
    check.add_argument(
        "--live", action="store_true", help="also preview a stop edit (learns if stops move)"
    )
    check.add_argument("--base-url", default=None, help="another server (e.g. tradekit sim)")
    check.add_argument("--ca-file", default=None, help="CA file for the server's TLS")
    check.set_defaults(func=_check)

    sc = sub.add_parser(
        "scenarios",
        help="the deck of seeded teaching scenarios",
        description="List the seeded scenarios that drive the exercises, the classroom "
        "simulator and backtests alike; with a NAME, show that one.",
    )
    sc.add_argument("name", nargs="?", default=None, help="a scenario of the deck, or a file")
    sc.set_defaults(func=_scenarios)

    sim = sub.add_parser("sim", help="the Coinbase Advanced Trade simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser(
        "serve",
        help="serve the simulator until Ctrl-C",
        description="Serve a Coinbase Advanced Trade look-alike (REST and WebSocket) that "
        "really trades, on a paper exchange. Prints the URLs, the key file and the CA file.",
    )
    from tradekit.sim import serve as sim_serve

    sim_serve.add_arguments(serve)
    serve.set_defaults(func=sim_serve.run)

    bt = sub.add_parser(
        "backtest",
        help="one config over a price source (candles, a recording, a seeded path)",
        description="Backtest a pair's rules (the same DecisionEngine and paper exchange as "
        "live trading) on market data. CONFIG is a `tradekit run` TOML file; an optional "
        '[backtest] table sets balance, maker_fee, taker_fee and entry (e.g. entry = "once").',
    )
    bt.add_argument("config", help="a TOML config (its first pair, or --product's)")
    bt.add_argument(
        "--data",
        required=True,
        help="candles (.csv, .parquet), a recording (.jsonl) or seed:SEED[:TICKS]",
    )
    bt.add_argument("--product", default=None, help="which pair of the config")
    bt.add_argument(
        "--engine",
        choices=["events", "fast", "auto"],
        default="events",
        help="events (default), fast (NumPy, refuses what it cannot reproduce), auto",
    )
    bt.add_argument("--json", action="store_true", help="the whole result as JSON (exact)")
    bt.set_defaults(func=_backtest)

    cd = sub.add_parser(
        "candles",
        help="real history from Coinbase's public candles endpoint (no key), cached",
        description="Download candles page by page (under the 350-a-request limit), rate-"
        "limited, cached on disk so an interrupted download resumes, with a progress bar.",
    )
    cd.add_argument("product", help="e.g. BTC-USD")
    cd.add_argument("--granularity", default="ONE_MINUTE", help="ONE_MINUTE ... ONE_DAY")
    cd.add_argument("--start", required=True, help="unix seconds or ISO-8601 (UTC)")
    cd.add_argument("--end", required=True, help="unix seconds or ISO-8601 (UTC), excluded")
    cd.add_argument("-o", "--output", default=None, help="a .parquet or .csv file")
    cd.add_argument("--base-url", default=None, help="another server (e.g. tradekit sim)")
    cd.add_argument("--ca-file", default=None, help="CA file for the server's TLS")
    cd.add_argument("--cache", default=None, help="cache folder (default ~/.tradekit/candles)")
    cd.add_argument("--no-cache", action="store_true", help="fetch everything, keep nothing")
    cd.set_defaults(func=_candles)

    sw = sub.add_parser(
        "sweep",
        help="many backtests over a grid, on a process pool or a Dask cluster",
        description="Backtest every combination of --grid axes; one row each. Axes: "
        "NAME=START:STOP:COUNT or NAME=V1,V2 (trail_pct, min_ratchet, stop_limit_buffer_pct, "
        "quote_budget, size, max_entry_wait, entry_offset_pct...).",
    )
    sw.add_argument("config", help="a TOML config (the base parameters)")
    sw.add_argument("--data", required=True, help="as for tradekit backtest")
    sw.add_argument("--grid", action="append", required=True, metavar="NAME=SPEC")
    sw.add_argument("--product", default=None, help="which pair of the config")
    sw.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    sw.add_argument("--scheduler", default=None, help="a Dask scheduler address (tcp://...)")
    sw.add_argument("--engine", choices=["auto", "fast", "events"], default="auto")
    sw.add_argument("--csv", default=None, help="also write the table to a CSV file")
    sw.add_argument("--json", action="store_true", help="one JSON object per configuration")
    sw.set_defaults(func=_sweep)
    return parser


# Exit statuses: what a service manager (examples/tradekit.service) is to do next.
EXIT_FIX = 2  # a person must fix something first: the config, the command line, the store
EXIT_EXCHANGE = 75  # the exchange or the network failed (EX_TEMPFAIL): start again later
EXIT_REFUSED = 77  # the exchange refused our key (EX_NOPERM): a person must look


def exchange_status(exc: BaseException) -> int:
    """EXIT_REFUSED when the key was refused anywhere in the error's chain, else
    EXIT_EXCHANGE: an outage, a bad reply, a request refused, all of which pass."""
    from tradekit.exchange.coinbase.common import AuthenticationError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AuthenticationError):
            return EXIT_REFUSED
        seen = seen.__cause__ or seen.__context__
    return EXIT_EXCHANGE


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
        return EXIT_FIX
    except (ExchangeError, ConnectionError, TimeoutError) as exc:
        status = exchange_status(exc)
        then = "a person must look" if status == EXIT_REFUSED else "start again later"
        first = _first_line(exc)
        if first.endswith(("ConnectError", "ConnectTimeout")):  # the host did not answer
            where = getattr(args, "base_url", None) or "the exchange"
            first += f": cannot reach {where} (is the address right, the server up? a proxy?)"
        print(f"tradekit: exchange error ({then}): {first}", file=sys.stderr)
        return status
    except (ValueError, OSError, StoreError) as exc:
        print(f"tradekit: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_FIX


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
