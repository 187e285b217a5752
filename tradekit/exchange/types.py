"""What every exchange adapter returns: typed, `Decimal`, independent of the wire format.

Business rejections are values (`PlaceResult.success is False` with Coinbase's
`failure_reason`), not exceptions: the engine must see them, not a log line.
Transport failures whose outcome is unknown (timeout, 5xx, disconnect) raise
`OutcomeUnknown`; the engine then looks the order up by `client_order_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tradekit.core.events import OrderStatusReport
from tradekit.core.money import to_decimal
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.jsonl import number


class ExchangeError(Exception):
    """The exchange could not be asked or answered nonsense."""


class OutcomeUnknown(ExchangeError):
    """A request was sent and its reply lost: it may or may not have taken effect."""


class ExchangeBusy(ExchangeError):
    """The exchange would not serve now (still rate limited after the retries): a
    transient refusal; what was asked may be asked again later."""


# Trouble that passes: a caller keeps its state, backs off and asks again (an order whose
# request met one of these is looked up, never assumed failed).
TRANSIENT = (OutcomeUnknown, ExchangeBusy)


@dataclass(frozen=True, slots=True)
class PlaceResult:
    success: bool
    client_order_id: str
    order_id: str | None = None
    failure_reason: str = ""  # Coinbase's failure_reason / new_order_failure_reason
    message: str = ""


@dataclass(frozen=True, slots=True)
class CancelResult:
    order_id: str
    success: bool
    failure_reason: str = ""  # e.g. UNKNOWN_CANCEL_ORDER, ORDER_IS_FULLY_FILLED


class EditOutcome(Protocol):
    """What an in-place edit answered (each adapter has its own result class)."""

    @property
    def success(self) -> bool: ...

    @property
    def failure_reason(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange reports it (get / list)."""

    order_id: str
    client_order_id: str
    product_id: str
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    size: Decimal
    limit_price: Decimal
    stop_price: Decimal | None
    filled_size: Decimal
    filled_value: Decimal
    total_fees: Decimal
    triggered: bool
    created_ts: int
    # Coinbase's configuration key ("limit_limit_gtc", "market_market_ioc", ...); "" when
    # the exchange does not say (the paper exchange)
    configuration: str = ""
    # what the exchange holds for it (quote for a buy, base for a sell), when it says
    hold: Decimal | None = None

    @property
    def foreign(self) -> bool:
        """Of a configuration tradekit never places (a market, bracket, TWAP... order
        placed by hand): listed and counted for funds, never managed."""
        return self.configuration not in OWN_CONFIGURATIONS


# what tradekit places ("" = a venue that does not name configurations: the paper exchange)
OWN_CONFIGURATIONS = frozenset(
    {
        "",
        "limit_limit_gtc",
        "limit_limit_gtd",
        "stop_limit_stop_limit_gtc",
        "stop_limit_stop_limit_gtd",
    }
)


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    client_order_id: str
    product_id: str
    side: OrderSide
    price: Decimal
    size: Decimal
    commission: Decimal
    ts: int
    liquidity: str = "MAKER"  # MAKER | TAKER


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    available: Decimal
    hold: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


def status_report(o: ExchangeOrder, ts: int) -> OrderStatusReport:
    """The exchange's word on an order as the core's event (cumulative fill figures)."""
    return OrderStatusReport(
        o.client_order_id,
        o.status,
        ts,
        order_id=o.order_id,
        filled_size=o.filled_size,
        filled_value=o.filled_value,
        total_fees=o.total_fees,
        triggered=o.triggered,
        size=o.size,
        stop_price=o.stop_price,
        limit_price=o.limit_price,
    )


# -- market data both sides use: the Coinbase adapters parse candles, data/ reads files --

CANDLE_VALUES = ("open", "high", "low", "close", "volume")
MAX_UNIX_SECONDS = 10**11  # year 5138: anything larger is milliseconds or garbage
MAX_CANDLE_START_NS = MAX_UNIX_SECONDS * 1_000_000_000


def candle_problem(
    open_: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal
) -> str | None:
    """Why these OHLCV values cannot be a real bar, or None when they can."""
    if low <= 0:
        return f"prices must be positive, got low {low}"
    if high < max(open_, close):
        return f"high {high} is below max(open {open_}, close {close})"
    if low > min(open_, close):
        return f"low {low} is above min(open {open_}, close {close})"
    if volume < 0:
        return f"volume {volume} is negative"
    return None


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; `start` is the bar's opening time in ns since the epoch (UTC)."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.start, bool) or not isinstance(self.start, int):
            raise TypeError(f"start: expected int nanoseconds, got {self.start!r}")
        if not 0 <= self.start < MAX_CANDLE_START_NS:
            raise ValueError(f"start: {self.start} ns is not between 1970 and year 5138")
        for name in CANDLE_VALUES:
            value = to_decimal(getattr(self, name), name)
            try:
                object.__setattr__(self, name, number(value))
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        problem = candle_problem(self.open, self.high, self.low, self.close, self.volume)
        if problem is not None:
            raise ValueError(f"candle at {self.start}: {problem}")
