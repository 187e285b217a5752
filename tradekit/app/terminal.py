"""`tradekit run`'s terminal view: a live table of the pairs while the portfolio runs, and
a summary of what happened when it ends (also on Ctrl-C).

On a terminal the table is redrawn in place (rich's `Live`); piped or redirected, a
timestamped block is printed every `status_every` seconds instead, so a log reads well.
Every figure goes through `tradekit.format` (prices and sizes at the product's
increments, money to the cent).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from tradekit import format as fmt

COLUMNS = (
    ("pair", "left"),
    ("state", "left"),
    ("phase", "left"),
    ("protection", "left"),
    ("last", "right"),
    ("held", "right"),
    ("stop", "right"),
    ("to stop", "right"),
    ("realized", "right"),
    ("unrealized", "right"),
)


def status_view(session: Any, started: float) -> Group:
    """The header (time, run time, events, feed health) and one row per pair."""
    pf = session.portfolio
    rows = pf.status()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in COLUMNS:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        p = r["product"]
        table.add_row(
            r["product_id"],
            r["state"].lower(),
            r["phase"].replace("_", " "),
            r["protection"],
            fmt.price(r["last_price"], p),
            fmt.size(r["open_size"], p),
            fmt.price(r["stop"], p),
            fmt.pct(r["stop_distance"]),
            fmt.signed_money(r["realized_pnl"]),
            fmt.signed_money(r["unrealized_pnl"]),
        )
    realized = sum((r["realized_pnl"] for r in rows), Decimal(0))
    unrealized = sum((r["unrealized_pnl"] or Decimal(0) for r in rows), Decimal(0))
    s = pf.stats
    feed = session.feed.stats
    mode = _shown_mode(session)
    header = Text.assemble(
        (f"{mode}  " if mode else "", "bold reverse"),
        (fmt.timestamp(time.time_ns()), "bold"),
        f"  running {time.monotonic() - started:,.0f} s  ",
        f"{fmt.count(s.messages, 'event')}, {fmt.count(s.commands, 'command')}  ",
        "P&L ",
        (fmt.signed_money(realized + unrealized), "bold"),
        f" (realized {fmt.signed_money(realized)}, unrealized {fmt.signed_money(unrealized)})",
    )
    health = Text(
        f"feed: {fmt.count(feed.messages, 'message')}, {fmt.count(feed.gaps, 'gap')}, "
        f"{fmt.count(feed.reconnects, 'reconnect')}, {fmt.count(feed.resyncs, 'resync')}, "
        f"{fmt.count(s.polls, 'REST poll')}, {fmt.count(s.too_old, 'old trade')} ignored",
        style="dim",
    )
    degraded = "; ".join(f"{pid}: {h.degraded[:80]}" for pid, h in pf.health.items() if h.degraded)
    if degraded:
        warning = Text(f"degraded (stops left in place, retrying): {degraded}", style="red")
        return Group(header, table, health, warning)
    return Group(header, table, health)


def summary_lines(session: Any, seconds: float, why: str) -> list[str]:
    """What the run did, per pair and in all, for the end (or an interruption)."""
    store = session.store
    pf = session.portfolio
    mode = _shown_mode(session)
    lines = [
        f"tradekit run{f' ({mode})' if mode else ''}: {why} after {seconds:,.1f} s; "
        + (
            "paper orders only, nothing was sent to the exchange"
            if mode == "PAPER"
            else "open stops are left in place"
        )
    ]
    total = Decimal(0)
    for r in pf.status():
        pid, p = r["product_id"], r["product"]
        commands = [c for c in store.journal(product_id=pid, kinds="command")]
        entries = sum(1 for c in commands if c["type"] == "PlaceLimitBuy")
        closed = store.closed_positions(pid)
        moves = sum(1 for m in store.stop_history(pid) if m["old_trigger"] is not None)
        fills = len(store.fills(pid))
        total += r["realized_pnl"]
        held = ""
        if r["open_size"]:
            held = (
                f", holding {fmt.size(r['open_size'], p)} (stop {fmt.price(r['stop'], p)},"
                f" unrealized {fmt.signed_money(r['unrealized_pnl'])})"
            )
        lines.append(
            f"  {pid:<9} {fmt.count(entries, 'entry')}, {fmt.count(fills, 'fill')}, "
            f"{fmt.count(len(closed), 'position')} closed, {fmt.count(moves, 'stop move')}, "
            f"realized {fmt.signed_money(r['realized_pnl'])}{held}"
        )
    quote = {str(pid).split("-", 1)[-1] for pid in pf.drivers}
    lines.append(
        f"  realized P&L {fmt.signed_money(total, quote.pop() if len(quote) == 1 else '')}"
        " (fees included)"
    )
    return lines + resting_lines(session)


def resting_lines(session: Any) -> list[str]:
    """What the run leaves on the exchange, order by order, and why (nothing unsaid)."""
    resting = session.portfolio.resting()
    if not resting:
        return ["  on the exchange: nothing of this run rests"]
    verb = "rests" if len(resting) == 1 else "rest"
    lines = [f"  on the exchange: {fmt.count(len(resting), 'order')} of this run {verb}"]
    for pid, order, why in resting:
        p = session.portfolio.drivers[pid].decision.product
        price = order.stop_price if order.stop_price is not None else order.limit_price
        lines.append(
            f"    {pid:<9} {order.side.value.lower()} {fmt.size(order.remaining, p)}"
            f" {'stop' if order.stop_price is not None else 'limit'} {fmt.price(price, p)}:"
            f" {why}"
        )
    return lines


def _shown_mode(session: Any) -> str:
    """PAPER or LIVE, said first wherever the run is shown ("" on the simulator)."""
    mode = str(getattr(session, "mode_label", ""))
    return mode if mode in ("PAPER", "LIVE") else ""


def console() -> Console:
    """A terminal's own width; piped, wide enough that no figure is cut."""
    probe = Console()
    return Console(highlight=False, soft_wrap=True, width=None if probe.is_terminal else 200)
