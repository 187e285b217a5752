"""Reports: the domain facts the decision engine states as it decides.

They are not instructions (those are commands) but the story a user reads and the
store keeps: a position opened, its stop moved (and what price moved it), it closed
with this P&L. Drivers collect them with `DecisionEngine.take_reports()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class EntryPlaced:
    product_id: str
    client_order_id: str
    size: Decimal
    limit_price: Decimal
    signal_price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class EntrySkipped:
    """The entry rule fired but no order was made (size below the minimum, paused...)."""

    product_id: str
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class EntryEnded:
    """The entry order is finished: filled, cancelled (timeout), expired or rejected."""

    product_id: str
    client_order_id: str
    status: str
    filled_size: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class PositionOpened:
    product_id: str
    size: Decimal
    price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class StopMoved:
    """The exchange has a new stop (placement acknowledged or edit accepted): from `ts`
    on it rests at `trigger`/`limit`. `old_trigger` is the stop it replaced, None for a
    position's first stop. `price` is the price that set it (the new high, or the entry
    fill for a first stop); `highest` the high it trails.
    """

    product_id: str
    old_trigger: Decimal | None
    trigger: Decimal
    limit: Decimal
    price: Decimal
    highest: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class StopRejected:
    """The exchange refused a stop: the position is unprotected until a retry works."""

    product_id: str
    client_order_id: str
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class StopTriggered:
    """The stop triggered; if it rests unfilled (a gap through its limit) the position
    is still open and the user must know."""

    product_id: str
    client_order_id: str
    filled_size: Decimal
    size: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class StopBreached:
    """The stop should be at `trigger`, at or above the market (`price`): it cannot rest,
    which means it was hit. `action` is "exit" (a marketable limit sell follows) or
    "wait" (on_breach = "wait": no stop until the price is back above the trigger)."""

    product_id: str
    trigger: Decimal
    price: Decimal
    action: str
    ts: int


@dataclass(frozen=True, slots=True)
class StopGappedThrough:
    """A triggered stop rests unfilled above the market (it gapped below `limit`): it is
    cancelled and the position exits with a limit sell from the last `price`."""

    product_id: str
    client_order_id: str
    limit: Decimal
    price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class ExitPlaced:
    """An exit limit sell was sent; `reason` says why: breach, gap_through, flatten,
    stop_ended_unfilled."""

    product_id: str
    client_order_id: str
    size: Decimal
    limit_price: Decimal
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class ProtectionBlocked:
    """Nothing protects the open size for now, and why: a refusal backing off (retried
    no sooner than `retry_at`), a permanent refusal waiting for different levels, or
    on_breach = "wait"."""

    product_id: str
    reason: str
    retry_at: int | None
    ts: int


@dataclass(frozen=True, slots=True)
class ProtectionWaiting:
    """A request protection needs waits on a back-off (a refused cancel or edit, a lookup
    left unanswered, a gap-through exit that cannot be sent) while what rests keeps
    protecting: the stop's move or the exit's re-price happens no sooner than `retry_at`
    (None: when the condition named in `reason` changes)."""

    product_id: str
    reason: str
    retry_at: int | None
    ts: int


@dataclass(frozen=True, slots=True)
class OrderNewsContradicted:
    """An order event contradicted what is known of the order (its state machine has no
    such transition, e.g. a rejection of an order already accepted): it is not applied,
    and the exchange is asked for the order's state instead."""

    product_id: str
    client_order_id: str
    detail: str
    ts: int


@dataclass(frozen=True, slots=True)
class DustLeft:
    """What is left (`size`) is under the product's minimum and cannot be sold or
    protected: reported once; the position's protection duty ends and the pair is free."""

    product_id: str
    size: Decimal
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class PrintIgnored:
    """A market print the rules did not see (not positive, or far from recent trades
    and not yet confirmed); see `tradekit.core.sanity`."""

    product_id: str
    price: Decimal
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class PositionClosed:
    """`left` is the dust still held (under the minimum), zero when all was sold."""

    product_id: str
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    realized_pnl: Decimal
    ts: int
    left: Decimal = Decimal(0)


Report = (
    EntryPlaced
    | EntrySkipped
    | EntryEnded
    | PositionOpened
    | StopMoved
    | StopRejected
    | StopTriggered
    | StopBreached
    | StopGappedThrough
    | ExitPlaced
    | ProtectionBlocked
    | ProtectionWaiting
    | DustLeft
    | OrderNewsContradicted
    | PrintIgnored
    | PositionClosed
)
