"""`tradekit check`: what a careful user verifies before trading, each a row of a table.

The key file (owner-only permissions, a signed request accepted), the clock against the
exchange's time, each product (it exists, it trades now, its increments and minimums
against the configured size or budget), the balances against the budgets and the caps,
the fee tier, open orders tradekit did not place, and (`live=True`, the one request
that is not a read: `POST /orders/edit_preview`, which changes nothing) whether a stop
can be moved by edit. Every check is a `Row`: ok, warn (works, but look), fail (a run
would not work as configured) or skip (not asked, or not possible here), with a detail
a person reads. Reads through the sync REST adapter; decides nothing at run time.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from tradekit.core.money import MONEY_CONTEXT, ProductSpec, plain, round_down
from tradekit.core.orders import OrderSide, OrderType
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.common import AuthenticationError
from tradekit.exchange.types import ExchangeError, ExchangeOrder

Status = Literal["ok", "warn", "fail", "skip"]
CLOCK_WARN_S = 2.0  # JWTs say "not before now": a clock ahead is refused
CLOCK_FAIL_S = 30.0
DEFAULT_TAKER = Decimal("0.012")  # Coinbase's highest taker rate (its lowest tier)
# tradekit's client_order_ids: "<run id: 6 hex>-<product id>-<n>"
_OWN_COID = re.compile(r"^[0-9a-f]{6}-[A-Z0-9]+-[A-Z0-9]+-\d+$")


@dataclass(frozen=True, slots=True)
class Row:
    check: str
    subject: str
    status: Status
    detail: str


@dataclass(frozen=True, slots=True)
class PairNeed:
    """What one configured pair buys: a base `size` or a `quote_budget` an entry."""

    product_id: str
    size: Decimal | None = None
    quote_budget: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Caps:
    max_open_positions: int = 5
    max_quote_exposure: Decimal | None = None
    max_quote_exposure_per_pair: Decimal | None = None


def own_order(o: ExchangeOrder) -> bool:
    """Placed by tradekit: one of its configurations, with one of its client_order_ids."""
    return not o.foreign and bool(_OWN_COID.match(o.client_order_id))


def key_file_row(path: str | os.PathLike[str] | None, problem: str = "") -> Row:
    """The key's file: there, and readable by its owner only (a secret)."""
    if path is None:
        if problem:
            return Row("key", "COINBASE_API_KEY", "fail", problem)
        return Row("key", "COINBASE_API_KEY", "ok", "from the environment")
    p = Path(path)
    if not p.exists():
        return Row("key", str(p), "fail", "no such file")
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        return Row("key", str(p), "fail", f"readable by others (mode {mode:o}): chmod 600 {p}")
    if problem:
        return Row("key", str(p), "fail", problem)
    return Row("key", str(p), "ok", f"owner-only (mode {mode:o})")


def run_checks(
    rest: CoinbaseRest,
    pairs: Iterable[PairNeed],
    caps: Caps = Caps(),
    *,
    live: bool = False,
    paper_balances: Mapping[str, Decimal] | None = None,
    now_ns: Callable[[], int] = time.time_ns,
) -> list[Row]:
    """Every check but the key file's (`key_file_row`). `rest` without credentials (a
    paper run) checks the public parts, and the budgets against `paper_balances`."""
    pairs = list(pairs)
    rows: list[Row] = []
    signed = rest.credentials is not None
    if signed:
        try:
            accounts = rest.balances()
        except AuthenticationError as e:
            rows.append(Row("signed request", "/accounts", "fail", _auth_detail(str(e))))
            signed = False
            balances = None
        except ExchangeError as e:  # not answered at all: nothing else can be checked
            why = f"no answer from the exchange: {str(e)[:160]}"
            return [*rows, Row("signed request", "/accounts", "fail", why)]
        else:
            rows.append(
                Row("signed request", "/accounts", "ok", f"accepted ({len(accounts)} accounts)")
            )
            balances = {c: b.available for c, b in accounts.items()}
    else:
        balances = dict(paper_balances) if paper_balances is not None else None
    rows.append(_clock(rest, now_ns))
    taker = DEFAULT_TAKER
    if signed:
        try:
            tier = rest.fee_tier()
        except ExchangeError as e:
            rows.append(Row("fee tier", "/transaction_summary", "warn", str(e)[:160]))
        else:
            taker = tier.taker
            rows.append(
                Row(
                    "fee tier",
                    "/transaction_summary",
                    "ok",
                    f"{tier.pricing_tier or 'unnamed tier'}: maker {_pct(tier.maker)}, "
                    f"taker {_pct(tier.taker)}",
                )
            )
    else:
        rows.append(Row("fee tier", "-", "skip", "no key: paper trading assumes its own fees"))
    costs: dict[str, list[Decimal]] = {}
    for need in pairs:
        cost, product_rows = _product(rest, need, caps, taker)
        rows += product_rows
        if cost is not None:
            costs.setdefault(cost[0], []).append(cost[1])
    rows += _funds(costs, balances, caps, paper=not signed and paper_balances is not None)
    if signed:
        try:
            open_orders = rest.list_open_orders()
        except ExchangeError as e:
            rows.append(Row("open orders", "-", "warn", f"could not list them: {str(e)[:120]}"))
            open_orders = []
        else:
            rows += _open_orders(open_orders)
        rows.append(_stop_edits(rest, open_orders, {p.product_id for p in pairs}, live))
    else:
        rows.append(Row("open orders", "-", "skip", "no key: paper orders never reach it"))
    return rows


def exit_status(rows: Iterable[Row]) -> int:
    """0: nothing failed (warnings allowed); 1: something would not work."""
    return 1 if any(r.status == "fail" for r in rows) else 0


# -------------------------------------------------------------------------- checks


def _auth_detail(message: str) -> str:
    if "403" in message:
        return f"the key lacks a permission (view and trade are needed): {message[:120]}"
    return (
        "refused: an unknown or revoked key, a wrong private key, or a skewed clock "
        f"({message[:120]})"
    )


def _clock(rest: CoinbaseRest, now_ns: Callable[[], int]) -> Row:
    try:
        before = now_ns()
        theirs = rest.server_time_ns()
        mine = (before + now_ns()) // 2
    except ExchangeError as e:
        return Row("clock", "/time", "warn", f"could not ask: {str(e)[:120]}")
    skew = (mine - theirs) / 1e9
    detail = f"{abs(skew):.1f} s {'ahead of' if skew > 0 else 'behind'} the exchange"
    if abs(skew) > CLOCK_FAIL_S:
        return Row("clock", "/time", "fail", detail + ": signed requests will be refused")
    if abs(skew) > CLOCK_WARN_S:
        return Row("clock", "/time", "warn", detail + ": sync the clock (NTP)")
    return Row("clock", "/time", "ok", detail)


def _product(
    rest: CoinbaseRest, need: PairNeed, caps: Caps, taker: Decimal
) -> tuple[tuple[str, Decimal] | None, list[Row]]:
    pid = need.product_id
    try:
        info = rest.product_info(pid)
    except ExchangeError as e:
        text = str(e)
        why = "no such product on the exchange" if "unknown product" in text else text[:160]
        return None, [Row("product", pid, "fail", why)]
    rows = []
    problems = info.problems
    if problems:
        rows.append(Row("product", pid, "fail", "does not trade now: " + ", ".join(problems)))
    else:
        note = " (limit only: tradekit places limit orders only)" if info.limit_only else ""
        rows.append(Row("product", pid, "ok", f"{info.status}{note}"))
    price = info.price
    if price is None:
        try:
            trades = rest.market_trades(pid, 1)
        except ExchangeError:
            trades = []
        price = trades[-1].price if trades else None
    if price is None:
        rows.append(Row("sizes", pid, "warn", "no price yet: sizes not checked"))
        return None, rows
    spec = info.spec
    size_row, cost = _sizes(spec, need, price, caps)
    rows.append(size_row)
    if cost is None:
        return None, rows
    fee = MONEY_CONTEXT.multiply(cost, taker)
    return (spec.quote_currency, cost + fee), rows


def _sizes(
    spec: ProductSpec, need: PairNeed, price: Decimal, caps: Caps
) -> tuple[Row, Decimal | None]:
    """The entry's size at today's price against the product's increments and minimums."""
    pid = spec.product_id
    base_inc = spec.base_increment
    budget = need.quote_budget
    if budget is not None and caps.max_quote_exposure_per_pair is not None:
        budget = min(budget, caps.max_quote_exposure_per_pair)
    if need.size is not None:
        size = round_down(need.size, base_inc)
        what = f"size {plain(need.size)}"
    elif budget is not None:
        size = round_down(MONEY_CONTEXT.divide(budget, price), base_inc)
        what = f"budget {plain(budget)} {spec.quote_currency} = {plain(size)} at {plain(price)}"
    else:
        return Row("sizes", pid, "fail", "neither a size nor a quote budget"), None
    value = MONEY_CONTEXT.multiply(size, price)
    shown = _cents(value)
    base_min, quote_min = plain(spec.base_min_size), plain(spec.quote_min_size)
    if size < spec.base_min_size or size <= 0:
        return Row(
            "sizes", pid, "fail", f"{what}: under the minimum {base_min} {spec.base_currency}"
        ), None
    if spec.base_max_size is not None and size > spec.base_max_size:
        return Row(
            "sizes",
            pid,
            "fail",
            f"{what}: over the maximum {plain(spec.base_max_size)} {spec.base_currency}",
        ), None
    if value < spec.quote_min_size:
        return Row(
            "sizes",
            pid,
            "fail",
            f"{what}: worth {shown}, under the minimum order of {quote_min} {spec.quote_currency}",
        ), None
    if need.size is not None and size != need.size:
        return Row(
            "sizes",
            pid,
            "warn",
            f"{what} is rounded down to {plain(size)} (increment {plain(base_inc)})",
        ), value
    return Row(
        "sizes",
        pid,
        "ok",
        f"{what}: worth {shown} {spec.quote_currency} (minimum {base_min}, "
        f"increment {plain(base_inc)})",
    ), value


def _funds(
    costs: Mapping[str, list[Decimal]],
    balances: Mapping[str, Decimal] | None,
    caps: Caps,
    *,
    paper: bool,
) -> list[Row]:
    rows = []
    where = "paper balance" if paper else "balance"
    for currency, each in sorted(costs.items()):
        largest = sorted(each, reverse=True)[: caps.max_open_positions]
        need = sum(largest, Decimal(0))
        if caps.max_quote_exposure is not None:
            need = min(need, caps.max_quote_exposure)
        if balances is None:
            rows.append(Row(where, currency, "skip", f"needs {_cents(need)} {currency}; not known"))
            continue
        have = balances.get(currency, Decimal(0))
        detail = (
            f"{_cents(have)} {currency} available; the open positions allowed need up to "
            f"{_cents(need)} (fees included)"
        )
        if have < min(each):
            rows.append(Row(where, currency, "fail", detail + ": not even one entry fits"))
        elif have < need:
            rows.append(Row(where, currency, "warn", detail + ": entries will be refused"))
        else:
            rows.append(Row(where, currency, "ok", detail))
    return rows


def _open_orders(orders: list[ExchangeOrder]) -> list[Row]:
    foreign = [o for o in orders if not own_order(o)]
    own = len(orders) - len(foreign)
    rows = []
    for o in foreign:
        hold = "" if o.hold is None else f", holds {plain(o.hold.normalize())}"
        kind = o.configuration or o.order_type.value
        rows.append(
            Row(
                "open orders",
                o.product_id,
                "warn",
                f"{o.side.value} {kind} {o.size} ({o.client_order_id or o.order_id}){hold}: "
                "not tradekit's; listed, never managed; its hold is not available to a run",
            )
        )
    if own:
        rows.append(
            Row(
                "open orders",
                "tradekit",
                "ok",
                f"{own} of tradekit's (a run resumes them from its store; another run's are "
                "cancelled as orphans)",
            )
        )
    if not orders:
        rows.append(Row("open orders", "-", "ok", "none"))
    return rows


def _stop_edits(rest: CoinbaseRest, orders: list[ExchangeOrder], pids: set[str], live: bool) -> Row:
    if not live:
        return Row(
            "stop edits",
            "-",
            "skip",
            "--live previews one (POST /orders/edit_preview, changes nothing)",
        )
    stops = [
        o
        for o in orders
        if o.order_type is OrderType.STOP_LIMIT
        and o.side is OrderSide.SELL
        and o.stop_price is not None
        and not o.foreign
        and o.product_id in pids
    ]
    if not stops:
        return Row(
            "stop edits",
            "-",
            "skip",
            "no resting stop-limit of these pairs to preview against: a run learns it on its "
            "first move (an edit refused as unsupported falls back to cancel-then-place)",
        )
    stop = stops[0]
    assert stop.stop_price is not None
    try:
        spec = rest.product(stop.product_id)
        tick = spec.quote_increment
        res = rest.edit_preview(
            stop.order_id,
            stop.size - stop.filled_size,
            stop.limit_price - tick,
            stop.stop_price - tick,
        )
    except ExchangeError as e:
        return Row("stop edits", stop.product_id, "warn", f"preview failed: {str(e)[:120]}")
    if res.success:
        return Row(
            "stop edits",
            stop.product_id,
            "ok",
            "supported: a preview of moving a resting stop was accepted (no unprotected gap)",
        )
    if res.failure_reason in wire.EDIT_UNSUPPORTED_REASONS:
        return Row(
            "stop edits",
            stop.product_id,
            "warn",
            f"not supported ({res.failure_reason}): stops move by cancel-then-place, a short "
            "journaled gap",
        )
    return Row("stop edits", stop.product_id, "warn", f"preview refused: {res.failure_reason}")


def _cents(value: Decimal) -> str:
    """Money shown to a person: down to the cent (never more than there is)."""
    return f"{round_down(value, Decimal('0.01')):,.2f}"


def _pct(rate: Decimal) -> str:
    return f"{rate * 100:.2f}%"
