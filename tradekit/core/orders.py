"""The order state machine: Coinbase's statuses plus the local ones an engine needs.

Every change of status goes through `TRANSITIONS`, an explicit table keyed by
(status, trigger). A pair missing from the table is a bug somewhere and raises
`InvalidOrderTransition` naming the order, the status and the trigger. Updates that
really happen out of order or twice (a fill reported again, an OPEN after FILLED, a
CANCELLED after FILLED) are *recognised* (`Applied.STALE` / `Applied.DUPLICATE`) and
change nothing.

Local statuses:
- INITIALIZED: the intent is journaled, the placement may or may not have been sent.
- SUBMIT_UNKNOWN: the placement was sent and its reply lost (timeout, 5xx, disconnect).
  It is *never* assumed failed: only a lookup by client_order_id settles it.
- PENDING_CANCEL: a cancel was requested and not yet confirmed.
- CANCEL_UNKNOWN: the cancel was sent and its reply lost.
- REJECTED: the exchange refused the placement (`success: false`); terminal.
- PENDING_EDIT: an in-place edit (a stop moved without cancelling it) was requested and
  not yet answered; the order keeps working at its old levels until it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from tradekit.core.money import ZERO


class OrderStatus(StrEnum):
    # local
    INITIALIZED = "INITIALIZED"
    SUBMIT_UNKNOWN = "SUBMIT_UNKNOWN"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCEL_UNKNOWN = "CANCEL_UNKNOWN"
    PENDING_EDIT = "PENDING_EDIT"
    REJECTED = "REJECTED"
    # Coinbase
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    OPEN = "OPEN"
    CANCEL_QUEUED = "CANCEL_QUEUED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    UNKNOWN_ORDER_STATUS = "UNKNOWN_ORDER_STATUS"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_unsettled(self) -> bool:
        """The engine cannot know whether the order rests on the exchange."""
        return self in _UNSETTLED


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.FAILED,
        OrderStatus.REJECTED,
    }
)
_UNSETTLED = frozenset(
    {
        OrderStatus.INITIALIZED,
        OrderStatus.SUBMIT_UNKNOWN,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCEL_UNKNOWN,
        OrderStatus.PENDING_EDIT,
        OrderStatus.UNKNOWN_ORDER_STATUS,
    }
)


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"


class Trigger(StrEnum):
    """What happened to an order; the second key of the transition table."""

    ACCEPTED = "accepted"  # placement acknowledged
    REJECTED = "rejected"  # placement refused
    SUBMIT_LOST = "submit_lost"  # placement reply lost
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_LOST = "cancel_lost"  # cancel reply lost
    CANCEL_REJECTED = "cancel_rejected"  # cancel refused (already filled, triggered, gone)
    EDIT_REQUESTED = "edit_requested"
    EDIT_ACCEPTED = "edit_accepted"  # the new levels are in force
    EDIT_REJECTED = "edit_rejected"  # the old levels still are
    FILL = "fill"  # part filled, more to come
    FILL_COMPLETE = "fill_complete"  # the last fill
    REPORT_WORKING = "report_working"  # exchange says PENDING / QUEUED / OPEN
    REPORT_CANCEL_QUEUED = "report_cancel_queued"
    REPORT_CANCELLED = "report_cancelled"
    REPORT_EXPIRED = "report_expired"
    REPORT_FAILED = "report_failed"
    REPORT_UNKNOWN = "report_unknown"  # exchange says UNKNOWN_ORDER_STATUS


class Applied(Enum):
    """What applying an update did."""

    CHANGED = "changed"
    STALE = "stale"  # older than what is known (OPEN after FILLED): ignored
    DUPLICATE = "duplicate"  # seen before (same trade id, same status): ignored


S = OrderStatus
T = Trigger
_STAY = None  # in the table: the status does not change, the update still counts

_WORKING = (S.PENDING, S.QUEUED, S.OPEN, S.UNKNOWN_ORDER_STATUS)
_CANCELLING = (S.PENDING_CANCEL, S.CANCEL_UNKNOWN, S.CANCEL_QUEUED)
_UNSENT = (S.INITIALIZED, S.SUBMIT_UNKNOWN)


def _build_table() -> dict[tuple[OrderStatus, Trigger], OrderStatus | Applied | None]:
    t: dict[tuple[OrderStatus, Trigger], OrderStatus | Applied | None] = {}
    for s in _UNSENT:
        t[s, T.ACCEPTED] = S.OPEN
        t[s, T.REJECTED] = S.REJECTED
        t[s, T.REPORT_WORKING] = S.OPEN  # a lookup found it resting: it was accepted
        t[s, T.REPORT_UNKNOWN] = S.UNKNOWN_ORDER_STATUS
        t[s, T.REPORT_CANCELLED] = S.CANCELLED
        t[s, T.REPORT_EXPIRED] = S.EXPIRED
        t[s, T.REPORT_FAILED] = S.FAILED
        t[s, T.FILL] = S.OPEN
        t[s, T.FILL_COMPLETE] = S.FILLED
    t[S.INITIALIZED, T.SUBMIT_LOST] = S.SUBMIT_UNKNOWN
    t[S.SUBMIT_UNKNOWN, T.SUBMIT_LOST] = Applied.DUPLICATE

    for s in _WORKING:
        t[s, T.ACCEPTED] = Applied.STALE
        t[s, T.REPORT_WORKING] = S.OPEN if s is S.UNKNOWN_ORDER_STATUS else _STAY
        t[s, T.REPORT_UNKNOWN] = Applied.STALE  # no news: keep what is known
        t[s, T.CANCEL_REQUESTED] = S.PENDING_CANCEL
        t[s, T.REPORT_CANCEL_QUEUED] = S.CANCEL_QUEUED
        t[s, T.REPORT_CANCELLED] = S.CANCELLED
        t[s, T.REPORT_EXPIRED] = S.EXPIRED
        t[s, T.REPORT_FAILED] = S.FAILED
        t[s, T.FILL] = S.OPEN
        t[s, T.FILL_COMPLETE] = S.FILLED
        t[s, T.CANCEL_REJECTED] = Applied.STALE
    for s in _CANCELLING:
        t[s, T.ACCEPTED] = Applied.STALE
        t[s, T.REPORT_CANCEL_QUEUED] = S.CANCEL_QUEUED
        t[s, T.REPORT_CANCELLED] = S.CANCELLED
        t[s, T.REPORT_EXPIRED] = S.EXPIRED
        t[s, T.REPORT_FAILED] = S.FAILED
        t[s, T.REPORT_UNKNOWN] = Applied.STALE
        # A fill racing the cancel: the order keeps being cancelled, the fill counts.
        t[s, T.FILL] = _STAY
        t[s, T.FILL_COMPLETE] = S.FILLED
        # The cancel was refused: the order still works (it may be filling).
        t[s, T.CANCEL_REJECTED] = S.OPEN
        t[s, T.CANCEL_REQUESTED] = S.PENDING_CANCEL  # cancels are idempotent: retry
    for s in (S.OPEN, S.PENDING, S.QUEUED):
        t[s, T.EDIT_REQUESTED] = S.PENDING_EDIT
    e = S.PENDING_EDIT
    t[e, T.EDIT_ACCEPTED] = S.OPEN
    t[e, T.EDIT_REJECTED] = S.OPEN
    t[e, T.ACCEPTED] = Applied.STALE
    t[e, T.REPORT_WORKING] = Applied.STALE  # the report may predate the edit
    t[e, T.REPORT_UNKNOWN] = Applied.STALE
    t[e, T.REPORT_CANCEL_QUEUED] = S.CANCEL_QUEUED
    t[e, T.REPORT_CANCELLED] = S.CANCELLED
    t[e, T.REPORT_EXPIRED] = S.EXPIRED
    t[e, T.REPORT_FAILED] = S.FAILED
    t[e, T.FILL] = _STAY  # it fills at its old levels while the edit is in flight
    t[e, T.FILL_COMPLETE] = S.FILLED
    for s in (*_WORKING, *_CANCELLING, S.FILLED, S.CANCELLED, S.EXPIRED):
        # an edit's answer seen again, or after the order moved on: it changes nothing
        t[s, T.EDIT_ACCEPTED] = Applied.STALE
        t[s, T.EDIT_REJECTED] = Applied.STALE
    t[S.PENDING_CANCEL, T.CANCEL_LOST] = S.CANCEL_UNKNOWN
    t[S.CANCEL_UNKNOWN, T.CANCEL_LOST] = Applied.DUPLICATE
    # A fresh lookup while the cancel is in doubt says it still rests: the cancel missed.
    t[S.CANCEL_UNKNOWN, T.REPORT_WORKING] = S.OPEN
    t[S.PENDING_CANCEL, T.REPORT_WORKING] = Applied.STALE  # report predates the cancel
    t[S.CANCEL_QUEUED, T.REPORT_WORKING] = Applied.STALE

    for s in (S.CANCELLED, S.EXPIRED):
        # Late fills: executed before the cancel/expiry took effect, reported after it.
        t[s, T.FILL] = _STAY
        t[s, T.FILL_COMPLETE] = S.FILLED
        for trig in (T.ACCEPTED, T.REPORT_WORKING, T.REPORT_CANCEL_QUEUED, T.REPORT_UNKNOWN):
            t[s, trig] = Applied.STALE
        t[s, T.CANCEL_REJECTED] = Applied.STALE
        t[s, T.CANCEL_LOST] = Applied.STALE
        t[s, T.CANCEL_REQUESTED] = Applied.STALE
    t[S.CANCELLED, T.REPORT_CANCELLED] = Applied.DUPLICATE
    t[S.CANCELLED, T.REPORT_EXPIRED] = Applied.STALE
    t[S.EXPIRED, T.REPORT_EXPIRED] = Applied.DUPLICATE
    t[S.EXPIRED, T.REPORT_CANCELLED] = Applied.STALE

    for trig in (
        T.ACCEPTED,
        T.REPORT_WORKING,
        T.REPORT_CANCEL_QUEUED,
        T.REPORT_UNKNOWN,
        T.REPORT_CANCELLED,
        T.REPORT_EXPIRED,
        T.CANCEL_REJECTED,
        T.CANCEL_LOST,
        T.CANCEL_REQUESTED,
    ):
        t[S.FILLED, trig] = Applied.STALE  # filled is final: nothing else can be true
    t[S.FILLED, T.FILL] = Applied.STALE
    t[S.REJECTED, T.REJECTED] = Applied.DUPLICATE
    t[S.FAILED, T.REPORT_FAILED] = Applied.DUPLICATE
    for trig in (T.REPORT_UNKNOWN, T.CANCEL_REJECTED, T.CANCEL_REQUESTED, T.CANCEL_LOST):
        t[S.FAILED, trig] = Applied.STALE
        t[S.REJECTED, trig] = Applied.STALE
    return t


TRANSITIONS = _build_table()


class OrderError(Exception):
    """Base of the order state machine's errors."""


class InvalidOrderTransition(OrderError):
    def __init__(self, client_order_id: str, status: OrderStatus, trigger: Trigger) -> None:
        super().__init__(
            f"order {client_order_id}: no transition from {status.value} on {trigger.value}"
        )
        self.client_order_id = client_order_id
        self.status = status
        self.trigger = trigger


class OverfillError(OrderError):
    def __init__(self, client_order_id: str, size: Decimal, filled: Decimal) -> None:
        super().__init__(f"order {client_order_id}: fills of {filled} exceed the order size {size}")
        self.client_order_id = client_order_id


@dataclass(frozen=True, slots=True)
class FillDelta:
    """The part of a fill that is new to this order (what positions must book)."""

    size: Decimal
    price: Decimal
    fee: Decimal


@dataclass(slots=True)
class Order:
    """One order as the engine knows it; mutated only through the methods below."""

    client_order_id: str
    product_id: str
    side: OrderSide
    order_type: OrderType
    size: Decimal
    limit_price: Decimal
    stop_price: Decimal | None = None
    created_ts: int = 0
    status: OrderStatus = OrderStatus.INITIALIZED
    order_id: str | None = None
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    fees: Decimal = ZERO
    triggered: bool = False
    reason: str = ""  # last rejection / cancel-refusal reason
    trade_ids: set[str] = field(default_factory=set)
    # the two views of the fills; `filled_*` above is what is booked (the watermark)
    traded_size: Decimal = ZERO  # the sum of the per-trade fills seen (by trade id)
    traded_value: Decimal = ZERO
    traded_fees: Decimal = ZERO
    reported_size: Decimal = ZERO  # the largest cumulative report seen
    reported_value: Decimal = ZERO
    reported_fees: Decimal = ZERO
    # the size an edit asked for whose answer is not known: a fill beyond `size` but
    # within it shows the exchange took the edit (its levels come with the answer)
    edit_size: Decimal | None = None

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size

    @property
    def average_filled_price(self) -> Decimal | None:
        return self.filled_value / self.filled_size if self.filled_size else None

    @property
    def is_open(self) -> bool:
        """May still rest on the exchange (so it holds funds and may fill)."""
        return not self.status.is_terminal

    def _apply(self, trigger: Trigger) -> Applied:
        try:
            target = TRANSITIONS[self.status, trigger]
        except KeyError:
            raise InvalidOrderTransition(self.client_order_id, self.status, trigger) from None
        if isinstance(target, Applied):
            return target
        if target is not None:
            self.status = target
        return Applied.CHANGED

    def transition(self, trigger: Trigger, reason: str = "") -> Applied:
        """Apply a status trigger that carries no fill (fills go through `fill`)."""
        if trigger in (Trigger.FILL, Trigger.FILL_COMPLETE):
            raise ValueError("fills are applied with Order.fill or Order.fill_to")
        before = self.status
        applied = self._apply(trigger)
        if applied is Applied.CHANGED and before is self.status and trigger in _REPORT_TRIGGERS:
            applied = Applied.DUPLICATE  # a status repeated: nothing new
        if reason and applied is Applied.CHANGED:
            self.reason = reason
        return applied

    def fill(
        self, trade_id: str, size: Decimal, price: Decimal, fee: Decimal
    ) -> tuple[Applied, FillDelta | None]:
        """Apply one execution, identified by its trade id (a repeat changes nothing)."""
        if trade_id in self.trade_ids:
            return Applied.DUPLICATE, None
        if size <= ZERO or price <= ZERO or fee < ZERO:
            raise ValueError(
                f"order {self.client_order_id}: impossible fill {trade_id!r} "
                f"(size {size}, price {price}, fee {fee})"
            )
        traded = self.traded_size + size
        if traded > self.size:
            self._edit_took(traded)
        self.trade_ids.add(trade_id)
        self.traded_size = traded
        self.traded_value += size * price
        self.traded_fees += fee
        return self._raise_watermark()

    def fill_to(
        self, filled_size: Decimal, filled_value: Decimal, total_fees: Decimal
    ) -> tuple[Applied, FillDelta | None]:
        """Apply a cumulative report (user channel, order lookup): "at least this much".

        A report that shows no more than is known is stale (out of order) or a repeat.
        """
        if filled_size < ZERO or filled_value < ZERO or total_fees < ZERO:
            raise ValueError(
                f"order {self.client_order_id}: impossible cumulative report "
                f"(filled {filled_size}, value {filled_value}, fees {total_fees})"
            )
        if filled_size > self.size:
            self._edit_took(filled_size)
        if filled_size <= self.reported_size:
            return Applied.STALE, None
        self.reported_size = filled_size
        self.reported_value = filled_value
        self.reported_fees = total_fees
        return self._raise_watermark()

    def _edit_took(self, filled: Decimal) -> None:
        """`filled` exceeds the order's size: the exchange took the edit in flight that
        asked for at least that much (its size is adopted), else the fill is impossible."""
        if self.edit_size is None or filled > self.edit_size:
            raise OverfillError(self.client_order_id, self.size, filled)
        self.size = self.edit_size

    def _raise_watermark(self) -> tuple[Applied, FillDelta | None]:
        """The one booking rule. Per-trade fills (by trade id) and cumulative reports are
        two views of one total: the order has filled at least the larger of the two, so
        that much is booked, and only its increase over what is booked already. Any mix,
        order and repetition of them books every unit exactly once."""
        if self.reported_size > self.traded_size:
            size, value, fees = self.reported_size, self.reported_value, self.reported_fees
        else:
            size, value, fees = self.traded_size, self.traded_value, self.traded_fees
        if size <= self.filled_size:
            return Applied.STALE, None
        trigger = Trigger.FILL_COMPLETE if size == self.size else Trigger.FILL
        applied = self._apply(trigger)
        if applied is not Applied.CHANGED:
            return applied, None
        delta_size = size - self.filled_size
        delta_value = value - self.filled_value
        delta_fee = max(fees - self.fees, ZERO)
        self.filled_size = size
        self.filled_value = value
        self.fees += delta_fee
        price = delta_value / delta_size
        if price <= ZERO:  # the two views disagree on value: book the average so far
            price = value / size
        return applied, FillDelta(delta_size, price, delta_fee)

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "product_id": self.product_id,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "size": str(self.size),
            "limit_price": str(self.limit_price),
            "stop_price": None if self.stop_price is None else str(self.stop_price),
            "created_ts": self.created_ts,
            "status": self.status.value,
            "order_id": self.order_id,
            "filled_size": str(self.filled_size),
            "filled_value": str(self.filled_value),
            "fees": str(self.fees),
            "triggered": self.triggered,
            "reason": self.reason,
            "trade_ids": sorted(self.trade_ids),
            "traded": [str(self.traded_size), str(self.traded_value), str(self.traded_fees)],
            "reported": [
                str(self.reported_size),
                str(self.reported_value),
                str(self.reported_fees),
            ],
            "edit_size": None if self.edit_size is None else str(self.edit_size),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        return cls(
            client_order_id=d["client_order_id"],
            product_id=d["product_id"],
            side=OrderSide(d["side"]),
            order_type=OrderType(d["order_type"]),
            size=Decimal(d["size"]),
            limit_price=Decimal(d["limit_price"]),
            stop_price=None if d["stop_price"] is None else Decimal(d["stop_price"]),
            created_ts=int(d["created_ts"]),
            status=OrderStatus(d["status"]),
            order_id=d["order_id"],
            filled_size=Decimal(d["filled_size"]),
            filled_value=Decimal(d["filled_value"]),
            fees=Decimal(d["fees"]),
            triggered=bool(d["triggered"]),
            reason=d["reason"],
            trade_ids=set(d["trade_ids"]),
            # orders saved before the two views were kept: what was booked came as trades
            traded_size=Decimal(d["traded"][0]) if "traded" in d else Decimal(d["filled_size"]),
            traded_value=Decimal(d["traded"][1]) if "traded" in d else Decimal(d["filled_value"]),
            traded_fees=Decimal(d["traded"][2]) if "traded" in d else Decimal(d["fees"]),
            reported_size=Decimal(d["reported"][0]) if "reported" in d else ZERO,
            reported_value=Decimal(d["reported"][1]) if "reported" in d else ZERO,
            reported_fees=Decimal(d["reported"][2]) if "reported" in d else ZERO,
            edit_size=None if d.get("edit_size") is None else Decimal(d["edit_size"]),
        )


_REPORT_TRIGGERS = frozenset(
    {
        Trigger.REPORT_WORKING,
        Trigger.REPORT_CANCEL_QUEUED,
        Trigger.REPORT_CANCELLED,
        Trigger.REPORT_EXPIRED,
        Trigger.REPORT_FAILED,
    }
)

REPORT_TRIGGER = {
    OrderStatus.PENDING: Trigger.REPORT_WORKING,
    OrderStatus.QUEUED: Trigger.REPORT_WORKING,
    OrderStatus.OPEN: Trigger.REPORT_WORKING,
    OrderStatus.CANCEL_QUEUED: Trigger.REPORT_CANCEL_QUEUED,
    OrderStatus.CANCELLED: Trigger.REPORT_CANCELLED,
    OrderStatus.EXPIRED: Trigger.REPORT_EXPIRED,
    OrderStatus.FAILED: Trigger.REPORT_FAILED,
    OrderStatus.UNKNOWN_ORDER_STATUS: Trigger.REPORT_UNKNOWN,
}
"""Which trigger an exchange-reported status is. FILLED is not here: it comes as fills."""
