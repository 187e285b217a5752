"""The fast path's inner loops, compiled (Numba): one position's trailing stop, trade
by trade, and the search for an entry's fill.

They are the sequential form of the rules `tradekit.backtest.fast` states (the same
integer arithmetic on price steps, the same order of events), so they are exact; the
Python around them books sizes, fees and P&L in Decimal. A NumPy formulation in windows
needs a temporary array per window and a Python round trip per position; one compiled
pass over the trades holds no more than a few integers. `cache=True` keeps the compiled
code beside this file, so only the first run on a machine pays for compiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# trail() outcomes
OPEN = 0  # the data ended with the position open
EXIT = 1  # the stop filled
GAP = 2  # a trade gapped through the stop's limit: the stop rests unfilled (refused)


@njit(cache=True, nogil=True)
def first_at_or_below(P: Any, start: int, end: int, level: int) -> int:
    """The first index in [start, end) with P <= level, else -1."""
    for i in range(start, end):
        if P[i] <= level:
            return i
    return -1


@njit(cache=True, nogil=True)
def first_at_or_after(T: Any, start: int, ts: int) -> int:
    """The first index from `start` on with T >= ts (len(T): none); T never falls."""
    return start + int(np.searchsorted(T[start:], ts, side="left"))


@njit(cache=True, nogil=True)
def trail(
    P: Any,
    j: int,
    market: int,
    high: int,
    trigger: int,
    kn: int,
    kd: int,
    ln: int,
    ld: int,
    mn: int,
    md: int,
    bars: bool,
    at_limit: bool,
    cash: float,
    size_q: float,
    peak: float,
    worst: float,
    move_ticks: Any,
    move_levels: Any,
) -> tuple[int, int, int, int, int, float, float]:
    """Follow a position filled at trade `j` (the market then at `market`; its stop at
    `trigger`, trailing `high`) to the trade that fills its stop.

    Returns (outcome, tick, trade price, exit price, stop moves, peak, worst): the
    stop moves are written to `move_ticks` / `move_levels` while they have room (the
    caller gives bigger ones and calls again when the count says they were short);
    `peak` / `worst` carry the drawdown (equity = cash + size_q x price).
    """
    n = len(P)
    moves = 0
    step_up = md + mn
    if bars and market > P[j] and P[j] <= trigger:
        # the rest of the leg into waypoint j passes the new stop's trigger
        limit = trigger * ln // ld
        return EXIT, j, trigger, limit if at_limit else trigger, moves, peak, worst
    for i in range(j + 1, n):
        p = P[i]
        if p <= trigger:
            price = p
            if bars and i % 4 != 0:
                price = trigger  # inside a bar: the path meets the trigger itself
            limit = trigger * ln // ld
            if price < limit:
                return GAP, i, price, limit, moves, peak, worst
            return EXIT, i, price, limit if at_limit else price, moves, peak, worst
        if p > high:
            high = p
            candidate = high * kn // kd
            if candidate * md > trigger * step_up:
                trigger = candidate
                if moves < len(move_ticks):
                    move_ticks[moves] = i
                    move_levels[moves] = candidate
                moves += 1
        top = float(high) * size_q + cash
        if top > peak:
            peak = top
        fall = 1.0 - (float(p) * size_q + cash) / peak
        if fall > worst:
            worst = fall
    return OPEN, n, 0, 0, moves, peak, worst


@njit(cache=True, nogil=True)
def equity_curve(
    P: Any, q: float, fill_ticks: Any, cash: Any, held: Any, prices: Any, equity: Any
) -> None:
    """prices[i] = P[i] x q, equity[i] = held x prices[i] + cash, where cash and held
    are those after every fill at or before trade i (`cash[k]`/`held[k]`: after k)."""
    k = 0
    nf = len(fill_ticks)
    for i in range(len(P)):
        while k < nf and fill_ticks[k] <= i:
            k += 1
        p = P[i] * q
        prices[i] = p
        equity[i] = held[k] * p + cash[k]
