"""Protection: the state machine that keeps every filled position protected.

tradekit's one promise: a filled position always has a resting stop, a stop or an exit
in flight, an exit working, or a reported reason why not. This module holds every rule
of that promise; `DecisionEngine` owns one `Protection` per pair and asks it what to do
after each event (sans-I/O: it returns commands and states reports).

**The exchange's word decides, never an assumption.** Protection has at most one order
on the exchange at a time (a stop, or an exit limit sell), and its state is *derived*
from that order as the exchange last reported it, after every event. An exchange can
do anything to an order at any moment (accept it, refuse it, fail or expire it after
accepting it, cancel it on its own, trigger it, fill it in parts, refuse a cancel or an
edit, or not answer); whatever it did, the order's own state machine
(`tradekit.core.orders`) records it, and the next state of protection follows from the
order's status and the state it was in. No exchange behaviour can make an "invalid
transition": there is none to make. `OUTCOMES` spells the rule for every state and
every exchange outcome; a test walks all of it.

States (`ProtectionState`), each a class below that carries exactly its own data:

    NONE       `Unprotected`: nothing rests and nothing is in flight; the next update
               places what protects (flat, or an entry fill still under the minimum
               while the entry works)
    PLACING    `Placing(stop)`: a stop placement is in flight
    RESTING    `Resting(stop)`: a stop rests, untriggered
    MOVING     `Moving(order, reason, sent_ts)`: a cancel of the stop or the exit is in
               flight; what replaces it is decided when the exchange confirms it
    EDITING    `Editing(stop, sent_ts)`: an in-place edit of the stop is in flight
    CHECKING   `Checking(order, why, asked_ts)`: the order's state is in doubt (a
               refused cancel, a lost reply): the exchange is being asked
               (`QueryOrder`); its answer decides
    TRIGGERED  `Triggered(stop, since, gap_since, gap_trades)`: the stop triggered and sells
    EXITING    `Exiting(exit)`: an exit limit sell works (or is in flight)
    BLOCKED    `Blocked(reason, retry_at)`: nothing rests and nothing may be sent yet:
               a refusal backs off, or `on_breach = "wait"` waits for the price
    DUST       `Dust(size, reason)`: what is left cannot be sold: reported once
               (`DustLeft`), the duty ends and the pair is freed

The rules:
1. The desired stop is the position's (`PositionState`): trigger and limit for the
   whole open size rounded down to the base increment. A limit that rounds to zero is
   one price tick (the lowest sellable price), and so is a trigger (on a coarse grid or
   at a sub-cent price the trail can round to nothing): a one-tick stop beats none.
2. **A stop that cannot rest means the stop was hit.** When the desired trigger is at
   or above the market (known before sending, or the exchange refuses the stop with
   `PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE`), the position exits with a marketable
   limit sell at `last x (1 - stop_limit_buffer_pct)` (never a market order). A resting
   stop still below the market is cancelled first. With `on_breach = "wait"` the engine
   keeps what rests, or places nothing, until the price is back above the trigger, and
   says so (`StopBreached`, `ProtectionBlocked`). Once a position exits it exits.
3. An exit that has not filled is re-priced (cancel, then a new limit from the market)
   when the market trades below its limit and `exit_reprice_ns` has passed since it was
   priced: a bounded schedule, never a loop on every trade.
4. **Gap-through.** A triggered stop that did not fill while the market trades under
   its limit for `gap_exit_after_ns` (or `gap_exit_after_trades` trades) is cancelled
   and replaced by the exit (`StopGappedThrough`), but only when that exit can be sent:
   a working stop is never cancelled for an exit under the minimums.
5. Moving or growing a stop is an edit where the exchange can (an edit refused as
   unsupported is remembered: cancel-then-place from then on), else cancel-then-place; a
   stop that has filled in part is always moved by cancel-then-place. A fill beyond the
   stop's size but within an unanswered edit's shows the exchange took the edit
   (`Order.edit_size`). The cancel command carries the replacement so the driver
   journals the whole intent before the unprotected gap opens.
6. **A refused or unanswered request is settled by asking the exchange.** A refused
   cancel, or a cancel, placement or edit whose reply was lost (or that no reply has
   answered within `ask_after_ns`), puts the order in CHECKING: the engine sends
   `QueryOrder` and the answer (still resting, triggered, filled, gone) decides. An order
   still resting after a refused cancel is cancelled again after the back-off.
7. **One back-off for every refusal** (`tradekit.core.backoff`): a placement rejected,
   accepted and then FAILED or EXPIRED, or cancelled by the exchange; a refused cancel,
   edit or exit; a breach refusal in `wait` mode; an unanswered lookup. No request of the
   refused kind is sent inside its back-off (from `retry_initial_ns`, doubling to
   `retry_max_ns`), a permanent refusal is never sent again unchanged, and every wait is
   reported (`ProtectionBlocked` when nothing rests, `ProtectionWaiting` when something
   still protects).
8. **Sizes.** No order under `base_min_size`, or under `quote_min_size` in value, is
   sent; a stop's limit is raised to meet the quote minimum while it stays at or under
   its trigger. A position whose stop cannot be sent is exited if an exit can be
   (`ExitPlaced(reason="unprotectable")`); what can be neither, once no entry works, is
   dust: reported once; the duty ends.
9. `StopMoved` is reported when the exchange has the new stop (placement acknowledged,
   or edit accepted), with the trigger it replaced (None for a position's first stop).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from tradekit.core.backoff import Backoff
from tradekit.core.commands import (
    CancelOrder,
    CancelReason,
    Command,
    EditStopOrder,
    PlaceLimitSell,
    PlaceStopLimitSell,
    QueryOrder,
)
from tradekit.core.money import ZERO, ProductSpec, round_up
from tradekit.core.orders import Order, OrderSide, OrderStatus, OrderType, Trigger
from tradekit.core.position import PositionState, TrailParams
from tradekit.core.reports import (
    DustLeft,
    ExitPlaced,
    ProtectionBlocked,
    ProtectionWaiting,
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
    # a request with no answer at all for this long (a driver turns a lost reply into an
    # "unknown" event at once; this is the net under that) is settled by asking
    ask_after_ns: int = 10 * SEC

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_breach", BreachPolicy(self.on_breach))
        for name in (
            "exit_reprice_ns",
            "gap_exit_after_ns",
            "retry_initial_ns",
            "retry_max_ns",
            "ask_after_ns",
        ):
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
    CHECKING = "checking"
    TRIGGERED = "triggered"
    EXITING = "exiting"
    BLOCKED = "blocked"
    DUST = "dust"


# -- the states, each with exactly its own data ------------------------------------------


@dataclass(slots=True)
class Unprotected:
    state: ClassVar = ProtectionState.NONE


@dataclass(slots=True)
class Placing:
    state: ClassVar = ProtectionState.PLACING
    stop: Order


@dataclass(slots=True)
class Resting:
    state: ClassVar = ProtectionState.RESTING
    stop: Order


@dataclass(slots=True)
class Moving:
    state: ClassVar = ProtectionState.MOVING
    order: Order  # the stop or the exit being cancelled
    reason: CancelReason
    sent_ts: int


@dataclass(slots=True)
class Editing:
    state: ClassVar = ProtectionState.EDITING
    stop: Order
    sent_ts: int


@dataclass(slots=True)
class Checking:
    state: ClassVar = ProtectionState.CHECKING
    order: Order
    why: str
    asked_ts: int | None = None  # the last QueryOrder (None: not asked yet)
    answered: bool = False  # the exchange's word came after the doubt began


@dataclass(slots=True)
class Triggered:
    state: ClassVar = ProtectionState.TRIGGERED
    stop: Order
    since: int = 0  # when protection learned it triggered
    gap_since: int | None = None  # first trade under its limit (the gap-through clock)
    gap_trades: int = 0


@dataclass(slots=True)
class Exiting:
    state: ClassVar = ProtectionState.EXITING
    exit: Order


@dataclass(slots=True)
class Blocked:
    state: ClassVar = ProtectionState.BLOCKED
    reason: str
    retry_at: int | None  # None: until the market or the levels change


@dataclass(slots=True)
class Dust:
    state: ClassVar = ProtectionState.DUST
    size: Decimal
    reason: str


State = (
    Unprotected | Placing | Resting | Moving | Editing | Checking | Triggered | Exiting | Blocked
) | Dust


class Outcome(StrEnum):
    """What an exchange can do to protection's order (the columns of `OUTCOMES`)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"  # accepted, then FAILED
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # by us (a cancel confirmed) or by the exchange on its own
    FILLED = "filled"
    PARTLY_FILLED = "partly_filled"
    TRIGGERED = "triggered"
    STILL_OPEN = "still_open"  # a lookup's answer: it rests as it was
    CANCEL_REFUSED = "cancel_refused"
    EDITED = "edited"
    EDIT_REFUSED = "edit_refused"
    REPLY_LOST = "reply_lost"  # a placement's or a cancel's reply never came


P = ProtectionState
# what follows a gone order: the same update places its replacement (or cannot)
_NOTHING = frozenset({P.NONE, P.PLACING, P.EXITING, P.BLOCKED, P.DUST})
_WITH_ORDER = (P.PLACING, P.RESTING, P.MOVING, P.EDITING, P.CHECKING, P.TRIGGERED, P.EXITING)


def _outcomes() -> dict[tuple[ProtectionState, Outcome], frozenset[ProtectionState]]:
    """The state that follows each exchange outcome from each state with an order (the
    decision that follows may move on at once). News that does not apply to the order
    as it is known is either stale (a refusal of a cancel never asked: nothing changes)
    or a contradiction (a rejection of an accepted order: not applied, the exchange is
    asked, `OrderNewsContradicted`); either way the state stays."""
    t: dict[tuple[ProtectionState, Outcome], frozenset[ProtectionState]] = {}
    for s in _WITH_ORDER:
        stay = frozenset({s})
        for gone in (Outcome.FAILED, Outcome.EXPIRED, Outcome.CANCELLED, Outcome.FILLED):
            t[s, gone] = _NOTHING
        # a rejection answers a placement; later, it contradicts the acceptance
        t[s, Outcome.REJECTED] = _NOTHING if s is P.PLACING else stay
        # accepted / still open: it rests (and what was due is done: a move, an edit)
        t[s, Outcome.ACCEPTED] = frozenset({s, P.RESTING, P.EXITING, P.MOVING, P.EDITING})
        t[s, Outcome.STILL_OPEN] = frozenset(
            {s, P.RESTING, P.EXITING, P.MOVING, P.EDITING, P.TRIGGERED}
        )
        t[s, Outcome.PARTLY_FILLED] = frozenset(
            {s, P.RESTING, P.TRIGGERED, P.EXITING, P.MOVING, P.EDITING, P.CHECKING}
        )
        # triggered: it sells (an edit in flight is answered first)
        t[s, Outcome.TRIGGERED] = frozenset({s, P.TRIGGERED, P.MOVING, P.CHECKING, P.EXITING})
        # a refused cancel is settled by asking; one never asked for is stale
        t[s, Outcome.CANCEL_REFUSED] = frozenset({P.CHECKING}) if s is P.MOVING else stay
        t[s, Outcome.EDITED] = frozenset({s, P.RESTING, P.MOVING, P.TRIGGERED})
        t[s, Outcome.EDIT_REFUSED] = frozenset({s, P.RESTING, P.MOVING, P.TRIGGERED})
        # a lost reply to a placement or a cancel: ask; to nothing sent: a contradiction
        lost = s in (P.PLACING, P.MOVING)
        t[s, Outcome.REPLY_LOST] = frozenset({P.CHECKING}) if lost else stay
    return t


OUTCOMES = _outcomes()

# Orders whose fate the exchange has not told yet.
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
_IN_DOUBT = frozenset(
    {OrderStatus.SUBMIT_UNKNOWN, OrderStatus.CANCEL_UNKNOWN, OrderStatus.UNKNOWN_ORDER_STATUS}
)
_CANCELLING = frozenset({OrderStatus.PENDING_CANCEL, OrderStatus.CANCEL_QUEUED})
BREACH_REASONS = frozenset({"PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"})
# Coinbase failure reasons that the same order will get again, whatever the moment.
_PERMANENT_PREFIXES = ("INVALID_", "PREVIEW_INVALID_", "UNSUPPORTED_")
_PERMANENT = frozenset(
    {"PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE", "INVALID_PRODUCT_ID", "UNKNOWN_PRODUCT"}
)
# an edit refused for one of these will be refused for every stop of the product
# (Coinbase: ONLY_LIMIT_ORDER_EDITS_SUPPORTED, UNSUPPORTED_ORDER_CONFIGURATION)
_EDIT_UNSUPPORTED = ("UNSUPPORTED", "ONLY_LIMIT_ORDER_EDITS", "NOT_SUPPORTED", "CANNOT_EDIT")


def is_permanent(reason: str) -> bool:
    """True when a refusal would be repeated for the same order (so never resend it)."""
    return reason in _PERMANENT or reason.startswith(_PERMANENT_PREFIXES)


def order_problem(product: ProductSpec, size: Decimal, price: Decimal) -> str | None:
    """Why the exchange would refuse an order of `size` at `price`, or None."""
    return product.size_problem(size) or product.notional_problem(size, price)


def _levels(size: Decimal, stop: Decimal | None, limit: Decimal) -> str:
    """An order's levels as the key a refusal is remembered by."""
    return f"{size} {stop} {limit}"


class Host(Protocol):
    """What protection needs from its decision engine: ids, orders, reports, a back-off."""

    product_id: str
    last_price: Decimal | None
    backoff: Backoff

    def next_id(self) -> str: ...
    def add_order(self, order: Order) -> None: ...
    def report(self, report: Report) -> None: ...


def _order_of(s: State) -> Order | None:
    """The one order a state is about (its stop, the order being cancelled or checked,
    the exit), if any. A state's order is never replaced: a new order is a new state."""
    if isinstance(s, Placing | Resting | Editing | Triggered):
        return s.stop
    if isinstance(s, Moving | Checking):
        return s.order
    if isinstance(s, Exiting):
        return s.exit
    return None


class Protection:
    """One pair's protection duty. See the module docstring for every rule."""

    def __init__(
        self, product: ProductSpec, params: ProtectionParams, trail: TrailParams, host: Host
    ) -> None:
        self.product = product
        self.params = params
        self.trail = trail
        self.buffer_pct = trail.stop_limit_buffer_pct  # exits are priced like the stop's limit
        self.host = host
        self.backoff = host.backoff
        self.can_edit = False  # set by the driver: may a resting stop be moved in place?
        self.edit_unsupported = False  # learned: the exchange refused an edit as unsupported
        self._clear()
        self._rules = {
            Unprotected: self._nothing_rests,
            Blocked: self._blocked,
            Placing: self._in_flight,
            Editing: self._in_flight,
            Moving: self._in_flight,
            Resting: self._resting,
            Checking: self._checking,
            Triggered: self._triggered,
            Exiting: self._exiting,
        }

    def _clear(self) -> None:
        """The duty's facts that outlive a state (the rest is in `self.s`)."""
        self.s: State = Unprotected()
        self.state = ProtectionState.NONE  # `self.s.state`, kept for the hot path
        self._order: Order | None = None  # `order`, kept for the hot path
        self.exiting = ""  # why the position exits ("" = it does not): sticky
        self.flatten_offset: Decimal | None = None  # the kill switch's exit offset
        self.next_stop_id: str | None = None  # the id reserved by a cancel's `then`
        self.previous_stop_id: str | None = None  # the stop a new one replaces
        self.rested: tuple[str, Decimal] | None = None  # (stop, trigger) the exchange had
        self.rested_trigger: Decimal | None = None  # the trigger a StopMoved replaces
        self.breach_reported: Decimal | None = None  # StopBreached said for this trigger
        self.triggered_reported: str | None = None  # the stop StopTriggered was said for
        self.waiting = ""  # the last ProtectionWaiting reason (reported once)
        self.wait_above: Decimal | None = None  # on_breach=wait: no stop until a trade above
        self.highest = ZERO  # the position's high, for the reports
        self.placed_high = ZERO  # the high that set the stop last sent (StopMoved says it)
        # The exchange refused a stop as above ITS last trade: the market is under that
        # trigger even if our last trade is not (it has not reached us yet).
        self.price_hint: Decimal | None = None
        self.traded_ts = 0  # the last trade's time (a triggered stop waits for one)

    # -- state ---------------------------------------------------------------------

    def _set(self, new: State) -> None:
        self.s = new
        self.state = new.state
        self._order = _order_of(new)

    @property
    def order(self) -> Order | None:
        """Protection's one order on the exchange (a stop or an exit), if any."""
        return self._order

    @property
    def stop(self) -> Order | None:
        order = self.order
        return order if order is not None and order.order_type is OrderType.STOP_LIMIT else None

    @property
    def exit(self) -> Order | None:
        order = self.order
        return order if order is not None and order.order_type is OrderType.LIMIT else None

    @property
    def dust(self) -> bool:
        return self.state is ProtectionState.DUST

    def orders(self) -> list[Order]:
        order = self.order
        return [] if order is None else [order]

    # -- what the engine tells it ----------------------------------------------------

    def on_cancel_refused(self, order: Order, reason: str, ts: int) -> None:
        """A cancel of the stop or the exit was refused: the order may have triggered,
        filled, or the exchange may just have failed this once. Ask; never assume."""
        if order is not self.order:
            return
        self.backoff.refused(f"cancel {order.client_order_id}", order.client_order_id, reason, ts)
        self._set(Checking(order, f"cancel refused ({reason})"))

    def on_news(self, order: Order) -> None:
        """The exchange's word on an order (a report): settles a doubt about it."""
        s = self.s
        if isinstance(s, Checking) and s.order is order and s.asked_ts is not None:
            s.answered = True
            self.backoff.succeeded(f"query {order.client_order_id}")

    def refused_again(self, order: Order, reason: str, ts: int) -> None:
        """A placement refused once more (sent again with its id): its back-off grows."""
        if order.side is OrderSide.SELL:
            kind = "stop" if order.order_type is OrderType.STOP_LIMIT else "exit"
            key = _levels(order.size, order.stop_price, order.limit_price)
            self.backoff.refused(kind, key, reason, ts, permanent=is_permanent(reason))

    def on_edit_refused(self, order: Order, reason: str, ts: int) -> None:
        if order is not self.stop:
            return
        if any(word in reason.upper() for word in _EDIT_UNSUPPORTED):
            self.edit_unsupported = True  # the exchange cannot: cancel-then-place from now on
        key = _levels(order.size, order.stop_price, order.limit_price)
        self.backoff.refused("edit", key, reason, ts, permanent=is_permanent(reason))

    def on_edited(self, order: Order, ts: int) -> None:
        if order is self.stop and order.stop_price is not None:
            self.backoff.succeeded("edit")

    def flatten(self, offset: Decimal) -> None:
        self.flatten_offset = offset
        self.exiting = self.exiting or "flatten"

    def reset(self) -> None:
        """The position is closed: a fresh duty for the next one."""
        self._clear()

    # -- the rules -------------------------------------------------------------------

    def update(self, pos: PositionState | None, entry_working: bool, ts: int) -> list[Command]:
        """After any event: learn what the exchange did, then act on what is true now."""
        self._observe(ts)
        if pos is None or self.state is ProtectionState.DUST:
            return []
        if pos.open_size <= ZERO:  # all sold: the engine closes the position
            return []
        self.highest = pos.highest
        return self._rules[type(self.s)](pos, entry_working, ts)

    def quiet_floor(self, pos: PositionState) -> Decimal | None:
        """The price above which a trade cannot change anything (the resting stop's
        trigger): a stop rests, untriggered, at the desired levels for the whole size,
        and nothing else is going on. None when protection has something to do whatever
        the price (the engine's hot path; when in doubt, None and the full rules run)."""
        if self.state is not ProtectionState.RESTING:
            return None
        stop = self.s.stop  # type: ignore[union-attr]
        if (
            stop.status is OrderStatus.OPEN
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

    def moves_by_edit(self, pos: PositionState) -> bool:
        """A stop rests where it should (`quiet_floor`) and a higher trigger would reach
        it by one edit the exchange takes: edits allowed and none refused or held back,
        the stop untouched by fills, its size the position's, its levels valid and its
        limit above the quote minimum (so a higher limit is never raised to it, and the
        desired levels stay the ratchet's own: `_levels_for` changes nothing)."""
        stop = self._order
        if stop is None or self.quiet_floor(pos) is None or not self._editable(stop):
            return False
        assert stop.stop_price is not None
        size, limit = stop.size, stop.limit_price
        backoff = self.backoff
        return (
            self.product.size_down(pos.open_size) == size
            and ZERO < limit <= stop.stop_price
            and order_problem(self.product, size, limit) is None
            and "edit" not in backoff.refusals
            and "stop" not in backoff.refusals
            and not any(k.startswith(("stop|", "edit|")) for k in backoff.counts)
        )

    def _editable(self, stop: Order) -> bool:
        """May this stop be moved by an edit? The exchange edits (and has not refused
        an edit as unsupported), it acknowledged the stop, and nothing of it filled."""
        return (
            self.can_edit
            and not self.edit_unsupported
            and stop.order_id is not None
            and not stop.filled_size
        )

    def on_trade(self, price: Decimal, ts: int) -> None:
        """A trade: the market's own word replaces inferences; the gap-through clock."""
        self.price_hint = None
        self.traded_ts = ts
        if self.wait_above is not None and price > self.wait_above:
            self.wait_above = None
        s = self.s
        if isinstance(s, Triggered) and not s.stop.status.is_terminal:
            if price < s.stop.limit_price:
                if s.gap_since is None:
                    s.gap_since = ts
                    s.gap_trades = 0
                s.gap_trades += 1
            else:
                s.gap_since = None
                s.gap_trades = 0

    # -- learning what the exchange did ----------------------------------------------

    def _observe(self, ts: int) -> None:
        """Derive the state from protection's order as the exchange last reported it."""
        order = self._order
        if order is None:
            return
        if self.state is ProtectionState.RESTING and order.status is OrderStatus.OPEN:
            if not order.triggered:
                return  # the hot path: the stop rests as it did (what the rules below say)
        if (
            order.order_type is OrderType.STOP_LIMIT
            and order.triggered
            and self.triggered_reported != order.client_order_id
        ):
            self.triggered_reported = order.client_order_id
            self.host.report(
                StopTriggered(
                    self.host.product_id, order.client_order_id, order.filled_size, order.size, ts
                )
            )
        status = order.status
        s = self.s
        if status.is_terminal:
            self._gone(order, ts)
        elif status in _IN_DOUBT:
            if not (isinstance(s, Checking) and s.order is order):
                self._set(Checking(order, f"{status.value.lower().replace('_', ' ')}"))
        elif isinstance(s, Checking) and not s.answered and s.why.startswith("cancel refused"):
            pass  # a refused cancel waits for the exchange's answer
        elif status is OrderStatus.INITIALIZED:
            if not isinstance(s, Placing | Exiting):
                self._set(Placing(order) if order is self.stop else Exiting(order))
        elif status is OrderStatus.PENDING_EDIT:
            if not isinstance(s, Editing):
                self._set(Editing(order, ts))
        elif status in _CANCELLING:
            if not isinstance(s, Moving):
                self._set(Moving(order, CancelReason.STOP_MOVE, ts))
        elif order.order_type is OrderType.LIMIT:
            if not isinstance(s, Exiting):
                self._set(Exiting(order))
        elif order.triggered:
            if not isinstance(s, Triggered):
                self._set(Triggered(order, ts))
        elif not isinstance(s, Resting):
            self._set(Resting(order))
            self._rested(order, ts)

    def _gone(self, order: Order, ts: int) -> None:
        """Protection's order is over: note why (a refusal backs off), nothing rests."""
        s = self.s
        requested = isinstance(s, Moving) or (
            isinstance(s, Checking) and s.why.startswith(("cancel", "CANCEL"))
        )
        status = order.status
        coid = order.client_order_id
        self.backoff.forget(f"cancel {coid}")
        self.backoff.forget(f"query {coid}")
        kind = "stop" if order.order_type is OrderType.STOP_LIMIT else "exit"
        key = _levels(order.size, order.stop_price, order.limit_price)
        self._set(Unprotected())
        if status is OrderStatus.FILLED:
            return
        if kind == "stop" and order.triggered:
            if status is not OrderStatus.CANCELLED or not self.exiting:
                self.exiting = self.exiting or "stop_ended_unfilled"
            return
        if status is OrderStatus.REJECTED:
            reason = order.reason or "UNKNOWN"
            if kind == "stop":
                self.host.report(StopRejected(self.host.product_id, coid, reason, ts))
                if reason in BREACH_REASONS:
                    self._breach_refused(order, key, reason, ts)
                    return
            self.backoff.refused(kind, key, reason, ts, permanent=is_permanent(reason))
            return
        if status is OrderStatus.CANCELLED and requested:
            self.backoff.succeeded(f"cancel {coid}")
            return
        # accepted, then FAILED, EXPIRED or cancelled by the exchange on its own
        reason = f"{status.value} by the exchange"
        if kind == "stop":
            self.host.report(StopRejected(self.host.product_id, coid, reason, ts))
        self.backoff.refused(kind, key, reason, ts)

    def _breach_refused(self, order: Order, key: str, reason: str, ts: int) -> None:
        """The exchange saw the market under the trigger (perhaps before we did)."""
        assert order.stop_price is not None
        self.price_hint = order.stop_price
        wait = self.params.on_breach is BreachPolicy.WAIT
        self.host.report(
            StopBreached(
                self.host.product_id,
                order.stop_price,
                self._market() or order.stop_price,
                "wait" if wait else "exit",
                ts,
            )
        )
        self.breach_reported = order.stop_price
        if wait:
            self.wait_above = order.stop_price
            self.backoff.refused("stop", key, reason, ts)  # waits, and not on every trade
        else:
            self.exiting = self.exiting or "breach"

    def _rested(self, stop: Order, ts: int) -> None:
        """The exchange has this stop resting: report the move (once per new trigger)."""
        assert stop.stop_price is not None
        self.backoff.succeeded(
            "stop", lambda: _levels(stop.size, stop.stop_price, stop.limit_price)
        )
        now = (stop.client_order_id, stop.stop_price)
        if self.rested == now:
            return
        self.rested = now
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

    # -- the decision in each state --------------------------------------------------

    def _in_flight(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        """PLACING, MOVING, EDITING: the exchange's answer comes next; if none comes
        within `ask_after_ns`, the request is taken as unanswered and the order's state
        is asked for."""
        s = self.s
        assert isinstance(s, Placing | Moving | Editing)
        if isinstance(s, Placing):
            return self._silence(s.stop, s.stop.created_ts, pos, entry_working, ts)
        order = s.order if isinstance(s, Moving) else s.stop
        return self._silence(order, s.sent_ts, pos, entry_working, ts)

    def _silence(
        self, order: Order, since: int, pos: PositionState, entry_working: bool, ts: int
    ) -> list[Command]:
        if ts - since < self.params.ask_after_ns:
            return []
        status = order.status
        if status is OrderStatus.INITIALIZED:
            order.transition(Trigger.SUBMIT_LOST, "no answer")
        elif status is OrderStatus.PENDING_CANCEL:
            order.transition(Trigger.CANCEL_LOST, "no answer")
        elif status is OrderStatus.PENDING_EDIT:
            # the order's levels as the exchange has them settle it (a lookup gives
            # them); with no answer to that either, the old levels are assumed and the
            # stop is moved by cancel-then-place, which works whatever the edit did
            if ts - since < 2 * self.params.ask_after_ns:
                return self.ask(order, ts)
            order.transition(Trigger.EDIT_REJECTED, "no answer")
            key = _levels(order.size, order.stop_price, order.limit_price)
            self.backoff.refused("edit", key, "no answer", ts)
        else:  # the exchange said it is on it (CANCEL_QUEUED): ask how it went
            return self.ask(order, ts)
        self._observe(ts)
        return self._rules[type(self.s)](pos, entry_working, ts)

    def ask(self, order: Order, ts: int) -> list[Command]:
        """A QueryOrder for `order`, on the back-off (an unanswered lookup is repeated
        no sooner than its back-off)."""
        kind = f"query {order.client_order_id}"
        if self.backoff.holds(kind, order.client_order_id, ts) is not None:
            return []
        # until an answer comes the lookup counts as unanswered: the next one backs off
        self.backoff.refused(kind, order.client_order_id, "no answer yet", ts)
        sell = order.side is OrderSide.SELL
        return [QueryOrder(order.client_order_id, order.order_id, ts, sell)]

    def _checking(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        s = self.s
        assert isinstance(s, Checking)
        commands = self.ask(s.order, ts)
        if commands:
            s.asked_ts = ts
            s.answered = False
        return commands

    def _blocked(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        s = self.s
        assert isinstance(s, Blocked)
        if s.retry_at is not None and ts < s.retry_at:
            return []
        return self._nothing_rests(pos, entry_working, ts)

    def _nothing_rests(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        """Nothing rests and nothing is in flight: place what protects, if anything may be
        sent (NONE, and BLOCKED once its wait is over)."""
        size = self.product.size_down(pos.open_size)
        last = self._market()
        breached = self._breached(pos, last)
        if self.exiting or (breached and self.params.on_breach is BreachPolicy.EXIT):
            return self._exit(pos, size, last, entry_working, ts)
        if breached or self.wait_above is not None:
            return self._wait(pos, last, ts)
        trigger, limit = self._desired(pos, size)
        problem = self._problem(size, limit, trigger)
        if problem:
            if entry_working:  # more may come: nothing to protect yet
                self._set(Unprotected())
                return []
            if last is not None and self._exit_problem(size, last) is None:
                self.exiting = "unprotectable"  # a stop cannot be sent; an exit can
                return self._exit(pos, size, last, entry_working, ts)
            return self._dust(size, problem, ts)
        held = self.backoff.holds("stop", _levels(size, trigger, limit), ts)
        if held is not None:
            if held.permanent and ts >= held.until:
                return self._block(f"stop refused ({held.reason}); not sent again unchanged", ts)
            return self._block(f"stop refused ({held.reason}); backing off", ts, held.until)
        return self._place_stop(size, trigger, limit, pos, ts)

    def _exit(
        self,
        pos: PositionState,
        size: Decimal,
        last: Decimal | None,
        entry_working: bool,
        ts: int,
    ) -> list[Command]:
        if last is None:
            return self._block("no market price to exit at yet", ts)
        problem = self._exit_problem(size, last)
        if problem:
            if entry_working:
                self._set(Unprotected())
                return []
            return self._dust(size, problem, ts)
        if not self.exiting:
            self._report_breach(pos, last, ts)
            self.exiting = "breach"
        limit = self.meet_minimum(size, self._exit_price(last), last)
        held = self.backoff.holds("exit", _levels(size, None, limit), ts)
        if held is not None:
            if held.permanent and ts >= held.until:
                return self._block(f"exit refused ({held.reason}); not sent again unchanged", ts)
            return self._block(f"exit refused ({held.reason}); backing off", ts, held.until)
        return self._place_exit(size, limit, ts)

    def _resting(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        s = self.s
        assert isinstance(s, Resting)
        stop = s.stop
        size = self.product.size_down(pos.open_size)
        last = self._market()
        if last is not None and stop.stop_price is not None and last <= stop.stop_price:
            return []  # the exchange is triggering it: its news comes next
        breached = self._breached(pos, last)
        if breached and not self.exiting and self.params.on_breach is BreachPolicy.WAIT:
            assert last is not None
            self._report_breach(pos, last, ts)
            return []
        if self.exiting or breached:
            assert last is not None
            problem = self._exit_problem(size, last)
            if problem:  # the stop keeps protecting rather than making way for nothing
                return self._wait_on(f"an exit cannot be sent ({problem})", None, ts)
            if not self.exiting:
                self._report_breach(pos, last, ts)
                self.exiting = "breach"
            flat = self.exiting == "flatten"
            return self._cancel(stop, CancelReason.FLATTEN if flat else CancelReason.BREACH, ts)
        trigger, limit = self._desired(pos, size)
        if stop.remaining == size and stop.stop_price == trigger and stop.limit_price == limit:
            return []
        valid = self._problem(size, limit, trigger) is None
        if not valid and stop.remaining == size:
            return []  # the new levels cannot be sent; the old stop keeps protecting
        # an edit moves a resting stop's levels and its size (a grown position: the stop
        # keeps resting while it grows); a stop that has filled in part is moved by
        # cancel-then-place, whose cancel ends the order whatever filled meanwhile
        if valid and self._editable(stop):
            if self.backoff.holds("edit", lambda: _levels(size, trigger, limit), ts) is None:
                stop.transition(Trigger.EDIT_REQUESTED)
                stop.edit_size = size if size > stop.size else None
                self.placed_high = pos.highest
                self._set(Editing(stop, ts))
                coid, order_id = stop.client_order_id, stop.order_id
                assert order_id is not None
                return [EditStopOrder(coid, order_id, size, trigger, limit, ts)]
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
        return self._cancel(stop, reason, ts, then)

    def _triggered(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        s = self.s
        assert isinstance(s, Triggered)
        stop = s.stop
        last = self._market()
        if last is None or stop.status is not OrderStatus.OPEN:
            return []
        size = self.product.size_down(pos.open_size)
        if stop.remaining < size and self.traded_ts >= s.since:
            # more was bought after it triggered (an entry fill racing its cancel): the
            # stop cannot cover that part, so one exit for everything replaces it (if it
            # can be sent; else the stop sells what it can)
            if self._exit_problem(size, last) is None:
                self.exiting = self.exiting or "bought_after_trigger"
                return self._cancel(stop, CancelReason.STOP_RESIZE, ts)
            return self._wait_on("bought after the stop triggered: it sells first", None, ts)
        if s.gap_since is None:
            return []
        p = self.params
        if ts - s.gap_since < p.gap_exit_after_ns and s.gap_trades < p.gap_exit_after_trades:
            return []
        problem = self._exit_problem(self.product.size_down(stop.remaining), last)
        if problem:  # never cancel a working stop for an exit that cannot be sent
            return self._wait_on(f"gap-through exit cannot be sent ({problem})", None, ts)
        if self.backoff.holds(f"cancel {stop.client_order_id}", stop.client_order_id, ts):
            return self._cancel(stop, CancelReason.GAP_THROUGH, ts)  # reports the wait
        self.exiting = "gap_through"
        self.host.report(
            StopGappedThrough(
                self.host.product_id, stop.client_order_id, stop.limit_price, last, ts
            )
        )
        return self._cancel(stop, CancelReason.GAP_THROUGH, ts)

    def _exiting(self, pos: PositionState, entry_working: bool, ts: int) -> list[Command]:
        s = self.s
        assert isinstance(s, Exiting)
        ex = s.exit
        if ex.status is OrderStatus.INITIALIZED:
            return self._silence(ex, ex.created_ts, pos, entry_working, ts)
        last = self._market()
        if ex.status in IN_FLIGHT or last is None:
            return []
        size = self.product.size_down(pos.open_size)
        grown = ex.remaining < size  # bought more while exiting: one exit for everything
        stale = last < ex.limit_price and ts - ex.created_ts >= self.params.exit_reprice_ns
        if grown or stale:
            problem = self._exit_problem(size, last)
            if problem:  # never cancel a working exit for one that cannot be sent
                return self._wait_on(f"the exit cannot be re-priced ({problem})", None, ts)
            return self._cancel(ex, CancelReason.EXIT_REPRICE, ts)
        return []

    # -- helpers -----------------------------------------------------------------------

    def _desired(self, pos: PositionState, size: Decimal) -> tuple[Decimal, Decimal]:
        """The stop's levels to send for `size`: the position's, a trigger or a limit that
        rounds to nothing raised to one tick, the limit raised to the quote minimum."""
        return self._levels_for(size, pos.stop_trigger, pos.stop_limit)

    def _levels_for(
        self, size: Decimal, trigger: Decimal | None, limit: Decimal | None
    ) -> tuple[Decimal, Decimal]:
        tick = self.product.quote_increment
        trigger = trigger if trigger is not None and trigger > ZERO else tick
        limit = limit if limit is not None and limit > ZERO else tick
        limit = min(limit, trigger)
        return trigger, self.meet_minimum(size, limit, trigger)

    def first_stop_problem(self, size: Decimal, entry_price: Decimal) -> str | None:
        """Why the stop of an entry of `size` filled at `entry_price` could not be sent
        (so the entry is not made: a position it could not protect), or None."""
        problem = self.product.size_problem(size)
        if problem:
            return problem
        trail = self.trail
        trigger = self.product.price_down(entry_price * (1 - trail.trail_pct))
        limit = self.product.price_down(trigger * (1 - trail.stop_limit_buffer_pct))
        trigger, limit = self._levels_for(size, trigger, limit)
        if trigger >= entry_price:
            return (
                f"its stop ({trigger}) could not rest under the entry price {entry_price} "
                f"(the price grid {self.product.quote_increment} is too coarse for the trail)"
            )
        return self._problem(size, limit, trigger)

    def _problem(self, size: Decimal, price: Decimal, ceiling: Decimal) -> str | None:
        """Why no sell of `size` can be sent at `price` (already raised to the quote
        minimum up to `ceiling`), or None."""
        if price <= ZERO or ceiling <= ZERO:
            return "no price above 0 to sell at"
        return order_problem(self.product, size, price)

    def _exit_problem(self, size: Decimal, last: Decimal) -> str | None:
        return self._problem(size, self.meet_minimum(size, self._exit_price(last), last), last)

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

    def _wait(self, pos: PositionState, last: Decimal | None, ts: int) -> list[Command]:
        if last is not None and pos.stop_trigger is not None and pos.stop_trigger >= last:
            self._report_breach(pos, last, ts)
        held = self.backoff.holds("stop", "", ts)
        return self._block(
            f"stop {pos.stop_trigger} at or above the market: waiting (on_breach=wait)",
            ts,
            None if held is None else held.until,
        )

    def _report_breach(self, pos: PositionState, last: Decimal, ts: int) -> None:
        if self.breach_reported == pos.stop_trigger or pos.stop_trigger is None:
            return
        self.breach_reported = pos.stop_trigger
        action = "wait" if self.params.on_breach is BreachPolicy.WAIT else "exit"
        self.host.report(StopBreached(self.host.product_id, pos.stop_trigger, last, action, ts))

    def _block(self, reason: str, ts: int, retry_at: int | None = None) -> list[Command]:
        s = self.s
        if not (isinstance(s, Blocked) and s.reason == reason and s.retry_at == retry_at):
            self.host.report(ProtectionBlocked(self.host.product_id, reason, retry_at, ts))
            self._set(Blocked(reason, retry_at))
        return []

    def _wait_on(self, reason: str, retry_at: int | None, ts: int) -> list[Command]:
        """Something still protects, but what protection wants to send must wait."""
        if reason != self.waiting:
            self.waiting = reason
            self.host.report(ProtectionWaiting(self.host.product_id, reason, retry_at, ts))
        return []

    def _dust(self, size: Decimal, problem: str, ts: int) -> list[Command]:
        self._set(Dust(size, problem))
        self.host.report(DustLeft(self.host.product_id, size, problem, ts))
        return []

    def _exit_price(self, last: Decimal) -> Decimal:
        """A marketable limit: the last trade less the stop's buffer (or the kill
        switch's offset), rounded down to the price grid; never under one tick."""
        offset = self.buffer_pct if self.flatten_offset is None else self.flatten_offset
        price = self.product.price_down(last * (1 - offset))
        return price if price > ZERO else self.product.quote_increment

    def _place_stop(
        self, size: Decimal, trigger: Decimal, limit: Decimal, pos: PositionState, ts: int
    ) -> list[Command]:
        coid = self.next_stop_id or self.host.next_id()
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
        self.previous_stop_id = coid
        self.placed_high = pos.highest
        self._set(Placing(order))
        return [PlaceStopLimitSell(coid, self.host.product_id, size, trigger, limit, ts, replaces)]

    def _place_exit(self, size: Decimal, limit: Decimal, ts: int) -> list[Command]:
        coid = self.host.next_id()
        self.next_stop_id = None
        order = Order(
            coid, self.host.product_id, OrderSide.SELL, OrderType.LIMIT, size, limit, None, ts
        )
        self.host.add_order(order)
        self._set(Exiting(order))
        self.host.report(ExitPlaced(self.host.product_id, coid, size, limit, self.exiting, ts))
        return [PlaceLimitSell(coid, self.host.product_id, size, limit, ts)]

    def _cancel(
        self, order: Order, reason: CancelReason, ts: int, then: PlaceStopLimitSell | None = None
    ) -> list[Command]:
        coid = order.client_order_id
        held = self.backoff.holds(f"cancel {coid}", coid, ts)
        if held is not None:
            return self._wait_on(
                f"cancel of {coid} refused ({held.reason}); retried after the back-off",
                held.until,
                ts,
            )
        if order.order_id is None:  # known resting, its id not known yet: ask for it
            return self.ask(order, ts)
        order.transition(Trigger.CANCEL_REQUESTED)
        self.waiting = ""
        self._set(Moving(order, reason, ts))
        return [CancelOrder(coid, order.order_id, reason, ts, then)]

    # -- persistence ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        st = self.s
        order = self.order
        data: dict[str, Any] = {}
        if isinstance(st, Moving):
            data = {"reason": st.reason.value, "sent_ts": st.sent_ts}
        elif isinstance(st, Editing):
            data = {"sent_ts": st.sent_ts}
        elif isinstance(st, Checking):
            data = {"why": st.why, "asked_ts": st.asked_ts, "answered": st.answered}
        elif isinstance(st, Triggered):
            data = {"since": st.since, "gap_since": st.gap_since, "gap_trades": st.gap_trades}
        elif isinstance(st, Blocked):
            data = {"reason": st.reason, "retry_at": st.retry_at}
        elif isinstance(st, Dust):
            data = {"size": str(st.size), "reason": st.reason}
        return {
            "version": 2,
            "state": self.state.value,
            "order": None if order is None else order.client_order_id,
            "data": data,
            "exiting": self.exiting,
            "flatten_offset": s(self.flatten_offset),
            "next_stop_id": self.next_stop_id,
            "previous_stop_id": self.previous_stop_id,
            "rested": None if self.rested is None else [self.rested[0], str(self.rested[1])],
            "rested_trigger": s(self.rested_trigger),
            "breach_reported": s(self.breach_reported),
            "triggered_reported": self.triggered_reported,
            "waiting": self.waiting,
            "wait_above": s(self.wait_above),
            "placed_high": str(self.placed_high),
            "price_hint": s(self.price_hint),
            "traded_ts": self.traded_ts,
            "edit_unsupported": self.edit_unsupported,
        }

    def restore(self, d: dict[str, Any], orders: dict[str, Order]) -> None:
        def dec(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        self._clear()
        if d.get("version") != 2:
            d = _from_version_1(d, self.backoff)
        order = orders.get(d["order"]) if d.get("order") else None
        self._set(_state_of(ProtectionState(d["state"]), order, d.get("data") or {}))
        self.exiting = d.get("exiting", "")
        self.flatten_offset = dec(d.get("flatten_offset"))
        self.next_stop_id = d.get("next_stop_id")
        self.previous_stop_id = d.get("previous_stop_id")
        rested = d.get("rested")
        self.rested = None if rested is None else (str(rested[0]), Decimal(rested[1]))
        self.rested_trigger = dec(d.get("rested_trigger"))
        self.breach_reported = dec(d.get("breach_reported"))
        self.triggered_reported = d.get("triggered_reported")
        self.waiting = d.get("waiting", "")
        self.wait_above = dec(d.get("wait_above"))
        self.placed_high = Decimal(d.get("placed_high", "0"))
        self.price_hint = dec(d.get("price_hint"))
        self.traded_ts = int(d.get("traded_ts", 0))
        self.edit_unsupported = bool(d.get("edit_unsupported", False))


def _state_of(state: ProtectionState, order: Order | None, data: dict[str, Any]) -> State:
    """A saved state, rebuilt (what the order says is re-derived on the next update)."""
    if order is None:
        if state is ProtectionState.BLOCKED:
            return Blocked(str(data.get("reason", "")), data.get("retry_at"))
        if state is ProtectionState.DUST:
            return Dust(Decimal(data.get("size", "0")), str(data.get("reason", "")))
        return Unprotected()
    if state is ProtectionState.MOVING:
        reason = CancelReason(data.get("reason", CancelReason.STOP_MOVE.value))
        return Moving(order, reason, int(data.get("sent_ts", order.created_ts)))
    if state is ProtectionState.EDITING:
        return Editing(order, int(data.get("sent_ts", order.created_ts)))
    if state is ProtectionState.CHECKING:
        asked = data.get("asked_ts")
        return Checking(order, str(data.get("why", "")), asked, bool(data.get("answered")))
    if state is ProtectionState.TRIGGERED:
        since = int(data.get("since", 0))
        return Triggered(order, since, data.get("gap_since"), int(data.get("gap_trades", 0)))
    if order.order_type is OrderType.LIMIT:
        return Exiting(order)
    if state is ProtectionState.PLACING:
        return Placing(order)
    return Resting(order) if not order.triggered else Triggered(order)


def _from_version_1(d: dict[str, Any], backoff: Backoff) -> dict[str, Any]:
    """A snapshot from before the states carried their data (flags beside a label)."""
    order = d.get("exit") or d.get("stop")
    state = d.get("state", "none")
    data: dict[str, Any] = {}
    if d.get("cancel_refused") and d.get("cancel_refused") == order:
        state, data = "checking", {"why": "cancel refused (before a restart)"}
    elif state == "blocked":
        data = {"reason": d.get("blocked", ""), "retry_at": d.get("retry_at") or None}
    elif state == "triggered":
        data = {"gap_since": d.get("gap_since"), "gap_trades": d.get("gap_trades", 0)}
    elif state == "dust" or d.get("dust"):
        state, data = "dust", {"size": "0", "reason": d.get("blocked", "dust")}
    refused = d.get("refused")
    if refused:
        backoff.refused("stop", str(refused[1]), str(refused[0]), 0, permanent=True)
    rested = d.get("rested_trigger")
    return {
        **d,
        "state": state,
        "order": order,
        "data": data,
        "rested": None if rested is None or not d.get("stop") else [d["stop"], rested],
    }
