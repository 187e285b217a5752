"""Order endpoints: create, preview, cancel, edit (and its preview), get, list, fills.

Placements go to the paper exchange, which trades limit GTC/GTD orders, stop-limits of
both sides and directions, market IOC, limit IOC and limit FOK; Coinbase's other
configurations are validated, then refused with `success: false` and
UNSUPPORTED_ORDER_CONFIGURATION (Coinbase's refusal of a configuration it does not
trade). Previews run the paper exchange's own placement checks without placing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from tradekit.core.events import MarketTrade
from tradekit.core.money import EXACT_CONTEXT, MONEY_CONTEXT, ProductSpec
from tradekit.core.orders import OrderSide
from tradekit.exchange.paper import StopDirection
from tradekit.exchange.paper.validation import (
    check_funds,
    check_limit,
    check_quote_size,
    check_size,
    check_stop,
    check_stop_placement,
)
from tradekit.exchange.types import ExchangeOrder, Fill, PlaceResult
from tradekit.sim.meta import OrderMeta
from tradekit.sim.rest.errors import NotFound, bad
from tradekit.sim.rest.inputs import Query, read_json
from tradekit.sim.rest.models import (
    BatchCancel,
    CreateOrder,
    EditOrder,
    LimitOrder,
    MarketOrder,
    StopLimitOrder,
    parse,
    parse_time,
)
from tradekit.sim.rest.render import (
    MAKER_FEE,
    TAKER_FEE,
    Json,
    book,
    create_failure,
    created,
    dec,
    fill_json,
    order_json,
)
from tradekit.sim.state import SimState

__all__ = ["Orders"]

_T = TypeVar("_T")
MAX_STEPS_DIGITS = 20  # at most 10^20 increments in a size or price
_MAX_STEPS = Decimal(10) ** MAX_STEPS_DIGITS
_STATUSES = frozenset(
    {
        "PENDING",
        "OPEN",
        "FILLED",
        "CANCELLED",
        "EXPIRED",
        "FAILED",
        "UNKNOWN_ORDER_STATUS",
        "QUEUED",
        "CANCEL_QUEUED",
    }
)
# what the paper exchange trades: every other configuration is UNSUPPORTED_ORDER_CONFIGURATION
_TRADED = frozenset(
    {
        "limit_limit_gtc",
        "limit_limit_gtd",
        "stop_limit_stop_limit_gtc",
        "stop_limit_stop_limit_gtd",
        "market_market_ioc",
        "sor_limit_ioc",
        "limit_limit_fok",
        "trigger_bracket_gtc",  # its limit leg rests; its stop leg never fires here
    }
)
Problem = tuple[str, str]


class _Order:
    """A validated placement: what the paper exchange needs, or why it is refused."""

    def __init__(self, body: CreateOrder, echo: dict[str, Any]) -> None:
        config = body.order_configuration
        self.key = config.key
        self.side = body.side
        self.product_id = body.product_id
        self.echo = echo  # the configuration as the client sent it
        inner = config.order
        self.market = isinstance(inner, MarketOrder)
        self.size: Decimal | None = getattr(inner, "base_size", None)
        self.quote_size: Decimal | None = getattr(inner, "quote_size", None)
        self.limit: Decimal | None = getattr(inner, "limit_price", None)
        self.stop: Decimal | None = getattr(inner, "stop_price", None)
        direction = inner.stop_direction if isinstance(inner, StopLimitOrder) else None
        post_only = inner.post_only if isinstance(inner, LimitOrder) else False
        end_time = getattr(inner, "end_time", None)
        self.meta = OrderMeta(self.key, post_only, end_time, direction, self.quote_size)
        self.meta.stop_trigger_price = getattr(inner, "stop_trigger_price", None)

    @property
    def order_side(self) -> OrderSide:
        return OrderSide(self.side)

    def refusal(self, state: SimState) -> Problem | None:
        """Why this order cannot be placed as asked, before the paper exchange sees it."""
        if self.side not in ("BUY", "SELL"):
            return "INVALID_SIDE", f"side {self.side[:16]!r} is not BUY or SELL"
        if self.key not in _TRADED or (self.quote_size is not None and not self.market):
            sized = " sized in quote_size" if self.quote_size is not None else ""
            return "UNSUPPORTED_ORDER_CONFIGURATION", f"{self.key}{sized} is not supported here"
        spec = state.exchange.products.get(self.product_id)
        if spec is None:
            return "INVALID_PRODUCT_ID", f"ProductID {self.product_id[:64]!r} is invalid"
        problem = out_of_range(spec, self.size, self.limit, self.stop, self.quote_size)
        if problem is not None:
            return problem
        last = state.exchange.last_price(self.product_id)
        if self.meta.post_only and last is not None and self.limit is not None:
            crosses = self.limit >= last if self.side == "BUY" else self.limit <= last
            if crosses:
                return (
                    "INVALID_LIMIT_PRICE_POST_ONLY",
                    f"post-only limit {self.limit} would cross the last trade price {last}",
                )
        return None

    def place(self, state: SimState, coid: str) -> PlaceResult:
        side = self.order_side
        pid = self.product_id
        if self.market:
            return state.place_market_ioc(
                coid, pid, side, base_size=self.size, quote_size=self.quote_size
            )
        size, limit = self.size, self.limit
        assert size is not None and limit is not None
        if self.key == "sor_limit_ioc":
            return state.place_limit_ioc(coid, pid, side, size, limit)
        if self.key == "limit_limit_fok":
            return state.place_limit_fok(coid, pid, side, size, limit)
        if self.stop is not None:
            direction = self.meta.stop_direction or StopDirection.STOP_DOWN
            return state.place_stop_limit(
                coid, pid, size, self.stop, limit, side=side, stop_direction=direction
            )
        if side is OrderSide.SELL:
            return state.place_limit_sell(coid, pid, size, limit)
        return state.place_limit_buy(coid, pid, size, limit)

    def preview_refusal(self, state: SimState) -> Problem | None:
        """The paper exchange's placement checks (its own functions), run without placing."""
        problem = self.refusal(state)
        if problem is not None:
            return problem
        ex = state.exchange
        spec = ex.products[self.product_id]
        last_price = ex.last_price(self.product_id)
        if self.market and last_price is None:
            return "INVALID_NO_LIQUIDITY", "no trade yet: nothing to fill against"
        price = self.limit if self.limit is not None else last_price
        assert price is not None
        if self.quote_size is not None:
            if self.side == "SELL":
                return "UNSUPPORTED_ORDER_CONFIGURATION", "a market sell is sized in base_size"
            problem = check_quote_size(spec, self.quote_size)
        else:
            assert self.size is not None
            problem = (
                (None if self.market else check_limit(spec, price))
                or (None if self.stop is None else check_stop(spec, self.stop))
                or check_size(spec, self.size, price)
            )
        if problem is None and self.stop is not None:
            last = (
                None
                if last_price is None
                else MarketTrade(self.product_id, last_price, Decimal(1), 0)
            )
            problem = check_stop_placement(
                self.order_side, self.meta.stop_direction, price, self.stop, last
            )
        return problem or self._funds(state, spec, price)

    def _funds(self, state: SimState, spec: ProductSpec, price: Decimal) -> Problem | None:
        balances = state.exchange.balances()
        if self.side == "BUY":
            if self.quote_size is not None:
                need = self.quote_size
            else:
                assert self.size is not None
                with localcontext(EXACT_CONTEXT):
                    need = self.size * price * (1 + max(MAKER_FEE, TAKER_FEE))
            currency, note = spec.quote_currency, " (with the fee)"
        else:
            assert self.size is not None
            need, currency, note = self.size, spec.base_currency, ""
        have = balances[currency].available if currency in balances else Decimal(0)
        return check_funds(need, have, currency, note)


def out_of_range(
    spec: ProductSpec,
    size: Decimal | None,
    price: Decimal | None,
    stop: Decimal | None = None,
    quote_size: Decimal | None = None,
) -> Problem | None:
    """A size or price too large for any real order (and for the ledger's 28-digit grid
    checks): more than 10^MAX_STEPS_DIGITS increments. Coinbase refuses such sizes as too
    large and such prices as invalid; the simulator does so before they reach the ledger."""
    with localcontext(MONEY_CONTEXT):
        if size is not None and abs(size) / spec.base_increment >= _MAX_STEPS:
            return "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE", f"size {size} is out of range"
        if quote_size is not None and abs(quote_size) / spec.quote_increment >= _MAX_STEPS:
            return (
                "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE",
                f"quote size {quote_size} is out of range",
            )
        if price is not None and abs(price) / spec.quote_increment >= _MAX_STEPS:
            return "INVALID_LIMIT_PRICE", f"limit price {price} is out of range"
        if stop is not None and abs(stop) / spec.quote_increment >= _MAX_STEPS:
            return "PREVIEW_INVALID_STOP_PRICE", f"stop price {stop} is out of range"
    return None


def _edit_problem(spec: ProductSpec, body: EditOrder) -> Problem | None:
    return (
        out_of_range(spec, body.size, body.price, body.stop_price)
        or check_limit(spec, body.price)
        or (None if body.stop_price is None else check_stop(spec, body.stop_price))
        or check_size(spec, body.size, body.price)
    )


def _preview_reason(reason: str) -> str:
    return reason if reason.startswith("PREVIEW_") else f"PREVIEW_{reason}"


class Orders:
    """The order endpoints on one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def create_order(self, request: Request) -> Response:
        data = await read_json(request)
        body = parse(CreateOrder, data)
        coid = body.client_order_id
        if coid is None:
            bad("client_order_id: required")
        order = _Order(body, data["order_configuration"])
        state = self.state
        existing = state.exchange.get_order_by_client_id(coid)
        if existing is not None:
            return Json(created(state, existing))
        problem = order.refusal(state)
        if problem is not None:
            return Json(create_failure(*problem, order.echo))
        state.meta.stage(coid, order.meta)
        try:
            res = order.place(state, coid)
        finally:
            if state.exchange.get_order_by_client_id(coid) is not None:
                state.meta.commit(coid)
            else:
                state.meta.discard(coid)
        if not res.success or res.order_id is None:
            reason = res.failure_reason or "UNKNOWN_FAILURE_REASON"
            return Json(create_failure(reason, res.message, order.echo))
        placed = state.exchange.get_order(res.order_id)
        assert placed is not None
        return Json(created(state, placed))

    async def preview_order(self, request: Request) -> Response:
        """`POST /orders/preview`: the placement checks and the cost, nothing placed."""
        data = await read_json(request)
        order = _Order(parse(CreateOrder, data), data["order_configuration"])
        problem = order.preview_refusal(self.state)
        errs = [] if problem is None else [_preview_reason(problem[0])]
        price = order.limit
        if price is None and order.product_id in self.state.exchange.products:
            price = self.state.exchange.last_price(order.product_id)  # a market order
        size = order.size
        if size is None and order.quote_size is not None and price:
            with localcontext(MONEY_CONTEXT):  # what a market buy by quote would get
                size = order.quote_size / (price * (1 + TAKER_FEE))
        return Json(self._preview(order.product_id, order.side, size, price, errs))

    def _preview(
        self,
        product_id: str,
        side: str,
        size: Decimal | None,
        limit: Decimal | None,
        errs: list[str],
    ) -> dict[str, Any]:
        ex = self.state.exchange
        with localcontext(EXACT_CONTEXT):
            value = size * limit if size is not None and limit is not None else Decimal(0)
            commission = value * TAKER_FEE
            total = value + commission if side == "BUY" else value - commission
        bid = ask = ""
        spec = ex.products.get(product_id)
        if spec is not None:
            levels = book(self.state, spec, 1)
            bid = levels["bids"][0]["price"] if levels["bids"] else ""
            ask = levels["asks"][0]["price"] if levels["asks"] else ""
        return {
            "order_total": dec(total),
            "commission_total": dec(commission),
            "errs": errs,
            "warning": [],
            "quote_size": dec(value),
            "base_size": "" if size is None else dec(size),
            "best_bid": bid,
            "best_ask": ask,
            "is_max": False,
            "slippage": "0",
            "preview_id": "",
            "average_filled_price": "" if limit is None else dec(limit),
        }

    async def batch_cancel(self, request: Request) -> Response:
        body = parse(BatchCancel, await read_json(request))
        results = []
        for order_id in body.order_ids:
            res = self.state.cancel_order(order_id)
            results.append(
                {
                    "success": res.success,
                    "failure_reason": res.failure_reason or "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": order_id,
                }
            )
        return Json({"results": results})

    async def edit_order(self, request: Request) -> Response:
        body = parse(EditOrder, await read_json(request))
        order = self.state.exchange.get_order(body.order_id)
        spec = None if order is None else self.state.exchange.products.get(order.product_id)
        problem = (
            None if spec is None else out_of_range(spec, body.size, body.price, body.stop_price)
        )
        if problem is not None:
            return Json(_edit_refusal(_preview_reason(problem[0]), problem[1]))
        res = self.state.edit_order(body.order_id, body.size, body.price, body.stop_price)
        if res.success:
            return Json(
                {"success": True, "success_response": {"order_id": body.order_id}, "errors": []}
            )
        reason = res.failure_reason or "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
        return Json(_edit_refusal(reason, res.message or reason))

    async def edit_preview(self, request: Request) -> Response:
        """`POST /orders/edit_preview`: would this edit be accepted? Nothing changes."""
        body = parse(EditOrder, await read_json(request))
        ex = self.state.exchange
        order = ex.get_order(body.order_id)
        errors: list[dict[str, str]] = []
        if order is None:
            errors.append(_edit_error("ORDER_NOT_FOUND"))
        else:
            spec = ex.products[order.product_id]
            problem = _edit_problem(spec, body)
            stop = order.order_type.value == "STOP_LIMIT"
            if order.status.value != "OPEN":
                errors.append(_edit_error("ONLY_OPEN_ORDERS_CAN_BE_EDITED"))
            elif stop and not self.state.edit_stop_enabled:  # as /orders/edit would say
                errors.append(_edit_error("ONLY_LIMIT_ORDER_EDITS_SUPPORTED"))
            elif problem is not None:
                errors.append(
                    _edit_error("UNKNOWN_EDIT_ORDER_FAILURE_REASON", _preview_reason(problem[0]))
                )
        side = "BUY" if order is None else order.side.value
        product_id = "" if order is None else order.product_id
        reply = self._preview(product_id, side, body.size, body.price, [])
        del reply["errs"], reply["warning"], reply["is_max"], reply["preview_id"]
        return Json({"errors": errors, **reply})

    async def get_order(self, request: Request) -> Response:
        Query(request, ("client_order_id", "user_native_currency"))
        order_id = request.path_params["order_id"]
        order = self.state.exchange.get_order(order_id)
        if order is None:
            raise NotFound("order with this orderID was not found")
        return Json({"order": order_json(self.state, order)})

    async def list_orders(self, request: Request) -> Response:
        q = Query(
            request,
            (
                "order_ids",
                "product_ids",
                "product_id",
                "order_status",
                "limit",
                "cursor",
                "start_date",
                "end_date",
                "order_types",
                "order_side",
                "product_type",
                "order_placement_source",
                "contract_expiry_type",
                "asset_filters",
                "retail_portfolio_id",
                "time_in_forces",
                "sort_by",
                "user_native_currency",
            ),
        )
        order_ids = set(q.many("order_ids"))
        products = set(q.many("product_ids") + q.many("product_id"))
        statuses = set(q.many("order_status"))
        for s in statuses:
            if s not in _STATUSES:
                bad(f"order_status: {s[:40]!r} is not an order status")
        types = set(q.many("order_types"))
        side = q.one("order_side")
        if side is not None and side not in ("BUY", "SELL"):
            bad(f"order_side: {side[:40]!r} is not BUY or SELL")
        start = q.one("start_date")
        end = q.one("end_date")
        start_ns = None if start is None else parse_time(start, "start_date")
        end_ns = None if end is None else parse_time(end, "end_date")
        limit = q.integer("limit", 100, 1, 1000)
        cursor = q.cursor()

        def keep(o: ExchangeOrder) -> bool:
            return (
                (not order_ids or o.order_id in order_ids)
                and (not products or o.product_id in products)
                and (not statuses or o.status.value in statuses)
                and (not types or o.order_type.value in types)
                and (side is None or o.side.value == side)
                and (start_ns is None or o.created_ts >= start_ns)
                and (end_ns is None or o.created_ts < end_ns)
            )

        page, next_cursor = _page(self.state.exchange.list_orders(), keep, limit, cursor)
        return Json(
            {
                "orders": _with_cursors([order_json(self.state, o) for o in page], next_cursor),
                "sequence": "0",
                "has_next": next_cursor is not None,
                "cursor": "" if next_cursor is None else str(next_cursor),
            }
        )

    async def list_fills(self, request: Request) -> Response:
        q = Query(
            request,
            (
                "order_ids",
                "trade_ids",
                "product_ids",
                "order_id",
                "product_id",
                "start_sequence_timestamp",
                "end_sequence_timestamp",
                "retail_portfolio_id",
                "limit",
                "cursor",
                "sort_by",
            ),
        )
        order_ids = set(q.many("order_ids") + q.many("order_id"))
        trade_ids = set(q.many("trade_ids"))
        products = set(q.many("product_ids") + q.many("product_id"))
        start = q.one("start_sequence_timestamp")
        end = q.one("end_sequence_timestamp")
        start_ns = None if start is None else parse_time(start, "start_sequence_timestamp")
        end_ns = None if end is None else parse_time(end, "end_sequence_timestamp")
        limit = q.integer("limit", 100, 1, 1000)
        cursor = q.cursor()

        def keep(f: Fill) -> bool:
            return (
                (not order_ids or f.order_id in order_ids)
                and (not trade_ids or f.trade_id in trade_ids)
                and (not products or f.product_id in products)
                and (start_ns is None or f.ts >= start_ns)
                and (end_ns is None or f.ts < end_ns)
            )

        page, next_cursor = _page(self.state.exchange.list_fills(), keep, limit, cursor)
        return Json(
            {
                "fills": _with_cursors([fill_json(self.state, f) for f in page], next_cursor),
                "cursor": "" if next_cursor is None else str(next_cursor),
            }
        )


def _with_cursors(items: list[dict[str, Any]], next_cursor: int | None) -> list[dict[str, Any]]:
    """Coinbase's list items each carry a `cursor` too (as recorded); here the page's
    next cursor (or "" on the last page): where a client resuming after them starts."""
    for item in items:
        item["cursor"] = "" if next_cursor is None else str(next_cursor)
    return items


def _edit_refusal(reason: str, message: str) -> dict[str, Any]:
    """`POST /orders/edit` refused: a PREVIEW_* reason goes to `preview_failure_reason`."""
    preview = reason.startswith("PREVIEW_")
    edit_reason = "UNKNOWN_EDIT_ORDER_FAILURE_REASON" if preview else reason
    return {
        "success": False,
        "errors": [
            _edit_error(edit_reason, reason if preview else "UNKNOWN_PREVIEW_FAILURE_REASON")
        ],
        "error_response": {"edit_order_failure_reason": edit_reason, "error_details": message},
    }


def _edit_error(reason: str, preview: str = "UNKNOWN_PREVIEW_FAILURE_REASON") -> dict[str, str]:
    return {"edit_failure_reason": reason, "preview_failure_reason": preview}


def _page(
    items: Sequence[_T], keep: Callable[[_T], bool], limit: int, cursor: int | None
) -> tuple[list[_T], int | None]:
    """Newest-first page of `items` (oldest first, append-only) below position `cursor`.

    Returns the page and the next cursor (the position of its last item), or None when
    nothing older matches.
    """
    i = len(items) if cursor is None else min(cursor, len(items))
    page: list[_T] = []
    while i > 0:
        i -= 1
        if keep(items[i]):
            if len(page) == limit:
                return page, i + 1
            page.append(items[i])
    return page, None
