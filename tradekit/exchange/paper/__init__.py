"""The paper exchange: an in-memory matching engine that behaves like Coinbase spot.

One concept a module, each stating its rules:
- `exchange`: `PaperExchange`, the facade (placement, cancels, edits, reads, `advance`);
- `matching`: the fill rules (which trade fills what, how much, at what price, as what);
- `validation`: placement and edit checks and Coinbase's failure reasons;
- `ledger`: balances, holds and fees, exact to the last digit;
- `journal`: the JSON-lines journal (persistence, replay, one writer);
- `orders`: the order record and the book an open order waits in.
"""

from tradekit.exchange.paper.exchange import FillModel, PaperExchange, SellFills
from tradekit.exchange.paper.journal import PaperStateError
from tradekit.exchange.paper.orders import OrderTerms, StopDirection, TimeInForce
from tradekit.exchange.paper.validation import EditReason, EditResult, Reason

__all__ = [
    "EditReason",
    "EditResult",
    "FillModel",
    "OrderTerms",
    "PaperExchange",
    "PaperStateError",
    "Reason",
    "SellFills",
    "StopDirection",
    "TimeInForce",
]
