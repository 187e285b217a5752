"""The simulator's REST half: Coinbase Advanced Trade's `/api/v3/brokerage` (and the
Coinbase App `/v2` endpoints its clients call first) on a SimState.

A module per concept: `models` (request bodies, pydantic), `inputs` (reading bodies and
queries), `render` (Coinbase's reply shapes), `ratelimit`, `middleware` (auth, limits,
faults, errors), and the endpoints: `orders`, `market_data`, `accounts`, `v2`.

Shapes follow `coinbase_api.md` (and the official SDK's field names where it is unsure):
every number travels as a plain decimal string, times are RFC3339 UTC. What this module
decides where Coinbase's behaviour is unknown or the paper exchange is narrower:

- Orders: every configuration the paper exchange trades: `limit_limit_gtc` / `_gtd`
  and stop-limits (`stop_limit_stop_limit_gtc` / `_gtd`) of both sides and both stop
  directions (STOP_DOWN triggers on a fall, STOP_UP on a rise), `market_market_ioc`
  (base or, for buys, quote size), `sor_limit_ioc` and `limit_limit_fok` (these fill at
  once against the last trade what they can, and the rest is cancelled), and
  `trigger_bracket_gtc` (its limit leg rests and holds funds; its stop leg never fires:
  it is there so that clients meet an order type tradekit does not place, resting).
  Coinbase's other configurations (market FOK, bracket GTD, TWAP, scaled, limits sized
  in quote) are validated field by field, then get `success: false` with
  UNSUPPORTED_ORDER_CONFIGURATION. `/orders/preview` and `/orders/edit_preview` run the
  paper exchange's own checks and place nothing. `end_time` must be RFC3339
  and is stored and echoed, but a GTD order never expires here. `post_only` refuses a
  limit that would cross the last trade price (INVALID_LIMIT_PRICE_POST_ONLY). A size
  or price of more than 10^20 increments is refused (BASE_SIZE_TOO_LARGE,
  INVALID_LIMIT_PRICE) before it reaches the ledger.
- Authentication: ES256 JWTs from `cdp` (the SDK) or `coinbase-cloud` (ccxt), the same
  checks for both (`auth.py`): `uri`, `nbf`/`exp` (at most 2 minutes apart), signature;
  a REST token serves one request. Refused: 401 `Unauthorized` in plain text.
- Rejections: a reason named `PREVIEW_*` goes to `preview_failure_reason` with
  `error` / `new_order_failure_reason` / top-level `failure_reason` set to
  UNKNOWN_FAILURE_REASON; any other reason R goes to those three, with
  `preview_failure_reason` = PREVIEW_R when Coinbase has that value, else
  UNKNOWN_PREVIEW_FAILURE_REASON. A success also carries `failure_reason:
  UNKNOWN_FAILURE_REASON` (as Coinbase's do: decide on `success`).
- A repeated client_order_id returns `success: true` with the existing order (whatever
  the new request says, as long as it is well formed).
- Malformed requests (bad JSON, unknown, missing or mistyped fields, numbers sent as JSON
  numbers, decimal strings that are not plain digits or longer than 24 characters,
  unknown query parameters, bad cursors) get 400 `{"error": "INVALID_ARGUMENT",
  "error_details", "message"}` naming the field; bodies over 64 KiB get 413. An unknown
  order or product named in the path gets 404 `NOT_FOUND`. A client that goes away
  mid-request gets 499 `CANCELLED` (no 500 for anything a client sends).
- Edits (`POST /orders/edit`): `order_id`, `price` and `size` required (size is the new
  total size), `stop_price` optional. A stop-limit is editable only while
  `state.edit_stop_enabled`, else ONLY_LIMIT_ORDER_EDITS_SUPPORTED (Coinbase documents
  edits of limit GTC orders only). The reply is `{"success", "success_response":
  {"order_id"}, "errors": [{"edit_failure_reason", "preview_failure_reason"}],
  "error_response": {"edit_order_failure_reason", "error_details"}}` (both shapes the
  SDK reads).
- Lists are newest first. Cursors are opaque strings (a position in the simulator's
  append-only order / fill list, so new orders never shift a page); `has_next` says
  whether another page follows. Default / maximum `limit`: orders and fills 100 / 1000,
  accounts 49 / 250.
- Candles come from the trades the market printed (`state.history`: one-minute bars of
  the last two days, not kept across a restart); at most 350 per request, newest first,
  empty buckets omitted. The book (`/best_bid_ask`,
  `/product_book`) is the market driver's synthetic book around the last price.
- Rate limits: a token bucket per API key (private, `state.rate_limit_per_s`) and per
  client IP (public, `state.public_rate_limit_per_s`), holding one second's worth.
  Every answer carries `x-ratelimit-limit` (requests per second), `x-ratelimit-remaining`
  (whole requests left now) and `x-ratelimit-reset` (seconds, decimal, until the bucket
  is full again); past the limit: 429 with a JSON body (clients must key on the status).
- Faults (`state.faults`), authenticated calls only (or the one endpoint `faults.only`
  names), in this order: `rest_delay_s` sleep; `rest_429_rate` -> 429
  RATE_LIMIT_EXCEEDED with the rate-limit headers saying nothing is left, before anything
  is done; `rest_error_rate` -> 500 before anything is done; `timeout_rate` -> sleep
  `timeout_s` then 504, nothing done; `lose_reply_rate` -> the call is done, then 503.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tradekit.sim.rest.accounts import Accounts
from tradekit.sim.rest.errors import BadRequest, NotFound, TooLarge, bad, error_response
from tradekit.sim.rest.inputs import MAX_BODY, read_json
from tradekit.sim.rest.market_data import MarketData
from tradekit.sim.rest.middleware import API, Handler, private, public
from tradekit.sim.rest.orders import Orders
from tradekit.sim.rest.ratelimit import RateLimiter
from tradekit.sim.rest.render import Json, dec, fill_json, order_json
from tradekit.sim.rest.v2 import V2, v2_error
from tradekit.sim.state import SimState

__all__ = [
    "API",
    "MAX_BODY",
    "BadRequest",
    "Json",
    "RateLimiter",
    "TooLarge",
    "bad",
    "dec",
    "error_response",
    "fill_json",
    "order_json",
    "read_json",
    "rest_routes",
]


def _v2(handler: Handler) -> Handler:
    """`/v2` refusals in the Coinbase App shape, `{"errors": [{"id", "message"}]}`."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as e:
            return v2_error(400, "invalid_request", str(e))
        except NotFound as e:
            return v2_error(404, "not_found", str(e))

    return endpoint


def rest_routes(state: SimState, limiter: RateLimiter | None = None) -> list[BaseRoute]:
    """Every `/api/v3/brokerage` route (private and public `/market/...`) and `/v2` route."""
    if limiter is None:
        limiter = RateLimiter(time.monotonic)
    orders, market, accounts, v2 = Orders(state), MarketData(state), Accounts(state), V2(state)

    def p(path: str, handler: Handler, method: str = "GET") -> Route:
        return Route(API + path, private(state, limiter, handler), methods=[method])

    def pub(path: str, handler: Handler) -> Route:
        return Route(API + path, public(state, limiter, handler), methods=["GET"])

    return [
        p("/orders", orders.create_order, "POST"),
        p("/orders/preview", orders.preview_order, "POST"),
        p("/orders/batch_cancel", orders.batch_cancel, "POST"),
        p("/orders/edit", orders.edit_order, "POST"),
        p("/orders/edit_preview", orders.edit_preview, "POST"),
        p("/orders/historical/batch", orders.list_orders),
        p("/orders/historical/fills", orders.list_fills),
        p("/orders/historical/{order_id}", orders.get_order),
        p("/accounts", accounts.list_accounts),
        p("/accounts/{account_uuid}", accounts.get_account),
        p("/transaction_summary", accounts.transaction_summary),
        p("/products", market.list_products),
        p("/products/{product_id}", market.get_product),
        p("/products/{product_id}/candles", market.get_candles),
        p("/products/{product_id}/ticker", market.market_trades),
        p("/best_bid_ask", market.best_bid_ask),
        p("/product_book", market.product_book),
        pub("/time", market.server_time),
        pub("/market/products", market.list_products),
        pub("/market/products/{product_id}", market.get_product),
        pub("/market/products/{product_id}/candles", market.get_candles),
        pub("/market/products/{product_id}/ticker", market.market_trades),
        pub("/market/product_book", market.product_book),
        Route("/v2/currencies", public(state, limiter, _v2(v2.currencies)), methods=["GET"]),
        Route(
            "/v2/currencies/crypto",
            public(state, limiter, _v2(v2.crypto_currencies)),
            methods=["GET"],
        ),
        Route(
            "/v2/exchange-rates", public(state, limiter, _v2(v2.exchange_rates)), methods=["GET"]
        ),
        Route("/v2/time", public(state, limiter, _v2(v2.time)), methods=["GET"]),
        Route("/v2/accounts", private(state, limiter, _v2(v2.accounts)), methods=["GET"]),
    ]
