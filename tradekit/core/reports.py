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
    """The desired stop changed: `old_trigger` is None for the first stop of a position.

    `price` is the trade (or fill) price that caused it; `highest` the high it trails.
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
class PositionClosed:
    product_id: str
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    realized_pnl: Decimal
    ts: int


Report = (
    EntryPlaced
    | EntrySkipped
    | EntryEnded
    | PositionOpened
    | StopMoved
    | StopRejected
    | StopTriggered
    | PositionClosed
)
