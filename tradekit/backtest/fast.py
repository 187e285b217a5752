"""The vectorised fast path: the event engine's answer, computed with NumPy, or a refusal.

For one position at a time on the paper exchange's fill model, a trailing-stop backtest
is a few array scans: the entry fills at the first trade at or under its limit, the
highest price is a running maximum, the stop's trigger is `floor(highest x (1 -
trail_pct))` on the price grid (ratcheting only by more than `min_ratchet`), and the
exit is the first trade at or under the trigger that rested *before* that trade. Prices
are integer counts of the quote increment (int64), every rounding is integer floor
division by the same ratios the core uses, so triggers, limits and fill prices are
exactly the core's; sizes, fees and P&L are then booked with the core's own
`PositionState` in Decimal. The result equals the event path's, Decimal for Decimal
(tests/backtest/test_fast_path.py checks hundreds of seeded paths and settings).

What it cannot reproduce exactly it refuses, with `FastPathRefused` naming why, found
while it runs: a pullback entry (its rolling window is not modelled), an entry the
exchange or the core would refuse (funds, minimum sizes), a stop that could not rest
because the market is already under it (the engine then exits with a limit sell), a
trade that gaps through a triggered stop's limit (the stop rests unfilled), prices off
the grid, and numbers too large for int64 arithmetic.

Fills are the paper exchange's: a buy at its limit (taker when it was marketable when
placed), a stop on its trigger trade at that trade's price (or at its limit with
`sell_fills="limit"`), as taker.

The pair's guards (a config's, see `BacktestSpec.sanity` / `.protection`):

- **Order guards** (`max_order_size`, `max_order_value`, `order_price_band_pct`): each
  entry is checked with the core's own `SanityParams.order_problem(size, limit, last)`;
  an entry the core would skip is refused, naming the guard.
- **The print filter** (`print_band_pct`): the core ignores a print outside the band
  around its reference price, which then changes the highs, the entry's trade count and
  the last price. The fast path does not model that; it runs only when it can prove
  that no print is ever ignored on the whole path, else it refuses. The proof (b the
  band, h = b/2): after a used print p the reference r has p within [r(1-h), r(1+h)]
  (the filter recentres on p whenever p leaves that inner half band), so r >= p/(1+h)
  and the next print p' is inside [r(1-b), r(1+b)] whenever |p' - p| <= p x h/(1+h):
  p' <= p + r h <= r(1+h) + r h, and p' >= p/(1+h) >= r(1-h)/(1+h) >= r(1-b). By
  induction from the first print (the first reference), every print is used. The test
  is exact integer arithmetic on price steps: |p' - p| x (2 bd + bn) < p x bn for
  b = bn/bd. Being strict in integers under 2^62, it holds with a margin of at least
  1/(2 bd + bn) of a step, far more than the filter's own rounding (60 significant
  digits) can take. Candles (open, low, high, close) pass it under the config's default
  5 % band while no bar's range, nor the gap between bars, exceeds ~2.4 %.
- **Protection settings** (`on_breach`, `exit_reprice_after`, `gap_exit_after`,
  `gap_exit_after_trades`) act only once a stop could not rest (a breach), an exit limit
  sell works, or a triggered stop rests unfilled (a gap-through). An exit limit sell
  only follows a breach, a gap-through or a kill switch's flatten (never sent in a
  backtest), and the fast path refuses both of the first (above), so on every run it
  completes they never act and its result does not depend on them (the seeded test
  draws them at random and still matches).

Time runs in the order the engine sees it: a trade first meets the orders resting from
before it (the paper exchange's `advance`), then the core reacts to it (a stop moved at
trade i rests from trade i + 1 on).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from tradekit.backtest.result import BacktestResult, StopHistory, Trade
from tradekit.backtest.spec import BacktestSpec
from tradekit.core.money import EXACT_CONTEXT, MONEY_CONTEXT, ZERO
from tradekit.core.position import PositionState, TrailParams

_MAX_WINDOW = 1 << 13  # the print band check's cache-sized blocks
_INT_LIMIT = 2**62


class FastPathRefused(ValueError):
    """The fast path cannot reproduce this run exactly; `reason` says why. The event
    path (`tradekit.backtest(..., engine="events")`) can."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the fast path refuses: {reason}; use the event path")
        self.reason = reason

    def __reduce__(self) -> tuple[type[FastPathRefused], tuple[str]]:
        return (type(self), (self.reason,))


def ratio(value: Decimal) -> tuple[int, int]:
    n, d = value.as_integer_ratio()
    return int(n), int(d)


def trail_ratios(trail: TrailParams) -> tuple[int, int, int, int, int, int]:
    """The trail as integer ratios, for the ratchet on price steps: (kn, kd) = 1 -
    trail_pct, (ln, ld) = 1 - stop_limit_buffer_pct, (mn, md) = min_ratchet."""
    with localcontext(MONEY_CONTEXT):
        keep = ratio(1 - trail.trail_pct)
        limit = ratio(1 - trail.stop_limit_buffer_pct)
    return (*keep, *limit, *ratio(trail.min_ratchet))


@dataclass
class _Drawdown:
    """The deepest fall of equity from its peak, tracked while positions are followed
    (equity moves only while something is held: cash + size x price)."""

    peak: float
    worst: float = 0.0
    cash: float = 0.0  # cash while the current position is held
    size_q: float = 0.0  # its size x the quote increment

    def flat(self, cash: float) -> None:
        if cash > self.peak:
            self.peak = cash
        elif self.peak > 0:
            self.worst = max(self.worst, (self.peak - cash) / self.peak)

    def filled(self, price: int) -> None:
        """The entry's fill trade (held from here on; `kernel.trail` follows the rest):
        the peak follows the highest price since the fill."""
        top = max(float(price) * self.size_q + self.cash, self.peak)
        self.worst = max(self.worst, 1.0 - (float(price) * self.size_q + self.cash) / top)
        self.peak = top


@dataclass
class _Position:
    entry_tick: int
    fill_tick: int
    limit: int  # entry limit, in increments
    size: Decimal
    buy_fee: Decimal
    exit_tick: int | None = None
    exit_price: int | None = None  # in increments
    sell_fee: Decimal = ZERO
    exit_trade: int = 0  # the trade's price the exit filled on (in increments)
    stop_ticks: Any = None  # ticks at which a new stop was acknowledged
    stop_triggers: Any = None  # its trigger, in increments
    stop_moves: int = 0


def run_fast(
    spec: BacktestSpec,
    prices: Any,
    times: Any,
    *,
    ticks_per_bar: int = 1,
    detail: bool = True,
    bars: bool = False,
) -> BacktestResult:
    """The backtest of `spec` on int64 `prices` (quote increments) and `times` (ns).

    `detail=False` skips what only tables and charts need (the stop history as Decimals,
    the equity samples): what a sweep wants. `bars`: the prices are bars' waypoints, four
    a bar, run as a continuous path (module docstring). Raises FastPathRefused.
    """
    import numpy as np

    from tradekit.backtest import kernel

    product = spec.product
    q = product.quote_increment
    entry = spec.entry
    if entry.rule == "pullback":
        raise FastPathRefused("a pullback entry (its rolling window is not modelled)")
    n = len(prices)
    P = np.ascontiguousarray(prices, dtype=np.int64)
    T = np.ascontiguousarray(times, dtype=np.int64)
    kn, kd, ln, ld, mn, md = trail_ratios(spec.trail())
    with localcontext(MONEY_CONTEXT):
        on, od = ratio(1 - entry.offset_pct)
    top = int(P.max()) if n else 0
    if top * max(kd, ld, od, md + mn, kn, ln, on) >= _INT_LIMIT:
        raise FastPathRefused("prices x parameter denominators overflow int64")
    if n and int(P.min()) <= 0:
        raise FastPathRefused("a price at or below zero")
    sanity = spec.sanity
    if sanity.print_band_pct is not None:
        _every_print_used(P, sanity.print_band_pct)
    guarded = (
        sanity.max_order_size is not None
        or sanity.max_order_value is not None
        or sanity.order_price_band_pct is not None
    )
    maker, taker = spec.maker_fee, spec.taker_fee
    hold_rate = max(maker, taker)
    wait = spec.max_entry_wait_ns
    cash = spec.balance
    positions: list[_Position] = []
    once = entry.rule == "once"
    dd = _Drawdown(float(cash))

    # the first signal
    if once:
        k = entry.at_tick
        if entry.at_ts is not None:
            k = max(k, int(np.searchsorted(T, entry.at_ts, side="left")))
    else:
        k = 0
    last = int(P[k]) if k < n else 0  # the market when the entry is placed
    while k < n:
        # -- entry placed at trade k (after the market moved to `last`) -------------------
        limit = last * on // od
        if limit <= 0:
            raise FastPathRefused("the entry's limit price rounds to 0")
        with localcontext(MONEY_CONTEXT):
            limit_d = limit * q
            size = spec.size
            if size is None:
                assert spec.quote_budget is not None
                size = product.size_down(spec.quote_budget / limit_d)
            problem = product.size_problem(size)
            if problem:
                raise FastPathRefused(f"the core would skip this entry ({problem})")
            if guarded:
                problem = sanity.order_problem(size, limit_d, last * q)
                if problem:
                    raise FastPathRefused(f"the core would skip this entry ({problem})")
        with localcontext(EXACT_CONTEXT):
            value = size * limit_d
            if product.quote_min_size > 0 and value < product.quote_min_size:
                raise FastPathRefused("the entry is under the product's quote_min_size")
            if value * (1 + hold_rate) > cash:
                raise FastPathRefused("the paper exchange would refuse the entry (funds)")
        crossing = limit >= last
        # fill: the first trade after k at or under the limit; timeout: the first trade
        # after k at least max_entry_wait after it (a fill on that trade still counts).
        # On bars the market stays at `last` (a crossing buy fills there, on trade k),
        # and when `last` is a point inside the leg into waypoint k, that waypoint is
        # still ahead
        timeout = kernel.first_at_or_after(T, k, int(T[k]) + wait)
        timeout = max(timeout, k + 1)
        stop_at = min(timeout, n - 1)
        ahead = bars and last > int(P[k])
        if bars and crossing:
            j = k
        else:
            first = k if ahead else k + 1
            j = kernel.first_at_or_below(P, first, stop_at + 1, limit) if first <= stop_at else -1
        if j < 0:
            if once or timeout >= n:
                break
            k = timeout + 1  # cancelled at `timeout`; a new signal on the next trade
            last = int(P[k]) if k < n else 0
            continue
        # the market when the buy filled: on bars, the limit itself when the leg into
        # waypoint j passed it (a jump to a bar's open fills at the open's trade)
        if bars and j == k:
            market = last
        elif bars and j % 4 and int(P[j]) < limit:
            market = limit
        else:
            market = int(P[j])
        with localcontext(EXACT_CONTEXT):
            buy_fee = limit_d * size * (taker if crossing else maker)
            cash -= size * limit_d + buy_fee
        pos = _Position(k, j, limit, size, buy_fee)
        positions.append(pos)
        dd.cash = float(cash)
        dd.size_q = float(size * q)
        dd.filled(int(P[j]))
        _trail(pos, P, spec, (kn, kd), (ln, ld), (mn, md), detail, dd, market, bars)
        if pos.exit_tick is None:
            break
        with localcontext(EXACT_CONTEXT):
            exit_d = pos.exit_price * q  # type: ignore[operator]
            pos.sell_fee = exit_d * size * taker
            cash += size * exit_d - pos.sell_fee
        dd.flat(float(cash))
        if once:
            break
        k = pos.exit_tick  # flat again on the exit trade: the rule signals on it
        last = pos.exit_trade
    return _result(spec, positions, P, T, cash, ticks_per_bar, detail, dd.worst, bars)


def _every_print_used(P: Any, band: Decimal) -> None:
    """Return when the print filter with this band provably uses every print of `P`
    (each move |P[i+1] - P[i]| x (2 bd + bn) < P[i] x bn, see the module docstring),
    else raise FastPathRefused. Scanned in cache-sized windows, one buffer for all."""
    import numpy as np

    n = len(P)
    if n < 2:
        return
    bn, bd = ratio(band)
    wide = 2 * bd + bn
    if int(P.max()) * max(wide, bn) >= _INT_LIMIT:
        raise FastPathRefused("prices x print_band_pct's denominator overflow int64")
    floor = int(P.min()) * bn  # a move under floor / wide is small beside any price
    buf = np.empty(min(n - 1, _MAX_WINDOW * 4), dtype=np.int64)
    for start in range(0, n - 1, len(buf)):
        end = min(n - 1, start + len(buf))
        moves = buf[: end - start]
        np.subtract(P[start + 1 : end + 1], P[start:end], out=moves)
        if max(int(moves.max()), -int(moves.min())) * wide < floor:
            continue
        np.abs(moves, out=moves)
        moves *= wide
        if not bool((moves < P[start:end] * bn).all()):
            raise FastPathRefused(
                f"print_band_pct {band}: a move on this path is large enough that the "
                "print filter might ignore a print (not modelled)"
            )


def _trail(
    pos: _Position,
    P: Any,
    spec: BacktestSpec,
    keep: tuple[int, int],
    buffer: tuple[int, int],
    step: tuple[int, int],
    detail: bool,
    dd: _Drawdown,
    market: int,
    bars: bool,
) -> None:
    """Follow one position from its entry fill (the market then at `market`) to its
    stop's fill (or the data's end), by the compiled loop (`kernel.trail`). On bars, a
    waypoint reached by a leg inside a bar that passes the stop's trigger exits at the
    trigger, where the path met it; one that opens a bar under it is a jump, and exits
    at that trade (or gaps through)."""
    import numpy as np

    from tradekit.backtest import kernel

    kn, kd = keep
    ln, ld = buffer
    mn, md = step
    j = pos.fill_tick
    high = pos.limit  # the first fill starts the trail from the fill price
    trigger = high * kn // kd
    if trigger <= 0:
        raise FastPathRefused("the stop's trigger rounds to 0")
    if trigger * ln // ld <= 0:
        raise FastPathRefused("the stop's limit price rounds to 0")
    if trigger >= market:
        raise FastPathRefused(
            "the first stop would sit at or above the market (the engine exits with a limit sell)"
        )
    room = _MOVES_ROOM if detail else 0
    while True:  # (twice at most: once more when the stop history needs more room)
        ticks = np.empty(room, dtype=np.int64)
        levels = np.empty(room, dtype=np.int64)
        outcome, tick, trade, price, moves, peak, worst = kernel.trail(
            P, j, market, high, trigger, kn, kd, ln, ld, mn, md, bars,
            spec.sell_fills == "limit", dd.cash, dd.size_q, dd.peak, dd.worst, ticks, levels,
        )  # fmt: skip
        if moves <= room or not detail:
            break
        room = moves  # the history did not fit: again, with room for all of it
    if outcome == kernel.GAP:
        raise FastPathRefused(
            f"trade {tick} gaps through the stop's limit (the stop rests unfilled)"
        )
    dd.peak, dd.worst = peak, worst
    pos.stop_moves = moves
    pos.stop_ticks = np.concatenate(([j], ticks[: min(moves, room)]))
    pos.stop_triggers = np.concatenate(([trigger], levels[: min(moves, room)]))
    if outcome == kernel.EXIT:
        pos.exit_tick = tick
        pos.exit_trade = trade
        pos.exit_price = price


_MOVES_ROOM = 1024  # stop moves kept per position before a larger buffer is needed


def _result(
    spec: BacktestSpec,
    positions: list[_Position],
    P: Any,
    T: Any,
    cash: Decimal,
    ticks_per_bar: int,
    detail: bool,
    dd_worst: float = 0.0,
    bars: bool = False,
) -> BacktestResult:
    import numpy as np

    from tradekit.backtest import kernel
    from tradekit.backtest.result import period_curve, period_of

    product = spec.product
    q = product.quote_increment
    n = len(P)
    last_price = int(P[-1]) * q if n else None
    trades: list[Trade] = []
    stop_cols: list[tuple[Any, Any]] = []
    base = ZERO
    fees = ZERO
    holding = 0
    moves = 0
    trail = spec.trail()
    _, _, ln, ld, _, _ = trail_ratios(trail)
    steps_t: list[int] = []  # equity steps: (tick, cash, base) after each fill
    steps_cash: list[float] = []
    steps_base: list[float] = []
    running = spec.balance
    with localcontext(MONEY_CONTEXT):
        for pos in positions:
            ps = PositionState(product, trail)
            entry_d = pos.limit * q
            ps.add_buy(pos.size, entry_d, pos.buy_fee)
            running -= pos.size * entry_d + pos.buy_fee
            steps_t.append(pos.fill_tick)
            steps_cash.append(float(running))
            steps_base.append(float(pos.size))
            moves += pos.stop_moves
            if detail:
                stop_cols.append((pos.stop_ticks, pos.stop_triggers))
            if pos.exit_tick is None:
                assert last_price is not None
                base = pos.size
                fees += pos.buy_fee
                holding += int(T[-1]) - int(T[pos.fill_tick])
                pnl = ps.proceeds + pos.size * last_price - ps.cost - ps.fees
                trades.append(
                    Trade(
                        pos.fill_tick,
                        pos.fill_tick // ticks_per_bar,
                        int(T[pos.fill_tick]),
                        entry_d,
                        pos.size,
                        None,
                        None,
                        None,
                        None,
                        ps.fees,
                        pnl,
                    )
                )
                continue
            assert pos.exit_price is not None
            exit_d = pos.exit_price * q
            ps.add_sell(pos.size, exit_d, pos.sell_fee)
            running += pos.size * exit_d - pos.sell_fee
            steps_t.append(pos.exit_tick)
            steps_cash.append(float(running))
            steps_base.append(0.0)
            fees += pos.buy_fee + pos.sell_fee
            holding += int(T[pos.exit_tick]) - int(T[pos.fill_tick])
            exit_avg = ps.exit_price
            entry_avg = ps.entry_price
            assert exit_avg is not None and entry_avg is not None
            trades.append(
                Trade(
                    pos.fill_tick,
                    pos.fill_tick // ticks_per_bar,
                    int(T[pos.fill_tick]),
                    entry_avg,
                    pos.size,
                    pos.exit_tick,
                    pos.exit_tick // ticks_per_bar,
                    int(T[pos.exit_tick]),
                    exit_avg,
                    ps.fees,
                    ps.realized_pnl,
                )
            )
        final = cash + (base * last_price if last_price is not None else ZERO)
    stops = _stop_history(positions, stop_cols, T, ln, ld, q, ticks_per_bar)
    eq_times = eq_values = prices_f = None
    drawdown = dd_worst
    fill_ticks = np.asarray(steps_t, dtype=np.int64)
    cash_arr = np.concatenate([[float(spec.balance)], np.asarray(steps_cash)])
    base_arr = np.concatenate([[0.0], np.asarray(steps_base)])
    qf = float(q)

    def equity_at(ticks: Any) -> Any:
        if eq_values is not None:  # the whole curve is drawn: the periods read it
            return eq_values[ticks]
        idx = np.searchsorted(fill_ticks, ticks, side="right")
        return cash_arr[idx] + base_arr[idx] * (P[ticks] * qf)

    if detail and n:
        eq_times = T
        prices_f = np.empty(n, dtype=np.float64)
        eq_values = np.empty(n, dtype=np.float64)
        kernel.equity_curve(P, qf, fill_ticks, cash_arr, base_arr, prices_f, eq_values)
    period_ns = period_of(T, bars, None)
    period_times, period_equity = period_curve(T, period_ns, spec.balance, equity_at, bars)
    return BacktestResult(
        product=product,
        params=spec_params(spec),
        path="fast",
        trades=trades,
        stops=stops,
        initial_equity=spec.balance,
        final_equity=final,
        fees=fees,
        stop_moves=moves,
        n_ticks=n,
        ticks_per_bar=ticks_per_bar,
        first_ts=int(T[0]) if n else 0,
        last_ts=int(T[-1]) if n else 0,
        last_price=last_price,
        holding_ns=holding,
        unprotected_ns=0,
        equity_times=eq_times,
        equity_values=eq_values,
        prices=prices_f,
        drawdown=drawdown,
        period_ns=period_ns,
        period_times=period_times,
        period_equity=period_equity,
        first_price=int(P[0]) * q if n else None,
    )


def _stop_history(
    positions: list[_Position],
    cols: list[tuple[Any, Any]],
    T: Any,
    ln: int,
    ld: int,
    q: Decimal,
    ticks_per_bar: int,
) -> StopHistory:
    import numpy as np

    empty = np.empty(0, dtype=np.int64)
    ticks = np.concatenate([t for t, _ in cols]) if cols else empty
    triggers = np.concatenate([g for _, g in cols]) if cols else empty
    owner = np.repeat(np.arange(len(cols)), [len(t) for t, _ in cols]) if cols else empty
    return StopHistory(
        ticks,
        T[ticks],
        triggers,
        triggers * ln // ld,
        owner,
        [p.size for p in positions[: len(cols)]],
        q,
        ticks_per_bar,
    )


def spec_params(spec: BacktestSpec) -> dict[str, Any]:
    """The parameters a result shows, the pair's guards included."""
    protection, sanity = spec.protection, spec.sanity
    return {
        "product_id": spec.product_id,
        "trail_pct": spec.trail_pct,
        "stop_limit_buffer_pct": spec.stop_limit_buffer_pct,
        "min_ratchet": spec.min_ratchet,
        "max_entry_wait_s": Decimal(spec.max_entry_wait_ns) / 10**9,
        "size": spec.size,
        "quote_budget": spec.quote_budget,
        "entry": spec.entry.rule,
        "entry_offset_pct": spec.entry.offset_pct,
        # the guards that applied (config names; None: off)
        "on_breach": protection.on_breach.value,
        "exit_reprice_after_s": Decimal(protection.exit_reprice_ns) / 10**9,
        "gap_exit_after_s": Decimal(protection.gap_exit_after_ns) / 10**9,
        "gap_exit_after_trades": protection.gap_exit_after_trades,
        "print_band_pct": sanity.print_band_pct,
        "confirm_trades": sanity.confirm_trades,
        "max_order_value": sanity.max_order_value,
        "max_order_size": sanity.max_order_size,
        "order_price_band_pct": sanity.order_price_band_pct,
    }
