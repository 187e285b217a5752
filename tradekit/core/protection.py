"""Protection: the explicit state machine that keeps every filled position protected.

tradekit's one promise: a filled position always has a resting stop, a stop or an exit
in flight, an exit working, or a reported reason why not. This module holds every rule
of that promise; `DecisionEngine` owns one `Protection` per pair and asks it what to do
after each event (sans-I/O: it returns commands and states reports, like the rest of
the core).

States (`ProtectionState`), in the order a position usually lives them:

    NONE       nothing to protect (flat, or an entry fill still under the minimum while
               the entry works)
    PLACING    a stop placement is in flight (sent, not yet acknowledged)
    RESTING    a stop rests at the desired levels, or is about to be changed
    MOVING     a cancel is in flight; what replaces it (a stop, or an exit) is carried
    EDITING    an in-place edit of the stop is in flight (no unprotected gap)
    TRIGGERED  the stop triggered and is selling (never touched, unless gapped through)
    EXITING    an exit limit sell works (stop could not rest, gap-through, flatten)
    BLOCKED    nothing rests and nothing may be sent yet: a refusal is backing off, or
               `on_breach = "wait"` waits for the price; the reason is reported
    DUST       what is left is under the product's base or quote minimum: reported once
               (`DustLeft`), the duty ends and the pair is freed

Every change of state goes through `TRANSITIONS`; a change not in the table raises
`InvalidProtectionTransition` (a bug, never a market condition).

The rules:
1. The desired stop is the position's (`PositionState`): trigger and limit for the
   whole open size rounded down to the base increment.
2. **A stop that cannot rest means the stop was hit.** When the desired trigger is at or
   above the last trade (known before sending, or the exchange refuses it with
   `PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE`), the position exits with a marketable
   limit sell at `round_down(last * (1 - stop_limit_buffer_pct))` (never a market
   order). A resting stop still below the market is cancelled first (the exchange holds
   its funds). With `on_breach = "wait"` the engine keeps the resting stop, or places
   none, until the price is back above the trigger, and says so (`StopBreached`).
   Once a position starts exiting it exits: the price coming back does not undo it.
3. An exit that has not filled is re-priced (cancel, then a new limit from the last
   trade) when the market trades below its limit and `exit_reprice_ns` has passed since
   it was placed: a bounded schedule, never a loop on every trade.
4. **Gap-through.** A stop that triggered and did not fill while the market trades under
   its limit for `gap_exit_after_ns` (or `gap_exit_after_trades` trades) is cancelled
   and replaced by the exit (`StopGappedThrough`).
5. Moving a stop is an edit where the exchange can, else cancel-then-place; the cancel
   command carries the replacement so the driver journals the whole intent before the
   unprotected gap opens. A refused cancel (the stop triggered or filled) places nothing.
   A triggered stop is never touched (but rule 4).
6. **Sizes.** An order whose size is under `base_min_size`, or whose value (size x limit)
   is under `quote_min_size`, is never sent. A remainder like that, once no entry is
   working, is dust: reported once with its size and reason; the duty ends.
7. **Refusals.** A placement refused for a permanent reason (invalid size, precision,
   product...) is never sent again unchanged: the engine reports `ProtectionBlocked` and
   waits for different levels, retried no sooner than the back-off. A transient refusal
   (funds still held, unknown, rate limited) is retried on a back-off that doubles from
   `retry_initial_ns` to `retry_max_ns`.
8. `StopMoved` is reported when the exchange has the new stop (placement acknowledged,
   or edit accepted), with the trigger it replaced (None for a position's first stop).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from tradekit.core.commands import (
    CancelOrder,
    CancelReason,
    Command,
    EditStopOrder,
    PlaceLimitSell,
    PlaceStopLimitSell,
)
from tradekit.core.money import ZERO, ProductSpec, round_up
from tradekit.core.orders import Order, OrderSide, OrderStatus, OrderType, Trigger
from tradekit.core.position import PositionState
from tradekit.core.reports import (
    DustLeft,
    ExitPlaced,
    ProtectionBlocked,
    Report,
    StopBreached,
    StopGappedThrough,
    StopMoved,
    StopRejected,
    StopTriggered,
)

SEC = 1_000_000_000


class BreachPolicy(StrEnum):
    EXIT = "exit"  # a stop that cannot rest was hit: sell with a marketable limit
    WAIT = "wait"  # keep what rests (or nothing) until the price is back above the trigger


@dataclass(frozen=True, slots=True)
class ProtectionParams:
    """How protection reacts when a stop cannot do its job (times in nanoseconds)."""

    on_breach: BreachPolicy = BreachPolicy.EXIT
    exit_reprice_ns: int = 5 * SEC
    gap_exit_after_ns: int = 10 * SEC
    gap_exit_after_trades: int = 3
    retry_initial_ns: int = 1 * SEC
    retry_max_ns: int = 60 * SEC

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_breach", BreachPolicy(self.on_breach))
        for name in ("exit_reprice_ns", "gap_exit_after_ns", "retry_initial_ns", "retry_max_ns"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ValueError(f"{name} must be a positive int of nanoseconds, got {value!r}")
        if type(self.gap_exit_after_trades) is not int or self.gap_exit_after_trades < 1:
            raise ValueError(
                f"gap_exit_after_trades must be an int >= 1, got {self.gap_exit_after_trades!r}"
            )
        if self.retry_max_ns < self.retry_initial_ns:
            raise ValueError("retry_max_ns must be >= retry_initial_ns")


class ProtectionState(StrEnum):
    NONE = "none"
    PLACING = "placing"
    RESTING = "resting"
    MOVING = "moving"
    EDITING = "editing"
    TRIGGERED = "triggered"
    EXITING = "exiting"
    BLOCKED = "blocked"
    DUST = "dust"


P = ProtectionState
# Every allowed change of state (staying put is always allowed). What is missing is a
# bug: EXITING never goes back to a stop, nothing rests without being placed first, a
# triggered stop is never replaced by a stop.
TRANSITIONS: dict[ProtectionState, frozenset[ProtectionState]] = {
    P.NONE: frozenset({P.PLACING, P.EXITING, P.BLOCKED, P.DUST}),
    P.PLACING: frozenset(
        {P.RESTING, P.MOVING, P.EDITING, P.TRIGGERED, P.EXITING, P.BLOCKED, P.DUST, P.NONE}
    ),
    P.RESTING: frozenset(
        {P.PLACING, P.MOVING, P.EDITING, P.TRIGGERED, P.EXITING, P.BLOCKED, P.DUST, P.NONE}
    ),
    P.MOVING: frozenset({P.PLACING, P.RESTING, P.TRIGGERED, P.EXITING, P.BLOCKED, P.DUST, P.NONE}),
    P.EDITING: frozenset({P.RESTING, P.MOVING, P.TRIGGERED, P.NONE}),
    P.TRIGGERED: frozenset({P.MOVING, P.EXITING, P.BLOCKED, P.DUST, P.NONE}),
    P.EXITING: frozenset({P.BLOCKED, P.DUST, P.NONE}),
    P.BLOCKED: frozenset({P.PLACING, P.EXITING, P.DUST, P.NONE}),
    P.DUST: frozenset({P.PLACING, P.EXITING, P.NONE}),
}


class InvalidProtectionTransition(Exception):
    def __init__(self, product_id: str, old: ProtectionState, new: ProtectionState) -> None:
        super().__init__(f"{product_id}: protection cannot go from {old.value} to {new.value}")
        self.old = old
        self.new = new


# Orders whose fate the engine does not know yet: wait for the exchange's word.
IN_FLIGHT = frozenset(
    {
        OrderStatus.INITIALIZED,
        OrderStatus.SUBMIT_UNKNOWN,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCEL_UNKNOWN,
        OrderStatus.CANCEL_QUEUED,
        OrderStatus.PENDING_EDIT,
        OrderStatus.UNKNOWN_ORDER_STATUS,
    }
)
_CANCELLING = frozenset(
    {OrderStatus.PENDING_CANCEL, OrderStatus.CANCEL_UNKNOWN, OrderStatus.CANCEL_QUEUED}
)
_PLACING = frozenset(
    {OrderStatus.INITIALIZED, OrderStatus.SUBMIT_UNKNOWN, OrderStatus.UNKNOWN_ORDER_STATUS}
)
BREACH_REASONS = frozenset({"PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"})
# Coinbase failure reasons that the same order will get again, whatever the moment.
_PERMANENT_PREFIXES = ("INVALID_", "PREVIEW_INVALID_", "UNSUPPORTED_")
_PERMANENT = frozenset(
    {"PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE", "INVALID_PRODUCT_ID", "UNKNOWN_PRODUCT"}
)


def is_permanent(reason: str) -> bool:
    """True when a refusal would be repeated for the same order (so never resend it)."""
    return reason in _PERMANENT or reason.startswith(_PERMANENT_PREFIXES)


def order_problem(product: ProductSpec, size: Decimal, price: Decimal) -> str | None:
    """Why the exchange would refuse an order of `size` at `price`, or None."""
    return product.size_problem(size) or product.notional_problem(size, price)


class Host(Protocol):
    """What protection needs from its decision engine: ids and a place to keep orders."""

    product_id: str
    last_price: Decimal | None

    def next_id(self) -> str: ...
    def add_order(self, order: Order) -> None: ...
    def report(self, report: Report) -> None: ...


class Protection:
    """One pair's protection duty. See the module docstring for every rule."""

    def __init__(
        self, product: ProductSpec, params: ProtectionParams, buffer_pct: Decimal, host: Host
    ) -> None:
        self.product = product
        self.params = params
        self.buffer_pct = buffer_pct  # exits are priced like the stop's limit
        self.host = host
        self.can_edit = False  # set by the driver: may a resting stop be moved in place?
        self._clear()

    def _clear(self) -> None:
        self.state = ProtectionState.NONE
        self.stop: Order | None = None  # the stop while it may rest
        self.exit: Order | None = None  # the exit limit sell while it may rest
        self.next_stop_id: str | None = None  # the id reserved by a cancel's `then`
        self.exiting = ""  # why the position exits ("" = it does not): sticky
        self.flatten_offset: Decimal | None = None  # the kill switch's exit offset
        self.previous_stop_id: str | None = None  # the stop a new one replaces
        self.rested_trigger: Decimal | None = None  # the trigger the exchange last had
        self.cancel_refused: str | None = None  # a stop whose cancel was refused
        self.edit_refused: str | None = None  # a stop whose in-place edit was refused
        self.blocked = ""  # why nothing rests (reported once per reason)
        self.refused: tuple[str, str] | None = None  # (permanent reason, order key)
        self.retry_at = 0  # no placement before this ts (back-off)
        self.retry_ns = 0  # the current back-off step
        self.gap_since: int | None = None  # first trade under a triggered stop's limit
        self.gap_trades = 0
        self.breach_reported: Decimal | None = None  # StopBreached (wait) said for it
        self.dust = False  # DustLeft reported: the duty is over
        self.triggered_reported: str | None = None  # the stop StopTriggered was said for
        self.wait_above: Decimal | None = None  # on_breach=wait: no stop until a trade above
        self.highest = ZERO  # the position's high, for the reports
        self.placed_high = ZERO  # the high that set the stop last sent (StopMoved says it)
        # The exchange refused a stop as above ITS last trade: the market is under that
        # trigger even if our last trade is not (it has not reached us yet).
        self.price_hint: Decimal | None = None

    # -- state ---------------------------------------------------------------------

    def _go(self, new: ProtectionState) -> None:
        old = self.state
        if new is not old:
            if new not in TRANSITIONS[old]:
                raise InvalidProtectionTransition(self.host.product_id, old, new)
            self.state = new

    def orders(self) -> list[Order]:
        return [o for o in (self.stop, self.exit) if o is not None]

    # -- what the engine tells it ---------------------------------------------------

    def on_cancel_refused(self, order: Order) -> None:
        """A cancel of the stop or the exit was refused: it triggered, filled or is gone.
        Never asked again: the exchange's report of that order settles it."""
        if order is self.stop or order is self.exit:
            self.cancel_refused = order.client_order_id
        if order is self.stop:
            self.next_stop_id = None  # the stop is doing its job: no new stop

    def on_edit_refused(self, order: Order) -> None:
        if order is self.stop:
            self.edit_refused = order.client_order_id  # fall back to cancel, then place

    def on_edited(self, order: Order, ts: int) -> None:
        if order is self.stop and order.stop_price is not None:
            self._stop_rested(order, ts)

    def flatten(self, offset: Decimal) -> None:
        self.flatten_offset = offset
        self.exiting = self.exiting or "flatten"

    def reset(self) -> None:
        """The position is closed: a fresh duty for the next one."""
        self._go(ProtectionState.NONE)
        self._clear()

    # -- the rules -------------------------------------------------------------------

    def update(self, pos: PositionState | None, entry_working: bool, ts: int) -> list[Command]:
        """After any event: learn what the exchange did, then act on what is true now."""
        self._observe(pos, ts)
        if pos is None or self.dust:
            return []
        if pos.open_size <= ZERO:  # all sold: the engine closes the position
            if not self.orders():
                self._go(ProtectionState.NONE)
            return []
        return self._decide(pos, entry_working, ts)

    def quiet_floor(self, pos: PositionState) -> Decimal | None:
        """The price above which a trade cannot change anything (the resting stop's
        trigger): a stop rests, untriggered, at the desired levels for the whole size,
        and nothing else is going on. None when protection has something to do whatever
        the price (the engine's hot path; when in doubt, None and the full rules run)."""
        stop = self.stop
        if (
            stop is not None
            and self.state is ProtectionState.RESTING
            and stop.status is OrderStatus.OPEN
            and not stop.triggered
            and not self.exiting
            and self.price_hint is None
            and self.wait_above is None
            and stop.stop_price is not None
            and stop.stop_price == pos.stop_trigger
            and stop.limit_price == pos.stop_limit
            and stop.remaining == pos.open_size
        ):
            return stop.stop_price
        return None

    def on_trade(self, price: Decimal, ts: int) -> None:
        """Count trades under a triggered stop's limit (the gap-through clock)."""
        self.price_hint = None  # the market's own word replaces the inference
        if self.wait_above is not None and price > self.wait_above:
            self.wait_above = None
        stop = self.stop
        if stop is None or not stop.triggered or stop.status.is_terminal:
            return
        if price < stop.limit_price:
            if self.gap_since is None:
                self.gap_since = ts
                self.gap_trades = 0
            self.gap_trades += 1
        else:
            self.gap_since = None
            self.gap_trades = 0

    def _observe(self, pos: PositionState | None, ts: int) -> None:
        stop = self.stop
        if stop is not None and stop.triggered and self.triggered_reported != stop.client_order_id:
            self.triggered_reported = stop.client_order_id
            self.host.report(
                StopTriggered(
                    self.host.product_id, stop.client_order_id, stop.filled_size, stop.size, ts
                )
            )
        if stop is not None:
            if stop.status is OrderStatus.REJECTED:
                self.stop = None
                self.host.report(
                    StopRejected(self.host.product_id, stop.client_order_id, stop.reason, ts)
                )
                self._refused(stop, ts)
            elif stop.status.is_terminal:
                self.stop = None
                if stop.status is OrderStatus.FILLED:
                    self._go(ProtectionState.NONE)  # done; what is held now is a new duty
                elif stop.triggered:
                    self.exiting = self.exiting or "stop_ended_unfilled"
            else:
                if self.state is ProtectionState.PLACING and stop.status not in IN_FLIGHT:
                    self._stop_rested(stop, ts)
                    self._go(ProtectionState.RESTING)
                if (
                    stop.triggered
                    and self.state is not ProtectionState.TRIGGERED
                    and (self.state is ProtectionState.RESTING or stop.status not in _CANCELLING)
                ):
                    self._go(ProtectionState.TRIGGERED)
        ex = self.exit
        if ex is not None and ex.status.is_terminal:
            self.exit = None
            if ex.status is OrderStatus.REJECTED:
                self._refused(ex, ts)
        for gone in (stop, ex):
            if gone is not None and gone.status.is_terminal:
                if self.cancel_refused == gone.client_order_id:
                    self.cancel_refused = None

    def _refused(self, order: Order, ts: int) -> None:
        reason = order.reason or "UNKNOWN"
        if order.order_type is OrderType.STOP_LIMIT and reason in BREACH_REASONS:
            # The exchange saw the market under the trigger (perhaps before we did).
            assert order.stop_price is not None
            self.price_hint = order.stop_price
            action = "wait" if self.params.on_breach is BreachPolicy.WAIT else "exit"
            self.host.report(
                StopBreached(
                    self.host.product_id,
                    order.stop_price,
                    self._market() or order.stop_price,
                    action,
                    ts,
                )
            )
            self.breach_reported = order.stop_price
            if self.params.on_breach is BreachPolicy.WAIT:
                self.wait_above = order.stop_price
            else:
                self.exiting = self.exiting or "breach"
            return
        if is_permanent(reason):
            self.refused = (reason, _levels(order.size, order.stop_price, order.limit_price))
        self._back_off(ts)

    def _back_off(self, ts: int) -> None:
        p = self.params
        step = self.retry_ns * 2 if self.retry_ns else p.retry_initial_ns
        self.retry_ns = min(p.retry_max_ns, step)
        self.retry_at = ts + self.retry_ns

    def _stop_rested(self, stop: Order, ts: int) -> None:
        assert stop.stop_price is not None
        self.retry_ns = 0
        self.refused = None
        self.blocked = ""
        if stop.stop_price == self.rested_trigger:
            return  # resized (more was bought), not moved
        self.host.report(
            StopMoved(
                self.host.product_id,
                self.rested_trigger,
                stop.stop_price,
                stop.limit_price,
                self.placed_high,
                self.placed_high,
                ts,
            )
        )
        self.rested_trigger = stop.stop_price

    def _decide(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        self.highest = pos.highest
        size = self.product.size_down(pos.open_size)
        last = self._market()
        if self.stop is not None:
            return self._tend_stop(self.stop, pos, size, last, ts)
        if self.exit is not None:
            return self._tend_exit(self.exit, last, ts)
        # Nothing rests: place what protects (a stop, or the exit), if anything may be sent.
        breached = self._breached(pos, last)
        exit_now = bool(self.exiting) or (breached and self.params.on_breach is BreachPolicy.EXIT)
        if exit_now:
            price = self._exit_price(last)
            ceiling = last
        else:
            price, ceiling = pos.stop_limit, pos.stop_trigger
        problem = self._problem(size, price, ceiling)
        if problem:
            if entry_working:  # more may come: nothing to protect yet
                self._go(ProtectionState.NONE)
                return []
            if exit_now and price is None:
                return self._block("no market price to exit at yet", ts)
            return self._dust(size, problem, ts)
        if ts < self.retry_at:
            return self._block(self.blocked or "backing off after a refusal", ts)
        if exit_now:
            if not self.exiting:
                assert last is not None
                self._report_breach(pos, last, ts)
                self.exiting = "breach"
            return self._place_exit(size, last, ts)
        if breached or self.wait_above is not None:
            return self._wait(pos, last, ts)
        return self._place_stop(size, pos, ts)

    def _problem(self, size: Decimal, price: Decimal | None, ceiling: Decimal | None) -> str | None:
        """Why no sell of `size` can be sent at `price` (or at a price raised to meet the
        quote minimum, up to `ceiling`), or None."""
        if price is None or price <= ZERO or ceiling is None:
            return "no price above 0 to sell at"
        return order_problem(self.product, size, self.meet_minimum(size, price, ceiling))

    def meet_minimum(self, size: Decimal, price: Decimal, ceiling: Decimal) -> Decimal:
        """`price`, raised (never above `ceiling`: a stop's trigger, an exit's market) so
        that size x price meets the quote minimum: a smaller buffer beats no order."""
        minimum = self.product.quote_min_size
        if not minimum or size <= ZERO or size * price >= minimum:
            return price
        needed = round_up(minimum / size, self.product.quote_increment)
        return needed if needed <= ceiling else price

    def _market(self) -> Decimal | None:
        """The best knowledge of the market: the last trade, or lower when the exchange
        has said the market is under a trigger we sent."""
        last, hint = self.host.last_price, self.price_hint
        if hint is None or (last is not None and last <= hint):
            return last
        return hint

    def _breached(self, pos: PositionState, last: Decimal | None) -> bool:
        return last is not None and pos.stop_trigger is not None and pos.stop_trigger >= last

    def _tend_stop(
        self, stop: Order, pos: PositionState, size: Decimal, last: Decimal | None, ts: int
    ) -> list[Command]:
        if stop.status in IN_FLIGHT:
            return []  # wait for the exchange's word
        if stop.triggered:
            return self._gap_through(stop, last, ts)
        if self.cancel_refused == stop.client_order_id:
            return []  # it is executing: a report will settle it
        if last is not None and stop.stop_price is not None and last <= stop.stop_price:
            self._go(ProtectionState.RESTING)
            return []  # the exchange is triggering it: its news comes next
        breached = self._breached(pos, last)
        if breached and not self.exiting and self.params.on_breach is BreachPolicy.WAIT:
            return self._wait(pos, last, ts) if last is not None else []
        if self.exiting or breached:
            if not self.exiting:
                assert last is not None
                self._report_breach(pos, last, ts)
                self.exiting = "breach"
            self._go(ProtectionState.MOVING)
            flat = self.exiting == "flatten"
            return self._cancel(stop, CancelReason.FLATTEN if flat else CancelReason.BREACH, ts)
        self._go(ProtectionState.RESTING)
        trigger, limit = pos.stop_trigger, pos.stop_limit
        assert trigger is not None and limit is not None
        limit = self.meet_minimum(size, limit, trigger)
        if stop.remaining == size and stop.stop_price == trigger and stop.limit_price == limit:
            return []
        valid = order_problem(self.product, size, limit) is None
        if not valid and stop.remaining == size:
            return []  # the new levels cannot be sent; the old stop keeps protecting
        if self.can_edit and valid and self.edit_refused != stop.client_order_id:
            assert stop.order_id is not None
            stop.transition(Trigger.EDIT_REQUESTED)
            self.placed_high = pos.highest
            self._go(ProtectionState.EDITING)
            return [EditStopOrder(stop.client_order_id, stop.order_id, size, trigger, limit, ts)]
        reason = CancelReason.STOP_MOVE if stop.stop_price != trigger else CancelReason.STOP_RESIZE
        then = None
        if valid:
            self.next_stop_id = self.next_stop_id or self.host.next_id()
            then = PlaceStopLimitSell(
                self.next_stop_id,
                self.host.product_id,
                size,
                trigger,
                limit,
                ts,
                stop.client_order_id,
            )
        self._go(ProtectionState.MOVING)
        return self._cancel(stop, reason, ts, then)

    def _gap_through(self, stop: Order, last: Decimal | None, ts: int) -> list[Command]:
        self._go(ProtectionState.TRIGGERED)
        if self.gap_since is None or last is None or stop.status is not OrderStatus.OPEN:
            return []
        p = self.params
        if ts - self.gap_since < p.gap_exit_after_ns and self.gap_trades < p.gap_exit_after_trades:
            return []
        self.exiting = "gap_through"
        self.host.report(
            StopGappedThrough(
                self.host.product_id, stop.client_order_id, stop.limit_price, last, ts
            )
        )
        self.gap_since = None
        self._go(ProtectionState.MOVING)
        return self._cancel(stop, CancelReason.GAP_THROUGH, ts)

    def _tend_exit(self, ex: Order, last: Decimal | None, ts: int) -> list[Command]:
        self._go(ProtectionState.EXITING)
        if ex.status in IN_FLIGHT or last is None or self.cancel_refused == ex.client_order_id:
            return []
        if last < ex.limit_price and ts - ex.created_ts >= self.params.exit_reprice_ns:
            return self._cancel(ex, CancelReason.EXIT_REPRICE, ts)
        return []

    def _wait(self, pos: PositionState, last: Decimal | None, ts: int) -> list[Command]:
        if last is not None:
            self._report_breach(pos, last, ts)
        if self.stop is not None:
            self._go(ProtectionState.RESTING)
            return []
        return self._block(
            f"stop {pos.stop_trigger} at or above the market: waiting (on_breach=wait)", ts
        )

    def _report_breach(self, pos: PositionState, last: Decimal, ts: int) -> None:
        if self.breach_reported == pos.stop_trigger:
            return
        self.breach_reported = pos.stop_trigger
        assert pos.stop_trigger is not None
        action = "wait" if self.params.on_breach is BreachPolicy.WAIT else "exit"
        self.host.report(StopBreached(self.host.product_id, pos.stop_trigger, last, action, ts))

    def _block(self, reason: str, ts: int) -> list[Command]:
        self._go(ProtectionState.BLOCKED)
        if reason != self.blocked:
            self.blocked = reason
            self.host.report(
                ProtectionBlocked(self.host.product_id, reason, self.retry_at or None, ts)
            )
        return []

    def _dust(self, size: Decimal, problem: str, ts: int) -> list[Command]:
        self._go(ProtectionState.DUST)
        self.dust = True
        self.host.report(DustLeft(self.host.product_id, size, problem, ts))
        return []

    def _exit_price(self, last: Decimal | None) -> Decimal | None:
        """A marketable limit: the last trade less the stop's buffer (or the kill
        switch's offset), rounded down to the price grid."""
        if last is None:
            return None
        offset = self.buffer_pct if self.flatten_offset is None else self.flatten_offset
        return self.product.price_down(last * (1 - offset))

    def _refused_before(self, size: Decimal, stop: Decimal | None, limit: Decimal) -> str:
        """The permanent reason these very levels were refused for ("" if they were not)."""
        if self.refused is not None and self.refused[1] == _levels(size, stop, limit):
            return self.refused[0]
        return ""

    def _place_stop(self, size: Decimal, pos: PositionState, ts: int) -> list[Command]:
        trigger, limit = pos.stop_trigger, pos.stop_limit
        assert trigger is not None and limit is not None
        limit = self.meet_minimum(size, limit, trigger)
        coid = self.next_stop_id or self.host.next_id()
        refused = self._refused_before(size, trigger, limit)
        if refused:
            return self._block(f"stop refused ({refused}); not sent again unchanged", ts)
        self.next_stop_id = None
        replaces = self.previous_stop_id
        order = Order(
            coid,
            self.host.product_id,
            OrderSide.SELL,
            OrderType.STOP_LIMIT,
            size,
            limit,
            trigger,
            ts,
        )
        self.host.add_order(order)
        self.stop = order
        self.previous_stop_id = coid
        self.placed_high = pos.highest
        self._go(ProtectionState.PLACING)
        return [PlaceStopLimitSell(coid, self.host.product_id, size, trigger, limit, ts, replaces)]

    def _place_exit(self, size: Decimal, last: Decimal | None, ts: int) -> list[Command]:
        limit = self._exit_price(last)
        if limit is None or limit <= ZERO or last is None:
            return self._block("no market price to exit at yet", ts)
        limit = self.meet_minimum(size, limit, last)
        refused = self._refused_before(size, None, limit)
        if refused:
            return self._block(f"exit refused ({refused}); not sent again unchanged", ts)
        coid = self.host.next_id()
        self.next_stop_id = None
        order = Order(
            coid, self.host.product_id, OrderSide.SELL, OrderType.LIMIT, size, limit, None, ts
        )
        self.host.add_order(order)
        self.exit = order
        self._go(ProtectionState.EXITING)
        self.host.report(ExitPlaced(self.host.product_id, coid, size, limit, self.exiting, ts))
        return [PlaceLimitSell(coid, self.host.product_id, size, limit, ts)]

    def _cancel(
        self, order: Order, reason: CancelReason, ts: int, then: PlaceStopLimitSell | None = None
    ) -> list[Command]:
        assert order.order_id is not None
        order.transition(Trigger.CANCEL_REQUESTED)
        return [CancelOrder(order.client_order_id, order.order_id, reason, ts, then)]

    # -- persistence ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "state": self.state.value,
            "stop": None if self.stop is None else self.stop.client_order_id,
            "exit": None if self.exit is None else self.exit.client_order_id,
            "next_stop_id": self.next_stop_id,
            "previous_stop_id": self.previous_stop_id,
            "exiting": self.exiting,
            "flatten_offset": s(self.flatten_offset),
            "rested_trigger": s(self.rested_trigger),
            "cancel_refused": self.cancel_refused,
            "edit_refused": self.edit_refused,
            "blocked": self.blocked,
            "refused": None if self.refused is None else list(self.refused),
            "retry_at": self.retry_at,
            "retry_ns": self.retry_ns,
            "gap_since": self.gap_since,
            "gap_trades": self.gap_trades,
            "breach_reported": s(self.breach_reported),
            "dust": self.dust,
            "triggered_reported": self.triggered_reported,
            "wait_above": s(self.wait_above),
            "placed_high": str(self.placed_high),
            "price_hint": s(self.price_hint),
        }

    def restore(self, d: dict[str, Any], orders: dict[str, Order]) -> None:
        def dec(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        self.state = ProtectionState(d["state"])
        self.stop = orders[d["stop"]] if d.get("stop") else None
        self.exit = orders[d["exit"]] if d.get("exit") else None
        self.next_stop_id = d.get("next_stop_id")
        self.previous_stop_id = d.get("previous_stop_id")
        self.exiting = d.get("exiting", "")
        self.flatten_offset = dec(d.get("flatten_offset"))
        self.rested_trigger = dec(d.get("rested_trigger"))
        self.cancel_refused = d.get("cancel_refused")
        self.edit_refused = d.get("edit_refused")
        self.blocked = d.get("blocked", "")
        refused = d.get("refused")
        self.refused = None if refused is None else (str(refused[0]), str(refused[1]))
        self.retry_at = int(d.get("retry_at", 0))
        self.retry_ns = int(d.get("retry_ns", 0))
        self.gap_since = d.get("gap_since")
        self.gap_trades = int(d.get("gap_trades", 0))
        self.breach_reported = dec(d.get("breach_reported"))
        self.dust = bool(d.get("dust", False))
        self.triggered_reported = d.get("triggered_reported")
        self.wait_above = dec(d.get("wait_above"))
        self.placed_high = Decimal(d.get("placed_high", "0"))
        self.price_hint = dec(d.get("price_hint"))


def _levels(size: Decimal, stop: Decimal | None, limit: Decimal) -> str:
    """An order's levels as the key a permanent refusal is remembered by."""
    return f"{size} {stop} {limit}"
