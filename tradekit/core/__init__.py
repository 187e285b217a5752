"""The pure core: no I/O, no clock, no asyncio, no threads.

Every trading rule of tradekit lives in this package: money and increments
(`money`), the ratchet (`position`), the order state machine (`orders`), entry rules
(`entry`) and the decision engine (`decision`) that turns events into commands.
"""

from tradekit.core.commands import (
    CancelOrder,
    CancelReason,
    Command,
    EditStopOrder,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
)
from tradekit.core.decision import DecisionEngine, PairParams, Phase
from tradekit.core.entry import EntryRule, FixedOffsetEntry, PullbackEntry
from tradekit.core.events import (
    CancelRejected,
    CancelUnknown,
    EditRejected,
    Event,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    OrderSubmitUnknown,
    Timer,
    TradingState,
    TradingStateChanged,
)
from tradekit.core.money import ProductSpec, round_down, round_up, to_decimal
from tradekit.core.orders import (
    Applied,
    InvalidOrderTransition,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    OverfillError,
    Trigger,
)
from tradekit.core.position import PositionState, TrailParams
from tradekit.core.reports import (
    EntryEnded,
    EntryPlaced,
    EntrySkipped,
    PositionClosed,
    PositionOpened,
    Report,
    StopMoved,
    StopRejected,
    StopTriggered,
)
from tradekit.core.risk import PortfolioRisk, RiskLimits

__all__ = [
    "Applied",
    "CancelOrder",
    "CancelReason",
    "CancelRejected",
    "CancelUnknown",
    "Command",
    "DecisionEngine",
    "EditRejected",
    "EditStopOrder",
    "EntryEnded",
    "EntryPlaced",
    "EntryRule",
    "EntrySkipped",
    "Event",
    "FixedOffsetEntry",
    "InvalidOrderTransition",
    "MarketTrade",
    "Order",
    "OrderAccepted",
    "OrderEdited",
    "OrderEvent",
    "OrderFilled",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderStatusReport",
    "OrderSubmitUnknown",
    "OrderType",
    "OverfillError",
    "PairParams",
    "Phase",
    "PlaceLimitBuy",
    "PlaceLimitSell",
    "PlaceStopLimitSell",
    "PortfolioRisk",
    "PositionClosed",
    "PositionOpened",
    "PositionState",
    "ProductSpec",
    "PullbackEntry",
    "Report",
    "RiskLimits",
    "StopMoved",
    "StopRejected",
    "StopTriggered",
    "Timer",
    "TradingState",
    "TradingStateChanged",
    "TrailParams",
    "Trigger",
    "round_down",
    "round_up",
    "to_decimal",
]
