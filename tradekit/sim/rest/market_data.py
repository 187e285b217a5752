"""Market data endpoints: products, candles, the book, market trades, server time.

Candles come from the trades the market printed (`state.history`: one-minute bars of
the last two days, not kept across a restart); at most 350 per request, newest first,
empty buckets omitted. The book (`/best_bid_ask`, `/product_book`, the best bid and ask
of `/ticker`) is the market driver's synthetic book around the last price. Market trades
(`/products/{id}/ticker`) are the last trades printed, newest first, each with the
tick-rule side that the `market_trades` channel gives it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tradekit.core.money import ProductSpec
from tradekit.exchange.coinbase.granularity import GRANULARITIES, MAX_CANDLES
from tradekit.sim.rest.errors import NotFound, bad
from tradekit.sim.rest.inputs import Query
from tradekit.sim.rest.models import parse_time
from tradekit.sim.rest.render import NS, Json, book, candles, dec, product_json, rfc3339
from tradekit.sim.state import SimState

__all__ = ["GRANULARITIES", "MAX_CANDLES", "MarketData"]  # re-exported from wire

MAX_TRADES = 1000


class MarketData:
    """The market data endpoints on one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def spec(self, product_id: str) -> ProductSpec:
        spec = self.state.exchange.products.get(product_id)
        if spec is None:
            raise NotFound(f"product {product_id[:64]!r} not found")
        return spec

    async def list_products(self, request: Request) -> Response:
        q = Query(
            request,
            (
                "limit",
                "offset",
                "product_type",
                "product_ids",
                "contract_expiry_type",
                "expiring_contract_status",
                "get_tradability_status",
                "get_all_products",
                "products_sort_order",
            ),
        )
        wanted = set(q.many("product_ids"))
        product_type = q.one("product_type")
        limit = q.integer("limit", 1000, 0, 10_000) or 10_000  # 0: no limit
        offset = q.integer("offset", 0, 0, 10**9)
        specs = [
            spec
            for pid, spec in sorted(self.state.exchange.products.items())
            if (not wanted or pid in wanted) and product_type in (None, "SPOT")
        ]
        page = specs[offset : offset + limit]
        return Json(
            {
                "products": [product_json(self.state, s) for s in page],
                "num_products": len(specs),
            }
        )

    async def get_product(self, request: Request) -> Response:
        Query(request, ("get_tradability_status",))
        spec = self.spec(request.path_params["product_id"])
        return Json(product_json(self.state, spec))

    async def get_candles(self, request: Request) -> Response:
        q = Query(request, ("start", "end", "granularity", "limit"))
        spec = self.spec(request.path_params["product_id"])
        granularity = q.one("granularity")
        if granularity is None:
            bad("granularity: required")
        if granularity not in GRANULARITIES:
            bad(f"granularity: {granularity[:40]!r} is not one of {', '.join(GRANULARITIES)}")
        step = GRANULARITIES[granularity]
        start_text, end_text = q.one("start"), q.one("end")
        if start_text is None or end_text is None:
            bad("start and end: required (unix seconds)")
        try:
            start, end = int(start_text), int(end_text)
        except ValueError:
            bad("start, end: expected unix seconds as integers")
        if end <= start:
            bad("end: must be after start")
        limit = q.integer("limit", MAX_CANDLES, 1, MAX_CANDLES)
        wanted = -(-(end - start) // step)
        if wanted > MAX_CANDLES:
            bad(
                f"start, end: {wanted} candles requested, at most {MAX_CANDLES} per request "
                "(narrow the range or use a coarser granularity)"
            )
        out = candles(self.state, spec.product_id, start, end, step)
        return Json({"candles": out[:limit]})

    async def best_bid_ask(self, request: Request) -> Response:
        q = Query(request, ("product_ids",))
        wanted = q.many("product_ids") or sorted(self.state.exchange.products)
        books = []
        for product_id in wanted:
            spec = self.state.exchange.products.get(product_id)
            if spec is None:
                bad("ProductID is invalid")
            books.append(book(self.state, spec, 1))
        return Json({"pricebooks": books})

    async def product_book(self, request: Request) -> Response:
        q = Query(request, ("product_id", "limit", "aggregation_price_increment"))
        product_id = q.one("product_id")
        if product_id is None:
            bad("product_id: required")
        spec = self.state.exchange.products.get(product_id)
        if spec is None:
            bad("ProductID is invalid")
        levels = q.integer("limit", 50, 0, 500) or 50
        pricebook = book(self.state, spec, levels)
        last = self.state.exchange.last_price(product_id)
        out: dict[str, Any] = {"pricebook": pricebook, "last": "" if last is None else dec(last)}
        if pricebook["bids"] and pricebook["asks"]:
            bid = Decimal(pricebook["bids"][0]["price"])
            ask = Decimal(pricebook["asks"][0]["price"])
            mid = (bid + ask) / 2
            out["mid_market"] = dec(mid)
            out["spread_absolute"] = dec(ask - bid)
            bps = ((ask - bid) / mid * 10_000).quantize(Decimal("0.0001"))
            out["spread_bps"] = dec(bps.normalize())
        else:
            out.update(mid_market="", spread_absolute="", spread_bps="")
        return Json(out)

    async def server_time(self, request: Request) -> Response:
        Query(request, ())
        now = self.state.now()
        return Json(
            {
                "iso": rfc3339(now),
                "epochSeconds": str(now // NS),
                "epochMillis": str(now // 1_000_000),
            }
        )

    async def market_trades(self, request: Request) -> Response:
        """`GET /products/{id}/ticker`: the last `limit` trades and the best bid and ask."""
        q = Query(request, ("limit", "start", "end", "unix_start", "unix_end"))
        spec = self.spec(request.path_params["product_id"])
        if q.one("limit") is None:
            bad("limit: required")
        limit = q.integer("limit", 1, 1, MAX_TRADES)
        window = []
        for name in ("start", "end"):
            text = q.one(name) or q.one(f"unix_{name}")
            window.append(None if text is None else _unix_ns(text, name))
        start, end = window
        past = self.state.history.get(spec.product_id)
        trades: list[dict[str, Any]] = []
        if past is not None:
            for i in range(len(past.trades) - 1, -1, -1):
                trade = past.trades[i]
                if end is not None and trade.ts >= end:
                    continue
                if (start is not None and trade.ts < start) or len(trades) == limit:
                    break
                trades.append(
                    {
                        "trade_id": trade.trade_id,
                        "product_id": trade.product_id,
                        "price": dec(trade.price),
                        "size": dec(trade.size),
                        "time": rfc3339(trade.ts),
                        "side": past.sides[i],
                        "bid": "",  # Coinbase's recorded replies carry these, empty
                        "ask": "",
                        "exchange": "coinbase",
                    }
                )
        levels = book(self.state, spec, 1)
        return Json(
            {
                "trades": trades,
                "best_bid": levels["bids"][0]["price"] if levels["bids"] else "",
                "best_ask": levels["asks"][0]["price"] if levels["asks"] else "",
            }
        )


def _unix_ns(text: str, name: str) -> int:
    """A time as unix seconds ("1700000000") or RFC3339, in nanoseconds."""
    if text.isdigit() and len(text) <= 12:
        return int(text) * NS
    return parse_time(text, name)
