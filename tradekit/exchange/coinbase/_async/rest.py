"""Coinbase Advanced Trade REST, as the engines need it: written once, async.

The sync twin (`tradekit/exchange/coinbase/_sync/rest.py`) is generated from this file by
`tools/gen_sync.py`; edit this one.

Retries: reads and cancels are retried with jittered exponential backoff on 429, 5xx,
timeouts and dropped connections (429 waits at least until `x-ratelimit-reset`).
Placement is never blindly retried: a placement whose outcome is unknown (timeout, 5xx,
dropped connection) is first looked up by its client_order_id; only when the exchange
does not have it is it sent again, with the same client_order_id (which Coinbase treats
as the same order), so no retry can make a second order. A 429 on a placement is a
refusal before any processing, so it is waited out and sent again.

Rate limits: every request (retries included) first takes its turn from the pacer shared
by every adapter of its key (private) or host (public), at Coinbase's documented rates
or the limit the server announces (`pacing.py`): a burst is spread, not refused.

HTTP: `_compat.HttpSession`, one per adapter: aiohttp's client on the async side,
httpcore's connection pool on the sync side (see each for why). Both keep connections
alive, honour the proxies the environment names (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY),
accept gzip, and time out as the adapter says; both answer a `Reply` or raise
`TransportFailed`, so this file has one flow for both.
"""

from __future__ import annotations

import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from tradekit import jsonl
from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase._async._compat import HttpSession, sleep
from tradekit.exchange.coinbase.common import (
    AuthenticationError,
    EditResult,
    RateLimited,
    Reply,
    RequestRejected,
    RetryPolicy,
    TransportFailed,
    environment_proxy,
)
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.exchange.coinbase.pacing import (
    PRIVATE_PER_S,
    PUBLIC_PER_S,
    Pacer,
    Priority,
    current_priority,
    shared_pacer,
)
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    Candle,
    ExchangeError,
    ExchangeOrder,
    Fill,
    OutcomeUnknown,
    PlaceResult,
)

API_PREFIX = "/api/v3/brokerage"
DEFAULT_BASE_URL = "https://api.coinbase.com"
MAX_PAGES = 20  # a client_order_id lookup scans at most this many pages of recent orders


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verified TLS: the system's trust store, or ONLY the CA file a user names."""
    return ssl.create_default_context(cafile=ca_file)


class AsyncCoinbaseRest:
    """The REST adapter: the `Exchange` protocol over Coinbase Advanced Trade."""

    def __init__(
        self,
        credentials: Credentials | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        can_edit_stops: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        self.credentials = credentials
        # Whether POST /orders/edit moves a resting stop-limit's stop_price: unconfirmed
        # on Coinbase for spot stops, so off unless the user (or the simulator) says so.
        self.can_edit_stops = can_edit_stops
        self.stop_edits_refused: set[str] = set()  # products whose stop edit was refused
        self.base_url = base_url.rstrip("/")
        self.host = parts.netloc  # host[:port], as the JWT's `uri` claim wants it
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        # what the transport went through: retried answers, lost placements found again
        self.stats = {"requests": 0, "retries": 0, "placements_found": 0}
        self._products: dict[str, ProductSpec] = {}
        self.paced_s = 0.0  # waited for a turn under the rate limits, in seconds
        self._public_pacer = shared_pacer(f"public:{self.host}", PUBLIC_PER_S, clock)
        self._private_pacer = (
            None
            if credentials is None
            else shared_pacer(f"key:{credentials.key_name}", PRIVATE_PER_S, clock)
        )
        self._http = HttpSession(
            self.base_url,
            ssl_context=_ssl_context(ca_file) if parts.scheme == "https" else None,
            timeout_s=timeout_s,
            headers={"User-Agent": "tradekit", "Accept": "application/json"},
            proxy=environment_proxy(self.base_url),
        )

    async def __aenter__(self) -> AsyncCoinbaseRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, credentials={self.credentials!r})"

    # -- transport -----------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
        retry_unknown: bool = True,
    ) -> Any:
        """One API call with retries; `retry_unknown=False` for calls that must not be
        repeated when their outcome is unknown (placements)."""
        full = API_PREFIX + path
        target = full + (f"?{urlencode(params, quote_via=quote)}" if params else "")
        headers: dict[str, str] = {}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        attempts = self.retry.attempts
        # A protective request (a stop's placement, an exit, the cancel making way for
        # one) refused with 429 was refused before any processing: it is sent again at
        # its next turn of the pacer (first in line; the 429's "none left" makes that
        # one interval of the limit), without exponential back-off and without using up
        # its attempts, up to PROTECTIVE_429_RETRIES times.
        protective = current_priority() is Priority.PROTECT
        refusals = 0
        attempt = -1
        while attempt < attempts - 1:
            attempt += 1
            last = attempt == attempts - 1
            pacer = self._public_pacer
            if auth:
                if self.credentials is None or self._private_pacer is None:
                    raise AuthenticationError(f"{method} {path}: no API key configured")
                pacer = self._private_pacer
            await self._wait_turn(pacer)
            if auth:
                assert self.credentials is not None
                token = self.credentials.rest_jwt(method, self.host, full)  # fresh after a wait
                headers["Authorization"] = f"Bearer {token}"
            self.stats["requests"] += 1
            if attempt:
                self.stats["retries"] += 1
            try:
                resp = await self._http.request(method, target, headers, content)
            except TransportFailed as e:
                if e.certificate_refused:  # not transient: say so, never retry
                    raise ExchangeError(
                        f"{method} {path}: the TLS certificate of {self.host} is not trusted "
                        "(for tradekit sim --tls, pass its CA file as ca_file)"
                    ) from None
                if not retry_unknown or last:
                    raise OutcomeUnknown(f"{method} {path}: {e}") from None
                await sleep(self.retry.delay(attempt, self._rng))
                continue
            _follow_announced_limit(pacer, resp)
            status = resp.status
            if status == 429:
                if protective and refusals < PROTECTIVE_429_RETRIES:
                    refusals += 1
                    attempt -= 1  # not an attempt used: the same one, its next turn
                    continue  # the pacer (told "none left") waits the limit's interval
                if last:
                    raise RateLimited(f"{method} {path}: 429 after {attempts} attempts")
                await sleep(max(self._reset_delay(resp), self.retry.delay(attempt, self._rng)))
                continue
            if status >= 500:
                if not retry_unknown or last:
                    raise OutcomeUnknown(f"{method} {path}: HTTP {status}")
                await sleep(self.retry.delay(attempt, self._rng))
                continue
            if status in (401, 403):
                raise AuthenticationError(f"{method} {path}: HTTP {status} {_text(resp)}")
            if status == 404:
                return None
            if status >= 400:
                raise RequestRejected(f"{method} {path}: HTTP {status} {_error_text(resp)}")
            try:
                return jsonl.loads(resp.body)  # bounded: no RecursionError, no NaN
            except ValueError as e:
                raise wire.WireError(f"{method} {path}", f"the reply is not JSON ({e})") from None
        raise AssertionError("unreachable")  # pragma: no cover (the last attempt raises)

    async def _wait_turn(self, pacer: Pacer) -> None:
        """Wait for this request's turn under the rate limit, by its priority (protective
        requests first: `pacing.request_priority`)."""
        ticket = pacer.enter(current_priority())
        try:
            while (wait := pacer.turn(ticket)) > 0:
                self.paced_s += wait
                await sleep(wait)
        finally:
            pacer.leave(ticket)  # a no-op once served; a cancelled wait gives its place up

    @staticmethod
    def _reset_delay(resp: Reply) -> float:
        """How long to wait after a 429: one request's worth of the rate limit when the
        headers say the limit (a token bucket refills continuously), else until the
        reset they announce; never more than a few seconds."""
        limit = _header_number(resp, "x-ratelimit-limit")
        if limit is not None and limit > 0:
            return min(1.0 / limit, 5.0)
        reset = _header_number(resp, "x-ratelimit-reset")
        return reset if reset is not None and 0 < reset <= 5 else 0.0

    # -- orders --------------------------------------------------------------------

    async def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        body = wire.limit_order_body(client_order_id, product_id, size, limit_price)
        return await self._place(body, client_order_id, product_id)

    async def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit sell: an exit at a price (the kill switch's flatten)."""
        body = wire.limit_order_body(client_order_id, product_id, size, limit_price, side="SELL")
        return await self._place(body, client_order_id, product_id)

    async def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        body = wire.stop_limit_sell_body(client_order_id, product_id, size, stop_price, limit_price)
        return await self._place(body, client_order_id, product_id)

    async def _place(self, body: dict[str, Any], coid: str, product_id: str) -> PlaceResult:
        for _ in range(2):
            try:
                reply = await self._request("POST", "/orders", body=body, retry_unknown=False)
            except OutcomeUnknown:
                found = await self._find(coid, product_id)
                if found is not None:
                    self.stats["placements_found"] += 1
                    return PlaceResult(
                        True, coid, found.order_id, message="found after a lost reply"
                    )
                continue  # the exchange never saw it: send again, same client_order_id
            return wire.place_result(reply, coid)
        raise OutcomeUnknown(f"placement {coid}: no reply twice and not found by its id")

    async def cancel_order(self, order_id: str) -> CancelResult:
        reply = await self._request("POST", "/orders/batch_cancel", body={"order_ids": [order_id]})
        results = wire.cancel_results(reply)
        for r in results:
            if r.order_id == order_id:
                return r
        raise wire.WireError("batch_cancel.results", f"no result for order {order_id}")

    async def edit_order(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditResult:
        """Edit a resting order in place (a capability: not every exchange moves stops)."""
        body: dict[str, Any] = {
            "order_id": order_id,
            "size": wire.plain(size),
            "price": wire.plain(price),
        }
        if stop_price is not None:
            body["stop_price"] = wire.plain(stop_price)
        reply = await self._request("POST", "/orders/edit", body=body)
        success, reason = wire.edit_reply(reply, "edit_order")
        return EditResult(True) if success else EditResult(False, reason)

    async def edit_preview(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditResult:
        """Would this edit be accepted? `POST /orders/edit_preview` changes nothing: how
        `tradekit check --live` learns whether stops move by edit, without risk."""
        body: dict[str, Any] = {
            "order_id": order_id,
            "size": wire.plain(size),
            "price": wire.plain(price),
        }
        if stop_price is not None:
            body["stop_price"] = wire.plain(stop_price)
        reply = await self._request("POST", "/orders/edit_preview", body=body)
        success, reason = wire.edit_reply(reply, "edit_preview")
        return EditResult(True) if success else EditResult(False, reason)

    def can_edit_stops_for(self, product_id: str) -> bool:
        """Whether a stop of this product may be moved by edit: the adapter's setting,
        unless an edit of one was refused as unsupported (`note_edit_refused`)."""
        return self.can_edit_stops and product_id not in self.stop_edits_refused

    def note_edit_refused(self, product_id: str, reason: str) -> bool:
        """Remember a product whose stop edit was refused as unsupported (its stops move
        by cancel-then-place from now on); True when `reason` is such a refusal."""
        if reason in wire.EDIT_UNSUPPORTED_REASONS:
            self.stop_edits_refused.add(product_id)
            return True
        return False

    async def get_order(self, order_id: str) -> ExchangeOrder | None:
        reply = await self._request("GET", f"/orders/historical/{order_id}")
        if reply is None:
            return None
        return wire.order(wire.obj(reply, "get_order").get("order"), "order")

    async def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None:
        return await self._find(client_order_id, None)

    async def _pages(self, path: str, key: str, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """The raw items of each page of a cursor-paginated list (at most MAX_PAGES)."""
        params = {"limit": 250, **params}
        for _ in range(MAX_PAGES):
            page = wire.obj(await self._request("GET", path, params=params), key)
            yield wire.items(page, key, key)
            cursor = page.get("cursor")
            # fills pages say nothing of has_next: a cursor alone means more
            if not cursor or page.get("has_next") is False:
                return
            params["cursor"] = cursor

    async def _find(self, coid: str, product_id: str | None) -> ExchangeOrder | None:
        """Coinbase has no lookup by client_order_id: scan recent orders, newest first."""
        params = {"product_ids": product_id} if product_id else {}
        async for raws in self._pages("/orders/historical/batch", "orders", params):
            for i, raw in enumerate(raws):
                if isinstance(raw, dict) and raw.get("client_order_id") == coid:
                    return wire.order(raw, f"orders[{i}]")
        return None

    async def list_open_orders(self, product_id: str | None = None) -> list[ExchangeOrder]:
        params: dict[str, Any] = {"order_status": "OPEN"}
        if product_id:
            params["product_ids"] = product_id
        out: list[ExchangeOrder] = []
        async for raws in self._pages("/orders/historical/batch", "orders", params):
            out += [wire.order(raw, f"orders[{i}]") for i, raw in enumerate(raws)]
        return out

    async def list_fills(
        self, order_id: str | None = None, product_id: str | None = None
    ) -> list[Fill]:
        """Fills oldest first (Coinbase lists newest first)."""
        params: dict[str, Any] = {}
        if order_id:
            params["order_ids"] = order_id
        if product_id:
            params["product_ids"] = product_id
        out: list[Fill] = []
        async for raws in self._pages("/orders/historical/fills", "fills", params):
            out += [wire.fill(raw, f"fills[{i}]") for i, raw in enumerate(raws)]
        out.sort(key=lambda f: (f.ts, f.trade_id))
        return out

    # -- account and market --------------------------------------------------------

    async def balances(self) -> dict[str, Balance]:
        out: dict[str, Balance] = {}
        async for raws in self._pages("/accounts", "accounts", {}):
            for i, raw in enumerate(raws):
                b = wire.account(raw, f"accounts[{i}]")
                out[b.currency] = b
        return out

    async def product(self, product_id: str) -> ProductSpec:
        cached = self._products.get(product_id)
        if cached is not None:
            return cached
        if self.credentials is None:  # no key (paper trading): the public endpoint
            reply = await self._request("GET", f"/market/products/{product_id}", auth=False)
        else:
            reply = await self._request("GET", f"/products/{product_id}")
        if reply is None:
            raise ExchangeError(f"unknown product {product_id!r}")
        spec = wire.product(reply, "product")
        self._products[product_id] = spec
        return spec

    async def best_bid_ask(self, product_id: str) -> tuple[Decimal | None, Decimal | None]:
        reply = await self._request("GET", "/best_bid_ask", params={"product_ids": product_id})
        books = wire.items(wire.obj(reply, "best_bid_ask"), "pricebooks", "best_bid_ask")
        for i, raw in enumerate(books):
            book = wire.obj(raw, f"pricebooks[{i}]")
            if book.get("product_id") != product_id:
                continue
            bids = wire.items(book, "bids", f"pricebooks[{i}]")
            asks = wire.items(book, "asks", f"pricebooks[{i}]")
            bid = wire.dec(wire.obj(bids[0], "bids[0]"), "price", "bids[0]") if bids else None
            ask = wire.dec(wire.obj(asks[0], "asks[0]"), "price", "asks[0]") if asks else None
            return bid, ask
        return None, None

    async def candles(
        self, product_id: str, start_s: int, end_s: int, granularity: str
    ) -> list[Candle]:
        """Public market candles (no key needed) starting in [start_s, end_s), oldest
        first. Coinbase serves at most 350 a request: the caller pages (tradekit.data.history).
        """
        reply = await self._request(
            "GET",
            f"/market/products/{product_id}/candles",
            params={"start": str(start_s), "end": str(end_s), "granularity": granularity},
            auth=False,
        )
        if reply is None:
            raise ExchangeError(f"unknown product {product_id!r}")
        rows = wire.items(wire.obj(reply, "candles"), "candles", "candles")
        out = []
        for i, raw in enumerate(rows):
            bar = wire.candle(raw, f"candles[{i}]")  # WireError naming the row
            if start_s * 10**9 <= bar.start < end_s * 10**9:
                out.append(bar)
        out.sort(key=lambda c: c.start)
        return out

    async def market_trades(self, product_id: str, limit: int = 100) -> list[MarketTrade]:
        """The last public trades of a product (no key needed), oldest first."""
        reply = await self._request(
            "GET",
            f"/market/products/{product_id}/ticker",
            params={"limit": str(limit)},
            auth=False,
        )
        if reply is None:
            raise ExchangeError(f"unknown product {product_id!r}")
        return wire.market_trades(reply, product_id)

    async def product_info(self, product_id: str) -> wire.ProductInfo:
        """The product's increments and trading flags (status, trading_disabled, ...),
        read fresh (not cached): what a preflight checks. Public without a key."""
        path = f"/products/{product_id}"
        if self.credentials is None:
            reply = await self._request("GET", f"/market{path}", auth=False)
        else:
            reply = await self._request("GET", path)
        if reply is None:
            raise ExchangeError(f"unknown product {product_id!r}")
        return wire.product_info(reply, "product")

    async def fee_tier(self) -> wire.FeeTier:
        """The account's fee tier (`GET /transaction_summary`)."""
        return wire.fee_tier(await self._request("GET", "/transaction_summary"))

    async def server_time_ns(self) -> int:
        reply = wire.obj(await self._request("GET", "/time", auth=False), "time")
        return int(wire.text(reply, "epochMillis", "time")) * 10**6


PROTECTIVE_429_RETRIES = 40  # at 30 requests/s: over a second of refusals, then as others


def _follow_announced_limit(pacer: Pacer, resp: Reply) -> None:
    limit = _header_number(resp, "x-ratelimit-limit")
    if limit is not None and limit > 0:
        pacer.announce(limit, _header_number(resp, "x-ratelimit-remaining"))


def _header_number(resp: Reply, name: str) -> float | None:
    value = resp.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _text(resp: Reply) -> str:
    return resp.body[:200].decode("utf-8", "replace")


def _error_text(resp: Reply) -> str:
    try:
        data = jsonl.loads(resp.body)
    except ValueError:
        return _text(resp)
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error_details") or data.get("error") or "")
    return str(data)[:200]


if TYPE_CHECKING:
    from tradekit.exchange._async.protocols import AsyncExchangeApi, AsyncStopEditor

    def _implements_the_protocol(ex: AsyncCoinbaseRest) -> AsyncExchangeApi:
        return ex  # mypy proves the adapter is an exchange

    def _edits_stops(ex: AsyncCoinbaseRest) -> AsyncStopEditor:
        return ex
