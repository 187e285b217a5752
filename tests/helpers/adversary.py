"""An adversarial, Coinbase-like exchange, and a harness that judges protection by the
EXCHANGE's orders and fills, never by what the engine believes (issue #18).

`Exchange` is a faithful matcher for one product: STOP_DOWN stop-limit sells trigger on a
trade at or below the stop and then rest as a limit at their limit price; a resting limit
sell fills on a trade at or above its limit (at its limit), a marketable one at the trade
price; a buy fills on a trade at or below its limit. Placements are checked as Coinbase
does (reasons as Coinbase names them: price and size grids, `base_min_size`,
`quote_min_size`, a sell stop's limit above its stop, a stop at or above the last trade,
funds on hold), a client_order_id used before answers with the existing order, and
`QueryOrder` is answered like the drivers' `order_news` (the order's fills, then its
status unless it is a plain FILLED).

`Adversary` decides where the exchange misbehaves; the base class is honest.
`RandomAdversary` misbehaves on a seeded budget: it refuses cancels of live untriggered
orders (transient reason), accepts an order and later reports it FAILED or EXPIRED (also
while an edit is in flight), answers late (N steps) or loses answers (CancelUnknown,
OrderSubmitUnknown, an edit answered by nothing), duplicates and reorders the news,
fills partly, and (`Harness`) restarts the engine from its snapshot and pulls the kill
switch.

`Harness` drives one `DecisionEngine` through a price path (one market event per step of
`STEP_NS`) and checks, after EVERY event handled, the properties below; a breach is a
`Violation` (the run goes on, except after (e) or a storm, where it cannot):

(a) liveness of protection: the size held on the exchange (bought fills minus sold fills,
    less what the engine wrote off as dust at close) is covered by a resting untriggered
    stop, a working exit or a triggered stop still working (a sell resting above the
    market longer than its re-price / gap-through time is not working) within
    `COVER_BOUND` steps (plus `grace_steps` after anything adverse); what is left
    uncovered may only be dust (under `base_min_size`, or under `quote_min_size` at the
    last trade, unless the engine itself cancelled a sell that covered it), and dust the
    engine writes off at close must be dust. After the kill switch's flatten only exits
    cover. With `on_breach = wait` no cover is owed while the market is at or under the
    desired trigger.
(b) the ratchet: a resting untriggered stop's trigger reaches the desired trigger
    (the highest trade since the position opened x (1 - trail_pct), rounded down to the
    grid) within one `min_ratchet` step, within `RATCHET_BOUND` steps (plus grace).
(c) back-off: no request identical to a refused one (same kind, same order or levels) is
    sent before `retry_initial_ns x 2^(n-1)` (at most `retry_max_ns`) of event time has
    passed since its n-th refusal in a row was delivered; a step never needs more than
    `MAX_HANDLES_PER_STEP` events (a request storm).
(d) the fills the engine booked (closed positions plus the open one) are never more than
    the exchange's, and equal them at the end of every step whose news is all delivered.
(e) `handle` never raises.
(f) after the kill switch no entry is placed, and a working one is cancelled within
    `COVER_BOUND` steps (plus grace).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tradekit.core import (
    BreachPolicy,
    CancelOrder,
    CancelRejected,
    CancelUnknown,
    Command,
    DecisionEngine,
    DustLeft,
    EditRejected,
    EditStopOrder,
    EnterOnce,
    EntryRule,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitUnknown,
    PairParams,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    PositionClosed,
    PositionOpened,
    ProductSpec,
    ProtectionBlocked,
    ProtectionParams,
    ProtectionWaiting,
    QueryOrder,
    StopBreached,
    Timer,
    TradingState,
    TradingStateChanged,
    TrailParams,
)
from tradekit.core.money import MONEY_CONTEXT, is_multiple

D = Decimal
ZERO = D(0)
SEC = 1_000_000_000
STEP_NS = SEC  # one market event (a trade or a timer) per second of event time
FEE = D("0.001")

# -- the bounds (in steps: market events, a trade or a timer, one per STEP_NS) ----------

# The longest an adversarial late answer (a reply or a push) is held back.
MAX_DELAY_STEPS = 3
# From "held size uncovered" to covered when nothing adverse is in the way: a move is a
# cancel, its answer and the new placement (one step); one more for a lookup round trip
# and two spare.
COVER_BOUND = 4
# From "the desired trigger rose" to the exchange's stop following it (a move, as above).
RATCHET_BOUND = 4
# A step whose events and answers do not settle within this many `handle` calls is a
# request storm (the engine and the exchange ping-pong).
MAX_HANDLES_PER_STEP = 300


def steps_of(ns: int) -> int:
    return -(-ns // STEP_NS)


def step_over(step: int, since: int) -> bool:
    """More than COVER_BOUND steps have passed since `since`."""
    return step - since > COVER_BOUND


def grace_steps(pp: ProtectionParams) -> int:
    """After anything adverse the engine may rightly wait a full back-off (retry_max),
    the silence after which an unanswered request is looked up (ask_after), an exit's
    re-price time and a late answer before the bounds above start to run."""
    waits = pp.retry_max_ns + pp.ask_after_ns + pp.exit_reprice_ns
    return steps_of(waits) + MAX_DELAY_STEPS + 2


def exit_stale_steps(pp: ProtectionParams) -> int:
    """An exit resting above the market this long has stopped working (it is re-priced
    after `exit_reprice_ns`; one step to do it)."""
    return steps_of(pp.exit_reprice_ns) + 1


def gap_stale_steps(pp: ProtectionParams) -> int:
    """A triggered stop resting above the market this long has been gapped through (the
    engine exits after `gap_exit_after_ns` or `gap_exit_after_trades`, whichever first;
    timers count as steps, so the time bound is the one that always holds)."""
    return steps_of(pp.gap_exit_after_ns) + 1


# -- the exchange ---------------------------------------------------------------------


@dataclass(eq=False)
class ExOrder:
    coid: str
    oid: str
    kind: str  # "buy" | "stop" | "exit"
    size: Decimal
    limit: Decimal
    stop: Decimal | None
    step: int
    status: OrderStatus = OrderStatus.OPEN
    triggered: bool = False
    filled: Decimal = ZERO
    value: Decimal = ZERO
    fees: Decimal = ZERO
    fills: list[tuple[str, Decimal, Decimal, Decimal]] = field(default_factory=list)
    under_since: int | None = None  # first step a sell rested unfilled above the market

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled

    @property
    def sells(self) -> bool:
        return self.kind != "buy"


def placement_problem(
    p: ProductSpec, cmd: PlaceLimitBuy | PlaceLimitSell | PlaceStopLimitSell, last: D | None
) -> str | None:
    """Coinbase's placement checks, in its order; the failure reason or None."""
    if cmd.limit_price <= 0:
        return "INVALID_LIMIT_PRICE"
    if not is_multiple(cmd.limit_price, p.quote_increment):
        return "INVALID_PRICE_PRECISION"
    if isinstance(cmd, PlaceStopLimitSell):
        if cmd.stop_price <= 0:
            return "PREVIEW_INVALID_STOP_PRICE"
        if not is_multiple(cmd.stop_price, p.quote_increment):
            return "PREVIEW_INVALID_STOP_PRICE_PRECISION"
    if cmd.size <= 0 or not is_multiple(cmd.size, p.base_increment):
        return "INVALID_SIZE_PRECISION"
    if cmd.size < p.base_min_size:
        return "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    if p.quote_min_size and cmd.size * cmd.limit_price < p.quote_min_size:
        return "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    if isinstance(cmd, PlaceStopLimitSell):
        if cmd.limit_price > cmd.stop_price:
            return "PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE"
        if last is not None and cmd.stop_price >= last:
            return "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    return None


class Adversary:
    """Where the exchange misbehaves. This base is honest; every hook says what to do
    for one opportunity. `acts` logs each misdeed as (step, text): the harness gives the
    engine `grace_steps` after the last one before bounds (a) and (b) run."""

    reorder = False  # shuffle each step's news and the trade
    replies_first = False  # an answer is handled before the news already queued (LIFO)
    driver_asks = False  # today's driver: a refused/lost cancel or placement is looked up

    def __init__(self) -> None:
        self.acts: list[tuple[int, str]] = []
        self.step = 0

    def act(self, text: str) -> None:
        self.acts.append((self.step, text))

    def refuse_placement(self, cmd: Command) -> str | None:
        return None  # a transient reason to refuse it with

    def lose_placement(self, cmd: Command) -> str | None:
        return None  # "sent" (the order exists, the reply is lost) | "unsent"

    def end_later(self, o: ExOrder) -> tuple[int, OrderStatus] | None:
        return None  # (steps, FAILED | EXPIRED | CANCELLED): the exchange ends it later

    def refuse_cancel(self, o: ExOrder) -> bool:
        return False

    def lose_cancel(self, o: ExOrder) -> str | None:
        return None  # "applied" | "missed": the cancel's reply is lost (CancelUnknown)

    def end_during_edit(self, o: ExOrder) -> OrderStatus | None:
        return None

    def lose_edit(self, o: ExOrder) -> bool:
        return False

    def reply_delay(self, cmd: Command) -> int:
        return 0

    def push_delay(self, ev: Any) -> int:
        return 0

    def duplicate(self, ev: Any) -> bool:
        return False

    def partial(self, o: ExOrder) -> bool:
        return False


@dataclass(frozen=True)
class Misbehaviour:
    """How often (per opportunity) a `RandomAdversary` misbehaves, and how many times."""

    budget: int = 6
    refuse_cancel: float = 0.0
    refuse_placement: float = 0.0
    lose: float = 0.0
    end_later: float = 0.0
    end_during_edit: float = 0.0
    late: float = 0.0
    duplicate: float = 0.0
    partial: float = 0.0


class RandomAdversary(Adversary):
    def __init__(
        self,
        rng: random.Random,
        m: Misbehaviour,
        *,
        reorder=False,
        replies_first=False,
        driver_asks=False,
    ) -> None:
        super().__init__()
        self.rng = rng
        self.m = m
        self.left = m.budget
        self.reorder = reorder
        self.replies_first = replies_first
        self.driver_asks = driver_asks

    def _roll(self, p: float, text: str) -> bool:
        if self.left <= 0 or p <= 0 or self.rng.random() >= p:
            return False
        self.left -= 1
        self.act(text)
        return True

    def refuse_placement(self, cmd):
        if isinstance(cmd, PlaceLimitBuy):
            return None
        if self._roll(self.m.refuse_placement, f"placement {cmd.client_order_id} refused"):
            return "UNKNOWN_FAILURE_REASON"
        return None

    def lose_placement(self, cmd):
        if self._roll(self.m.lose, f"placement {cmd.client_order_id} reply lost"):
            return self.rng.choice(["sent", "unsent"])
        return None

    def end_later(self, o):
        if o.kind != "buy" and self._roll(self.m.end_later, f"{o.coid} to end later"):
            return self.rng.randint(0, 4), self.rng.choice(
                [OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED]
            )
        return None

    def refuse_cancel(self, o):
        return not o.triggered and self._roll(
            self.m.refuse_cancel, f"cancel of live {o.coid} refused"
        )

    def lose_cancel(self, o):
        if self._roll(self.m.lose, f"cancel of {o.coid} reply lost"):
            return self.rng.choice(["applied", "missed"])
        return None

    def end_during_edit(self, o):
        if self._roll(self.m.end_during_edit, f"{o.coid} ended during its edit"):
            return self.rng.choice([OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED])
        return None

    def lose_edit(self, o):
        return self._roll(self.m.lose, f"edit of {o.coid} unanswered")

    def reply_delay(self, cmd):
        if self._roll(self.m.late, f"answer to {type(cmd).__name__} {cmd.client_order_id} late"):
            return self.rng.randint(1, MAX_DELAY_STEPS)
        return 0

    def push_delay(self, ev):
        if self._roll(self.m.late, f"news {type(ev).__name__} late"):
            return self.rng.randint(1, MAX_DELAY_STEPS)
        return 0

    def duplicate(self, ev):
        # harmless by contract (fills by trade id, reports cumulative): not budgeted
        return self.m.duplicate > 0 and self.rng.random() < self.m.duplicate

    def partial(self, o):
        return self.m.partial > 0 and self.rng.random() < self.m.partial


class Exchange:
    """One product's book of our orders, matched against the market's trades."""

    def __init__(self, product: ProductSpec, adversary: Adversary) -> None:
        self.p = product
        self.adv = adversary
        self.orders: dict[str, ExOrder] = {}
        self.by_oid: dict[str, ExOrder] = {}
        self.open: dict[str, ExOrder] = {}
        self.last: Decimal | None = None
        self.bought = ZERO
        self.sold = ZERO
        self.n = 0
        self.step = 0
        self.ending: list[tuple[int, str, OrderStatus]] = []  # (step, coid, status)
        # sells placed ("place") and sells the engine's cancels took away ("cancel")
        self.cover_log: list[tuple[str, ExOrder]] = []
        # the engine's order of a client id (the drivers read it to send unseen fills)
        self.known: Callable[[str], Any] = lambda coid: None

    @property
    def held(self) -> Decimal:
        return self.bought - self.sold

    def available(self) -> Decimal:
        return self.held - sum((o.remaining for o in self.open.values() if o.sells), ZERO)

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _end(self, o: ExOrder, status: OrderStatus) -> None:
        o.status = status
        self.open.pop(o.coid, None)

    def _fill(self, o: ExOrder, price: Decimal, ts: int) -> OrderFilled:
        size = o.remaining
        if self.adv.partial(o):
            half = self.p.size_down(size / 2)
            if ZERO < half < size:
                size = half
        fee = MONEY_CONTEXT.multiply(MONEY_CONTEXT.multiply(price, size), FEE)
        tid = self._id("t")
        o.fills.append((tid, price, size, fee))
        o.filled += size
        o.value += price * size
        o.fees += fee
        if o.kind == "buy":
            self.bought += size
        else:
            self.sold += size
        if o.filled == o.size:
            self._end(o, OrderStatus.FILLED)
        return OrderFilled(o.coid, tid, price, size, fee, ts)

    def report(self, o: ExOrder, ts: int) -> OrderStatusReport:
        return OrderStatusReport(
            o.coid,
            o.status,
            ts,
            o.oid,
            o.filled,
            o.value,
            o.fees,
            o.triggered if o.kind == "stop" else None,
            o.size,
            o.stop,
            o.limit,
        )

    def news(self, o: ExOrder, ts: int, by_client_id: bool = False) -> list[Any]:
        """The drivers' `order_news`: the fills the engine has not seen (when it has
        booked less than the exchange filled), then the status (unless plain FILLED)."""
        out: list[Any] = [OrderAccepted(o.coid, o.oid, ts)] if by_client_id else []
        known = self.known(o.coid)
        seen = known.trade_ids if known is not None else set()
        if o.filled > (known.filled_size if known is not None else ZERO):
            out += [
                OrderFilled(o.coid, t, pr, s, f, ts) for t, pr, s, f in o.fills if t not in seen
            ]
        if o.status is not OrderStatus.FILLED or o.triggered:
            out.append(self.report(o, ts))
        return out

    # -- the market ------------------------------------------------------------------

    def tick(self, step: int, ts: int) -> list[Any]:
        """What the exchange does by itself at this step: orders it ends (FAILED...)."""
        self.step = step
        out = []
        due = [e for e in self.ending if e[0] <= step]
        self.ending = [e for e in self.ending if e[0] > step]
        for _, coid, status in due:
            o = self.orders[coid]
            if o.status is OrderStatus.OPEN:
                self._end(o, status)
                out.append(self.report(o, ts))
        return out

    def trade(self, price: Decimal, ts: int) -> list[Any]:
        self.last = price
        out: list[Any] = []
        for o in list(self.open.values()):
            if o.kind == "buy":
                if price <= o.limit:
                    out.append(self._fill(o, o.limit, ts))
                continue
            if o.kind == "stop" and not o.triggered:
                assert o.stop is not None
                if price > o.stop:
                    continue
                o.triggered = True  # STOP_DOWN: now a limit sell at its limit price
                out.append(self.report(o, ts))
                if price >= o.limit:
                    out.append(self._fill(o, price, ts))  # marketable: at the trade
            elif price >= o.limit:
                out.append(self._fill(o, o.limit, ts))  # resting: at its limit
            if o.status is OrderStatus.OPEN and price < o.limit:
                o.under_since = self.step if o.under_since is None else o.under_since
            else:
                o.under_since = None
        return out

    # -- requests --------------------------------------------------------------------

    def execute(self, cmd: Command, ts: int) -> tuple[list[Any], list[Any]]:
        """Perform one command: (the answer the driver gets, news pushed by the exchange)."""
        if isinstance(cmd, PlaceLimitBuy | PlaceLimitSell | PlaceStopLimitSell):
            return self._place(cmd, ts)
        if isinstance(cmd, CancelOrder):
            return self._cancel(cmd, ts)
        if isinstance(cmd, EditStopOrder):
            return self._edit(cmd, ts)
        if isinstance(cmd, QueryOrder):
            o = (
                self.by_oid.get(cmd.order_id)
                if cmd.order_id
                else self.orders.get(cmd.client_order_id)
            )
            if o is None:  # as the drivers answer a lookup that finds nothing
                return [OrderNotFound(cmd.client_order_id, ts)], []
            return self.news(o, ts, by_client_id=cmd.order_id is None), []
        raise AssertionError(f"not a command: {cmd!r}")

    def _place(self, cmd, ts):
        coid = cmd.client_order_id
        if coid in self.orders:  # Coinbase: a used client_order_id answers the old order
            return [OrderAccepted(coid, self.orders[coid].oid, ts)], []
        lost = self.adv.lose_placement(cmd)
        if lost == "unsent":
            if self.adv.driver_asks:  # today's driver: not found, so sent again (same id)
                reply, pushes = self._place(cmd, ts)
                return [OrderSubmitUnknown(coid, ts, "timeout"), *reply], pushes
            return [OrderSubmitUnknown(coid, ts, "timeout")], []
        problem = placement_problem(self.p, cmd, self.last)
        kind = (
            "buy"
            if isinstance(cmd, PlaceLimitBuy)
            else ("stop" if isinstance(cmd, PlaceStopLimitSell) else "exit")
        )
        if problem is None and kind != "buy" and cmd.size > self.available():
            problem = "INSUFFICIENT_FUND"
        if problem is None:
            problem = self.adv.refuse_placement(cmd)
        if problem is not None:
            return (
                [OrderSubmitUnknown(coid, ts, "timeout")]
                if lost
                else [OrderRejected(coid, problem, ts)]
            ), []
        stop = cmd.stop_price if isinstance(cmd, PlaceStopLimitSell) else None
        o = ExOrder(coid, self._id("o"), kind, cmd.size, cmd.limit_price, stop, self.step)
        self.orders[coid] = self.by_oid[o.oid] = self.open[coid] = o
        pushes: list[Any] = []
        last = self.last
        if last is not None and kind == "buy" and last <= o.limit:
            pushes.append(self._fill(o, last, ts))
        elif last is not None and kind == "exit" and last >= o.limit:
            pushes.append(self._fill(o, last, ts))
            if o.status is OrderStatus.OPEN:
                o.under_since = None
        elif last is not None and kind == "exit":
            o.under_since = self.step
        if o.sells:
            self.cover_log.append(("place", o))
        end = self.adv.end_later(o)
        if end is not None:
            self.ending.append((self.step + end[0], coid, end[1]))
        reply: list[Any] = [OrderAccepted(coid, o.oid, ts)]
        if lost:  # the order exists, its reply is lost (today's driver looks it up)
            reply = [OrderSubmitUnknown(coid, ts, "timeout")]
            if self.adv.driver_asks:
                reply += self.news(o, ts, by_client_id=True)
        return reply, pushes

    def _cancel(self, cmd: CancelOrder, ts: int):
        coid = cmd.client_order_id
        o = self.by_oid.get(cmd.order_id)
        if o is None:
            return [CancelRejected(coid, "UNKNOWN_CANCEL_ORDER", ts)], []
        if o.status is OrderStatus.FILLED:
            return [CancelRejected(coid, "ORDER_IS_FULLY_FILLED", ts)], []
        if o.status is not OrderStatus.OPEN:
            return [CancelRejected(coid, "DUPLICATE_CANCEL_REQUEST", ts)], []
        lost = self.adv.lose_cancel(o)
        if lost == "missed":
            return self._asked([CancelUnknown(coid, ts, "timeout")], o, ts), []
        if lost is None and self.adv.refuse_cancel(o):
            # a transient refusal: the order still rests, untouched
            return self._asked(
                [CancelRejected(coid, "UNKNOWN_CANCEL_FAILURE_REASON", ts)], o, ts
            ), []
        self._end(o, OrderStatus.CANCELLED)
        if o.sells:
            self.cover_log.append(("cancel", o))
        if lost == "applied":
            return self._asked([CancelUnknown(coid, ts, "timeout")], o, ts), []
        return self.news(o, ts), []

    def _asked(self, reply: list[Any], o: ExOrder, ts: int) -> list[Any]:
        """Today's driver looks a refused or unanswered cancel up at once."""
        return reply + self.news(o, ts) if self.adv.driver_asks else reply

    def _edit(self, cmd: EditStopOrder, ts: int):
        coid = cmd.client_order_id
        o = self.by_oid.get(cmd.order_id)
        if o is None:
            return [EditRejected(coid, "ORDER_NOT_FOUND", ts)], []
        pushes: list[Any] = []
        if o.status is OrderStatus.OPEN and not o.triggered:
            ended = self.adv.end_during_edit(o)
            if ended is not None:
                self._end(o, ended)
                pushes.append(self.report(o, ts))
        lost = self.adv.lose_edit(o)
        reason = self._edit_problem(o, cmd)
        if reason is None:
            o.size, o.stop, o.limit = cmd.size, cmd.stop_price, cmd.limit_price
            reply: list[Any] = [OrderEdited(coid, cmd.size, cmd.stop_price, cmd.limit_price, ts)]
        else:
            reply = [EditRejected(coid, reason, ts)]
        if lost:
            if not self.adv.driver_asks:
                return [], pushes  # nothing comes back: the engine must ask
            # today's driver: `edit_truth`, the order's levels as the exchange has them
            reply = [OrderEdited(coid, o.size, o.stop, o.limit, ts), *self.news(o, ts)]
        return reply, pushes

    def _edit_problem(self, o: ExOrder, cmd: EditStopOrder) -> str | None:
        if o.status is not OrderStatus.OPEN:
            return "ONLY_OPEN_ORDERS_CAN_BE_EDITED"
        if o.kind != "stop":
            return "FIELD_STOPPRICE_NOT_SUPPORTED"
        if o.triggered:
            return "CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER"
        if (cmd.size, cmd.stop_price, cmd.limit_price) == (o.size, o.stop, o.limit):
            return "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
        if cmd.size < o.filled:
            return "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
        probe = PlaceStopLimitSell(
            o.coid, self.p.product_id, cmd.size, cmd.stop_price, cmd.limit_price, 0
        )
        problem = placement_problem(self.p, probe, self.last)
        if problem is not None:
            return problem if problem.startswith("PREVIEW_") else f"PREVIEW_{problem}"
        if cmd.size - o.size > self.available():
            return "PREVIEW_INSUFFICIENT_FUND"
        return None


# -- the harness ----------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    prop: str  # "a" .. "f", "storm"
    step: int
    text: str

    def __str__(self) -> str:
        return f"({self.prop}) step {self.step}: {self.text}"


class _Abort(Exception):
    pass


def _key(cmd: Command) -> tuple:
    """What makes two requests identical (for the back-off check)."""
    if isinstance(cmd, PlaceStopLimitSell):
        return ("stop", cmd.size, cmd.stop_price, cmd.limit_price)
    if isinstance(cmd, PlaceLimitSell):
        return ("exit", cmd.size, cmd.limit_price)
    if isinstance(cmd, PlaceLimitBuy):
        return ("buy", cmd.size, cmd.limit_price)
    if isinstance(cmd, CancelOrder):
        return ("cancel", cmd.client_order_id)
    if isinstance(cmd, EditStopOrder):
        return ("edit", cmd.client_order_id, cmd.size, cmd.stop_price, cmd.limit_price)
    return ("query", cmd.client_order_id)


def _fill_news(ev: Any) -> bool:
    return isinstance(ev, OrderFilled) or (
        isinstance(ev, OrderStatusReport) and ev.filled_size is not None
    )


class Harness:
    """Drive one engine against the exchange; check (a)-(f) after every event."""

    def __init__(
        self,
        params: PairParams,
        rule: Callable[[], EntryRule],
        prices: list[Any],
        adversary: Adversary | None = None,
        *,
        can_edit: bool = False,
        restart_at: tuple[int, ...] = (),
        kill_at: int | None = None,
        flatten_pct: Decimal | None = None,
        id_prefix: str = "lv",
        engine_cls: type[DecisionEngine] = DecisionEngine,
    ) -> None:
        self.params = params
        self.pp = params.protection
        self.p = params.product
        self.rule = rule
        # per step: a price (a trade), None (a timer), or (seen, unseen): two prints of
        # which the engine's ticker shows only the first (None for none) before it acts
        self.prices = prices
        self.adv = adversary or Adversary()
        self.ex = Exchange(self.p, self.adv)
        self.can_edit = can_edit
        self.restart_at = set(restart_at)
        self.kill_at = kill_at
        self.flatten_pct = flatten_pct
        self.engine_cls = engine_cls
        self.engine = engine_cls(params, rule(), id_prefix)
        self.engine.can_edit_stops = can_edit
        self.ex.known = lambda coid: self.engine.orders.get(coid)
        self.inbox: list[tuple[int, int, Any]] = []  # (due step, seq, event)
        self.queue: list[Any] | None = None  # the events of the step being handled
        self.seq = 0
        self.step = 0
        self.ts = 0
        self.violations: list[Violation] = []
        self.reports: list[Any] = []
        self.commands: list[tuple[int, Command]] = []
        self.handled = 0
        self.trace: list[str] | None = None  # set to [] to log every event and command
        # (a)
        self.written_off = ZERO
        self.spell: int | None = None
        self.spell_said = False
        self.cover_seen = 0  # how much of the exchange's cover_log was looked at
        # the engine cancelled a sell that covered the position, and placed none since
        self.we_uncovered = False
        self.halted = False
        self.halted_at = 0
        self.entry_said = False
        self.flattened = False
        # reason reports seen (DustLeft, ProtectionBlocked, ProtectionWaiting, StopBreached)
        self.reasons = 0
        self.reason_step = -1  # the step of the last one
        self.opened_step = 0  # the step the current position opened
        self.bare_since: tuple[int, int] | None = None  # (step, reasons) nothing covers
        self.bare_said = False
        # (b)
        self.highest: Decimal | None = None
        self.lag_since: int | None = None
        self.lag_said = False
        # (c)
        self.sent_as: dict[str, tuple] = {}  # coid -> key of its last placement
        self.edit_as: dict[str, tuple] = {}
        self.refused: dict[tuple, tuple[int, int]] = {}  # key -> (delivered ts, in a row)
        self.ended_seen: set[str] = set()
        self.refused_step = -1  # the last step a refusal was delivered
        # (d)
        self.closed_bought = ZERO
        self.closed_sold = ZERO

    # -- bookkeeping -------------------------------------------------------------------

    def violate(self, prop: str, text: str) -> None:
        self.violations.append(Violation(prop, self.step, text))

    def by_prop(self) -> dict[str, list[Violation]]:
        out: dict[str, list[Violation]] = {}
        for v in self.violations:
            out.setdefault(v.prop, []).append(v)
        return out

    def summary(self) -> str:
        acts = "; ".join(f"{s}:{t}" for s, t in self.adv.acts[:12]) or "none"
        lines = [str(vs[0]) for vs in self.by_prop().values()]
        return "\n".join([*lines, f"adverse acts: {acts}"])

    @property
    def grace_until(self) -> int:
        """Bounds (a) and (b) run from the last adverse act or refusal (even a rightful
        one, such as a stop refused as above a print the engine did not see: a correct
        engine backs off, up to `retry_max_ns`) plus `grace_steps`."""
        last = max(self.adv.acts[-1][0] if self.adv.acts else -1, self.refused_step)
        return last + grace_steps(self.pp) if last >= 0 else -1

    def enqueue(self, ev: Any, delay: int) -> None:
        self.seq += 1
        self.inbox.append((self.step + delay, self.seq, ev))

    def push(self, events: list[Any]) -> None:
        """The exchange's own news (user channel): delivered this step unless late."""
        for ev in events:
            for _ in range(2 if self.adv.duplicate(ev) else 1):
                delay = self.adv.push_delay(ev)
                if delay == 0 and self.queue is not None:
                    self.queue.append(ev)  # during a step: after what is queued
                else:
                    self.enqueue(ev, delay)

    # -- the run -----------------------------------------------------------------------

    def run(self) -> Harness:
        try:
            for k, price in enumerate(self.prices):
                self.step = self.adv.step = k
                self.ts = ts = (k + 1) * STEP_NS
                first: list[Any] = []
                if k in self.restart_at:
                    first += self._restart(ts)
                if k == self.kill_at:
                    first.append(
                        TradingStateChanged(TradingState.HALTED, ts, "kill", self.flatten_pct)
                    )
                self.push(self.ex.tick(k, ts))
                market: Any = Timer(ts)
                prints = price if isinstance(price, tuple) else (price,)
                for i, pr in enumerate(prints):
                    if pr is None:
                        continue
                    self.push(self.ex.trade(pr, ts))
                    if i == 0:
                        market = MarketTrade(self.p.product_id, pr, D(1), ts, f"m{k}")
                due = sorted((x for x in self.inbox if x[0] <= k), key=lambda x: x[1])
                self.inbox = [x for x in self.inbox if x[0] > k]
                news = [replace(ev, ts=ts) for _, _, ev in due]
                if self.adv.reorder:
                    batch = [*news, market]
                    random.Random(k * 7919 + len(news)).shuffle(batch)
                else:  # the drivers' step: stop news, fills, then the trade
                    news.sort(key=lambda e: 0 if isinstance(e, OrderStatusReport) else 1)
                    batch = [*news, market]
                self._pump(first + batch, ts)
                self._end_of_step()
        except _Abort:
            pass
        return self

    def _pump(self, batch: list[Any], ts: int) -> None:
        queue = self.queue = list(batch)
        handles = 0
        while queue:
            ev = queue.pop(0)
            handles += 1
            if handles > MAX_HANDLES_PER_STEP:
                kinds = {}
                for _, c in self.commands[-50:]:
                    kinds[type(c).__name__] = kinds.get(type(c).__name__, 0) + 1
                self.violate(
                    "storm",
                    f"the step never settles: {handles} events handled, last commands {kinds}",
                )
                raise _Abort
            answers = self._handle(ev, ts)
            if self.adv.replies_first:
                queue[:0] = answers
            else:
                queue += answers
        self.queue = None

    def _handle(self, ev: Any, ts: int) -> list[Any]:
        self._learn(ev, ts)
        if self.trace is not None:
            self.trace.append(f"{self.step:4} > {_short(ev)}")
        try:
            commands = self.engine.handle(ev)
        except Exception as exc:  # (e)
            self.violate("e", f"handle({type(ev).__name__} {_short(ev)}) raised {exc!r}")
            raise _Abort from None
        self.handled += 1
        for r in self.engine.take_reports():
            self._on_report(r)
        answers: list[Any] = []
        for cmd in commands:
            if self.trace is not None:
                self.trace.append(f"{self.step:4}   < {_short(cmd)}")
            self._sent(cmd, ts)
            reply, pushes = self.ex.execute(cmd, ts)
            self.push(pushes)
            delay = self.adv.reply_delay(cmd) if reply else 0
            if delay:
                for r in reply:
                    self.enqueue(r, delay)
            else:
                answers += reply
        self._check()
        return answers

    def _restart(self, ts: int) -> list[Any]:
        """A crash and a restart from the store: the engine comes back from its snapshot
        (through JSON, as the store keeps it); answers in flight are lost with the
        process, fills stay with the exchange; every pending order is looked up as the
        drivers' `recovery_events` do."""
        self.adv.act("restart")
        snap = json.loads(json.dumps(self.engine.snapshot()))
        engine = self.engine_cls.restore(self.params, self.rule(), snap)
        engine.can_edit_stops = self.can_edit
        self.engine = engine
        self.inbox = [x for x in self.inbox if isinstance(x[2], OrderFilled)]
        events: list[Any] = []
        for order in engine.pending_orders():
            events += self._recover(order, ts)
        return events

    def _recover(self, order: Any, ts: int) -> list[Any]:
        coid = order.client_order_id
        status = order.status
        out: list[Any] = []
        if status is OrderStatus.INITIALIZED:
            out.append(OrderSubmitUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_CANCEL:
            out.append(CancelUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_EDIT and order.order_id is not None:
            o = self.ex.by_oid.get(order.order_id)
            if o is None:
                return [EditRejected(coid, "order not found after an unanswered edit", ts)]
            return [OrderEdited(coid, o.size, o.stop, o.limit, ts), *self.ex.news(o, ts)]
        o = self.ex.orders.get(coid)
        if order.order_id is None:
            if o is None:  # never reached the exchange: sent again, same id
                cmd = _placement(order)  # the driver's, not the engine's: not judged by (c)
                self.commands.append((self.step, cmd))
                self.sent_as[coid] = _key(cmd)
                reply, pushes = self.ex.execute(cmd, ts)
                self.push(pushes)
                return out + reply
            out.append(OrderAccepted(coid, o.oid, ts))
        if o is None:
            return out
        return out + [e for e in self.ex.news(o, ts) if not isinstance(e, OrderAccepted)]

    # -- what the engine learns and says -----------------------------------------------

    def _learn(self, ev: Any, ts: int) -> None:
        """(c): the refusals the engine is told of, with when it is told."""
        coid = getattr(ev, "client_order_id", None)
        key: tuple | None = None
        if isinstance(ev, OrderRejected):
            key = self.sent_as.get(coid)
        elif isinstance(ev, CancelRejected):
            key = ("cancel", coid)
        elif isinstance(ev, EditRejected):
            key = self.edit_as.get(coid)
        elif (
            isinstance(ev, OrderStatusReport)
            and ev.status in (OrderStatus.FAILED, OrderStatus.EXPIRED)
            and coid not in self.ended_seen
        ):
            self.ended_seen.add(coid)
            key = self.sent_as.get(coid)
        elif isinstance(ev, OrderAccepted | OrderEdited):
            # a request that went through: the back-off starts again
            self.refused.pop(self.sent_as.get(coid, ()), None)
            self.refused.pop(self.edit_as.get(coid, ()), None)
        if key is not None:
            _, n = self.refused.get(key, (0, 0))
            self.refused[key] = (ts, n + 1)
            self.refused_step = self.step
        if isinstance(ev, TradingStateChanged) and ev.state is TradingState.HALTED:
            if not self.halted:
                self.halted_at = self.step
            self.halted = True
            self.flattened = self.flattened or ev.flatten_offset_pct is not None
        if isinstance(ev, MarketTrade) and self.highest is not None:
            self.highest = max(self.highest, ev.price)

    def _on_report(self, r: Any) -> None:
        self.reports.append((self.step, r))
        if isinstance(r, DustLeft | ProtectionBlocked | ProtectionWaiting | StopBreached):
            self.reasons += 1
            self.reason_step = self.step
        if isinstance(r, PositionOpened):
            self.opened_step = self.step
            self.highest = r.price
            self.lag_since = None
        elif isinstance(r, PositionClosed):
            self.highest = None
            self.closed_bought += r.size
            self.closed_sold += r.size - r.left
            if r.left > 0:
                self.written_off += r.left
                if not self._dust(self.p.size_down(r.left)):
                    self.violate(
                        "a", f"position closed leaving {r.left}, but {self._why_not_dust()}"
                    )
        elif isinstance(r, DustLeft) and not self._dust(self.p.size_down(r.size)):
            self.violate("a", f"DustLeft {r.size} ({r.reason}) but {self._why_not_dust()}")

    def _sent(self, cmd: Command, ts: int) -> None:
        self.commands.append((self.step, cmd))
        key = _key(cmd)
        if isinstance(cmd, PlaceLimitBuy | PlaceLimitSell | PlaceStopLimitSell):
            self.sent_as[cmd.client_order_id] = key
        elif isinstance(cmd, EditStopOrder):
            self.edit_as[cmd.client_order_id] = key
        if isinstance(cmd, PlaceLimitBuy) and self.halted:
            self.violate("f", f"entry {cmd.client_order_id} placed after the kill switch")
        got = self.refused.get(key)
        if got is not None:
            t0, n = got
            wait = min(self.pp.retry_initial_ns * 2 ** (n - 1), self.pp.retry_max_ns)
            if ts - t0 < wait:
                self.violate(
                    "c",
                    f"{_short(cmd)} re-sent {(ts - t0) / SEC:g}s after its refusal #{n} "
                    f"(back-off {wait / SEC:g}s)",
                )

    # -- the properties ----------------------------------------------------------------

    def _dust(self, size: Decimal) -> bool:
        """No sell of `size` can be sent (or the engine made it so itself: see (a))."""
        p = self.p
        if size <= 0 or size < p.base_min_size:
            return True
        last = self.ex.last
        if last is None:
            return True
        return bool(p.quote_min_size) and size * last < p.quote_min_size and not self.we_uncovered

    def _why_not_dust(self) -> str:
        if self.we_uncovered:
            return (
                "it is under the minimum only because the engine cancelled a sell that covered it"
            )
        return (
            f"it could be sold at the last trade {self.ex.last} (minimums "
            f"{self.p.base_min_size} base, {self.p.quote_min_size} quote)"
        )

    def _candidate(self) -> Decimal | None:
        if self.highest is None:
            return None
        trail = self.params.trail
        c = self.p.price_down(self.highest * (1 - trail.trail_pct))
        return c if c > 0 else None

    def _check(self) -> None:
        ex = self.ex
        # did the engine take cover away (and not put any back)?
        for what, o in ex.cover_log[self.cover_seen :]:
            if what == "place":
                self.we_uncovered = False
            elif not self.p.quote_min_size or o.remaining * o.limit >= self.p.quote_min_size:
                self.we_uncovered = True
        self.cover_seen = len(ex.cover_log)
        # (d) never more booked than executed
        bought, sold = self._booked()
        if bought > ex.bought or sold > ex.sold:
            self.violate(
                "d", f"booked bought {bought} / sold {sold} > exchange {ex.bought} / {ex.sold}"
            )
        # (f) the kill switch cancels a working entry
        if self.halted and not self.entry_said and step_over(self.step, self.halted_at):
            buys = [o.coid for o in ex.open.values() if not o.sells]
            if buys and self.step > self.grace_until:
                self.entry_said = True
                self.violate(
                    "f",
                    f"entry {buys[0]} still works {self.step - self.halted_at} "
                    "steps after the kill switch",
                )
        held = ex.held - self.written_off
        if held <= 0:
            self.spell = None
            self.lag_since = None
            self.we_uncovered = False
            self.bare_since = None  # nothing held: a later position starts afresh
            return
        step = self.step
        covered = ZERO
        stops: list[Decimal] = []
        for o in ex.open.values():
            if not o.sells:
                continue
            if o.kind == "stop" and not o.triggered:
                assert o.stop is not None
                stops.append(o.stop)
                if not self.flattened:
                    covered += o.remaining
                continue
            stale = exit_stale_steps(self.pp) if o.kind == "exit" else gap_stale_steps(self.pp)
            if o.under_since is None or step - o.under_since <= stale:
                covered += o.remaining
        uncovered = self.p.size_down(held - covered) if held > covered else ZERO
        if uncovered <= 0:
            self.we_uncovered = False
        cand = self._candidate()
        last = ex.last
        waiting = (
            self.pp.on_breach is BreachPolicy.WAIT
            and not self.flattened
            and cand is not None
            and last is not None
            and last <= cand
        )
        # (a) what nothing covers may be dust; a part left out of a cover is not (the
        # cover can be resized to take it), unless all that is held is dust at the
        # market (no order for it could be sent)
        dust = self._dust(held) or (covered == 0 and self._dust(uncovered))
        if uncovered <= 0 or dust or waiting:
            self.spell = None
            self.spell_said = False
            self._unsaid(covered == 0 and uncovered > 0, waiting)
        else:
            self._unsaid(False, False)
            if self.spell is None:
                self.spell = step
            if step - self.spell > COVER_BOUND and step > self.grace_until and not self.spell_said:
                self.spell_said = True
                self.violate(
                    "a",
                    f"{uncovered} of {held} held uncovered since step {self.spell} "
                    f"(last trade {last}; open sells: {self._sells()})",
                )
        # (b)
        mr = self.params.trail.min_ratchet
        if stops and cand is not None and not self.flattened and not self._dust(held):
            low = min(stops)
            lag = low * (1 + mr) < cand and not waiting
            if not lag:
                self.lag_since = None
                self.lag_said = False
            else:
                if self.lag_since is None:
                    self.lag_since = step
                if (
                    step - self.lag_since > RATCHET_BOUND
                    and step > self.grace_until
                    and not self.lag_said
                ):
                    self.lag_said = True
                    self.violate(
                        "b",
                        f"exchange stop at {low} since step {self.lag_since} while the "
                        f"ratchet wants {cand} (high {self.highest}, last {last})",
                    )
        else:
            self.lag_since = None
            self.lag_said = False

    def _unsaid(self, bare: bool, waiting: bool) -> None:
        """(a): a held size that nothing covers, rightly (dust, or on_breach = wait), has
        its reason reported (DustLeft, ProtectionBlocked, ProtectionWaiting, StopBreached)
        once no entry can still add to it: within the entry's wait and COVER_BOUND steps."""
        if not bare:
            self.bare_since = None
            return
        if self.bare_since is None:
            self.bare_since = (self.step, self.reasons)
            self.bare_said = False
            return
        start, reasons = self.bare_since
        if self.reason_step >= self.opened_step:
            return  # said while this position is open (a sell left above the market, or
            # a remainder under the minimum, is said when it arises, bare only later)
        bound = steps_of(self.params.max_entry_wait_ns) + COVER_BOUND
        if (
            self.reasons == reasons
            and self.step - start > bound
            and self.step > self.grace_until
            and not self.bare_said
        ):
            self.bare_said = True
            what = "waits (on_breach = wait)" if waiting else "is dust"
            self.violate(
                "a",
                f"{self.ex.held - self.written_off} held {what}, uncovered since step {start}, "
                "and no reason was reported (DustLeft / ProtectionBlocked / StopBreached)",
            )

    def _booked(self) -> tuple[Decimal, Decimal]:
        pos = self.engine.position
        bought, sold = self.closed_bought, self.closed_sold
        if pos is not None:
            bought += pos.filled_size
            sold += pos.sold_size
        return bought, sold

    def _end_of_step(self) -> None:
        """(d): with every fill delivered, the engine booked exactly the exchange's."""
        if any(_fill_news(x[2]) for x in self.inbox):
            return
        bought, sold = self._booked()
        if (bought, sold) != (self.ex.bought, self.ex.sold):
            self.violate(
                "d",
                f"booked bought {bought} / sold {sold}, exchange filled {self.ex.bought} / "
                f"{self.ex.sold}",
            )

    def _sells(self) -> str:
        out = []
        for o in self.ex.open.values():
            if o.sells:
                state = "triggered " if o.triggered else ""
                at = f"{o.stop}/{o.limit}" if o.kind == "stop" else f"{o.limit}"
                out.append(f"{state}{o.kind} {o.coid} {o.remaining}@{at}")
        return ", ".join(out) or "none"

    # -- what the tests look at ----------------------------------------------------------

    def open_stops(self) -> list[ExOrder]:
        return [o for o in self.ex.open.values() if o.kind == "stop" and not o.triggered]

    def sent(self, cls: type) -> list[Command]:
        return [c for _, c in self.commands if isinstance(c, cls)]


def _placement(order: Any) -> Command:
    if order.stop_price is not None:
        return PlaceStopLimitSell(
            order.client_order_id,
            order.product_id,
            order.size,
            order.stop_price,
            order.limit_price,
            order.created_ts,
        )
    if order.side.value == "SELL":
        return PlaceLimitSell(
            order.client_order_id,
            order.product_id,
            order.size,
            order.limit_price,
            order.created_ts,
        )
    return PlaceLimitBuy(
        order.client_order_id, order.product_id, order.size, order.limit_price, order.created_ts
    )


def _short(x: Any) -> str:
    name = type(x).__name__
    fields = []
    for f in ("client_order_id", "status", "size", "stop_price", "limit_price", "reason", "price"):
        v = getattr(x, f, None)
        if v is not None:
            fields.append(str(v))
    return f"{name}({' '.join(fields)})"


# -- seeded scenarios -------------------------------------------------------------------

# Products whose grids and minimums bite: a 0.05 price grid with a base and a quote
# minimum; the same grid with no quote minimum and prices under 1 (a stop's limit can
# round to zero); a 1e-8 grid with prices under 1 and a large base minimum; a cent grid
# with a 10-quote minimum (prices from 0.2 up, where the cent is coarse); a BTC-like one.
PRODUCTS: list[tuple[ProductSpec, Decimal, Decimal, Decimal, Decimal]] = [
    # spec, lowest start, highest start, quote budget low, high
    (
        ProductSpec("NICK-USD", D("0.1"), D("0.05"), D("1"), quote_min_size=D("5")),
        D("0.4"),
        D("30"),
        D("12"),
        D("80"),
    ),
    (ProductSpec("DIME-USD", D("1"), D("0.05"), D("1")), D("0.1"), D("2"), D("3"), D("40")),
    (
        ProductSpec("MICRO-USD", D("1"), D("0.00000001"), D("1000"), quote_min_size=D("1")),
        D("0.00002"),
        D("0.9"),
        D("3"),
        D("60"),
    ),
    (
        ProductSpec("CENT-USD", D("0.001"), D("0.01"), D("0.1"), quote_min_size=D("10")),
        D("0.2"),
        D("200"),
        D("25"),
        D("300"),
    ),
    (
        ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00001"), quote_min_size=D("1")),
        D("100"),
        D("90000"),
        D("5"),
        D("500"),
    ),
]


@dataclass
class Scenario:
    seed: int
    params: PairParams
    rule: Callable[[], EntryRule]
    prices: list[Any]
    adversary: RandomAdversary
    can_edit: bool
    restart_at: tuple[int, ...]
    kill_at: int | None
    flatten_pct: Decimal | None
    text: str

    def harness(self) -> Harness:
        return Harness(
            self.params,
            self.rule,
            self.prices,
            self.adversary,
            can_edit=self.can_edit,
            restart_at=self.restart_at,
            kill_at=self.kill_at,
            flatten_pct=self.flatten_pct,
        )


def _r(rng: random.Random, lo: Decimal, hi: Decimal) -> Decimal:
    """A log-uniform-ish Decimal between lo and hi (exact, 6 significant digits)."""
    x = D(repr(rng.random()))
    v = lo * (hi / lo) ** x if hi > lo else lo
    return D(format(v, ".6g"))


def path(rng: random.Random, p: ProductSpec, start: Decimal, n: int) -> list[Any]:
    """A price path on the product's grid: small moves, some gaps down and jumps up,
    some quiet seconds (timers), a few prints the engine does not see; then a tail that
    rises, falls hard and goes quiet."""
    grid = p.quote_increment
    x = start

    def on_grid(v: Decimal) -> Decimal:
        return max(grid, (v / grid).to_integral_value(ROUND_HALF_EVEN) * grid)

    out: list[Any] = []
    for _ in range(n):
        u = rng.random()
        if u < 0.08:
            out.append(None)
            continue
        if u < 0.16:
            m = rng.randint(-120, -30)
        elif u < 0.22:
            m = rng.randint(30, 100)
        else:
            m = rng.randint(-20, 22)
        x = max(grid, x * (1 + D(m) / 1000))
        if rng.random() < 0.04:  # a print under it that the engine's ticker does not show
            out.append((on_grid(x), on_grid(x * D("0.985"))))
        else:
            out.append(on_grid(x))
    for i in range(40):
        if i < 12:
            x = x * D("1.03")
        elif i < 24:
            x = x * D("0.94")
        out.append(None if i >= 34 else on_grid(x))
    return out


def scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    spec, lo, hi, qlo, qhi = rng.choice(PRODUCTS)
    start = _r(rng, lo, hi)
    trail = rng.choice([D("0.01"), D("0.02"), D("0.05"), D("0.1"), D("0.3")])
    buffer = rng.choice([D("0.001"), D("0.005"), D("0.02")])
    ratchet = rng.choice([D("0"), D("0"), D("0.001"), D("0.01")])
    breach = rng.choice([BreachPolicy.EXIT, BreachPolicy.EXIT, BreachPolicy.WAIT])
    pp = ProtectionParams(
        on_breach=breach,
        exit_reprice_ns=3 * SEC,
        gap_exit_after_ns=4 * SEC,
        gap_exit_after_trades=2,
        retry_initial_ns=1 * SEC,
        retry_max_ns=8 * SEC,
    )
    budget = _r(rng, qlo, qhi)
    params = PairParams(
        spec, TrailParams(trail, buffer, ratchet), 5 * SEC, quote_budget=budget, protection=pp
    )
    once = rng.random() < 0.4
    offset = rng.choice([D("0"), D("0.002"), D("0.01")])
    at = rng.randint(0, 5)

    def rule() -> EntryRule:
        return EnterOnce(at_tick=at, offset_pct=offset) if once else FixedOffsetEntry(offset)

    n = rng.randint(40, 110)
    prices = path(rng, spec, start, n)

    def rate(p_on: float, lo_: float, hi_: float) -> float:
        return rng.uniform(lo_, hi_) if rng.random() < p_on else 0.0

    m = Misbehaviour(
        budget=rng.randint(1, 8),
        refuse_cancel=rate(0.6, 0.2, 0.6),
        refuse_placement=rate(0.3, 0.05, 0.3),
        lose=rate(0.4, 0.05, 0.3),
        end_later=rate(0.4, 0.05, 0.3),
        end_during_edit=rate(0.3, 0.2, 0.6),
        late=rate(0.4, 0.05, 0.3),
        duplicate=rate(0.4, 0.1, 0.4),
        partial=rate(0.4, 0.2, 0.6),
    )
    adv = RandomAdversary(
        random.Random(rng.getrandbits(32)),
        m,
        reorder=rng.random() < 0.3,
        replies_first=rng.random() < 0.5,
        driver_asks=rng.random() < 0.5,
    )
    can_edit = rng.random() < 0.4
    restart_at = (rng.randint(5, len(prices) - 5),) if rng.random() < 0.3 else ()
    kill_at = rng.randint(10, len(prices) - 10) if rng.random() < 0.25 else None
    flatten = rng.choice([None, D("0.002"), D("0.01")]) if kill_at is not None else None
    text = (
        f"seed {seed}: {spec.product_id} from {start}, trail {trail} buffer {buffer} "
        f"min_ratchet {ratchet}, on_breach {breach.value}, budget {budget}, "
        f"{'once' if once else 'repeat'} entry, {m}, reorder {adv.reorder}, replies_first "
        f"{adv.replies_first}, driver_asks {adv.driver_asks}, can_edit {can_edit}, restart "
        f"{restart_at}, kill {kill_at} flatten {flatten}, {len(prices)} steps"
    )
    return Scenario(seed, params, rule, prices, adv, can_edit, restart_at, kill_at, flatten, text)


def run_seed(seed: int) -> Harness:
    return scenario(seed).harness().run()


def survey(seeds: range) -> dict[str, list[tuple[int, str]]]:
    """seed -> first violation, per property (for the docstring's findings)."""
    found: dict[str, list[tuple[int, str]]] = {}
    for s in seeds:
        h = run_seed(s)
        for prop, vs in h.by_prop().items():
            found.setdefault(prop, []).append((s, str(vs[0])))
    return found
