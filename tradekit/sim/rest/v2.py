"""Coinbase App's `/v2` endpoints that Advanced Trade clients call on the same host.

ccxt's `load_markets` starts with `/v2/currencies`, `/v2/currencies/crypto` and
`/v2/exchange-rates`; its `fetch_time` and `fetch_balance` default to `/v2/time` and
`/v2/accounts`. Shapes follow Coinbase's "Track APIs" reference: every reply is wrapped
in `{"data": ...}`, errors are `{"errors": [{"id", "message"}]}`.

Fiat currencies are the simulator's fiat wallets (USD); crypto currencies are the base
currencies of its products. Exchange rates are derived from the last trade prices of
the products quoted in USD (a currency with no price yet is left out, as Coinbase leaves
out what it cannot price).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, localcontext
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tradekit.core.money import MONEY_CONTEXT
from tradekit.sim.rest.errors import BadRequest
from tradekit.sim.rest.inputs import Query
from tradekit.sim.rest.render import FIAT, NAMES, NS, Json, dec, rfc3339
from tradekit.sim.state import SimState

__all__ = ["V2", "v2_error"]

_ID_NS = uuid.UUID("5a0e7f0c-8f55-4d41-9f0c-0b5b1d7b8e21")
_COLORS = {"BTC": "#F7931A", "ETH": "#627EEA", "SOL": "#9945FF"}
_RATE_DIGITS = 18  # significant digits of an exchange rate
_ETH_LIKE = "^(?:0x)?[0-9a-fA-F]{40}$"


def v2_error(status: int, error_id: str, message: str) -> Response:
    return JSONResponse({"errors": [{"id": error_id, "message": message}]}, status)


class V2:
    """The `/v2` endpoints on one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def _currencies(self) -> tuple[list[str], list[str]]:
        """(fiat codes, crypto codes) the simulator knows, sorted."""
        codes = set(self.state.exchange.balances())
        for spec in self.state.exchange.products.values():
            codes.update((spec.base_currency, spec.quote_currency))
        fiat = sorted(c for c in codes if c in FIAT)
        return fiat, sorted(codes - set(fiat))

    def _crypto(self, code: str, index: int) -> dict[str, Any]:
        return {
            "asset_id": str(uuid.uuid5(_ID_NS, f"asset/{code}")),
            "code": code,
            "name": NAMES.get(code, code),
            "color": _COLORS.get(code, "#0052FF"),
            "sort_index": 100 + index,
            "exponent": 8,
            "type": "crypto",
            "address_regex": _ETH_LIKE,
        }

    async def currencies(self, request: Request) -> Response:
        Query(request, ())
        fiat, _ = self._currencies()
        return Json(
            {"data": [{"id": c, "name": NAMES.get(c, c), "min_size": "0.01"} for c in fiat]}
        )

    async def crypto_currencies(self, request: Request) -> Response:
        Query(request, ())
        _, crypto = self._currencies()
        return Json({"data": [self._crypto(c, i) for i, c in enumerate(crypto)]})

    def _usd_prices(self) -> dict[str, Decimal]:
        prices = {"USD": Decimal(1)}
        for pid, spec in self.state.exchange.products.items():
            last = self.state.exchange.last_price(pid)
            if spec.quote_currency == "USD" and last is not None and last > 0:
                prices[spec.base_currency] = last
        return prices

    async def exchange_rates(self, request: Request) -> Response:
        """How much of each currency one unit of `currency` (default USD) buys."""
        q = Query(request, ("currency",))
        currency = (q.one("currency") or "USD").upper()
        prices = self._usd_prices()
        base = prices.get(currency)
        if base is None:
            raise BadRequest(f"currency: {currency[:16]!r} is not a currency with a price here")
        rates: dict[str, str] = {}
        with localcontext(MONEY_CONTEXT) as ctx:
            ctx.prec = _RATE_DIGITS
            for code, price in sorted(prices.items()):
                rates[code] = dec((base / price).normalize())
        return Json({"data": {"currency": currency, "rates": rates}})

    async def time(self, request: Request) -> Response:
        Query(request, ())
        now = self.state.now()
        return Json({"data": {"iso": rfc3339(now // NS * NS)[:19] + "Z", "epoch": now // NS}})

    async def accounts(self, request: Request) -> Response:
        """`GET /v2/accounts`: one wallet per currency, balance = available + hold."""
        q = Query(request, ("limit", "order", "starting_after", "ending_before"))
        limit = q.integer("limit", 25, 1, 300)
        _, crypto = self._currencies()
        out = []
        for currency, bal in sorted(self.state.exchange.balances().items()):
            fiat = currency in FIAT
            account_id = str(uuid.uuid5(_ID_NS, f"{self.state.uuid}/v2/{currency}"))
            if fiat:
                info: dict[str, Any] = {
                    "code": currency,
                    "name": NAMES.get(currency, currency),
                    "color": "#0066cf",
                    "sort_index": 0,
                    "exponent": 2,
                    "type": "fiat",
                }
            else:
                index = crypto.index(currency) if currency in crypto else 0
                info = self._crypto(currency, index)
            out.append(
                {
                    "id": account_id,
                    "name": f"{currency} Wallet",
                    "primary": fiat,
                    "type": "fiat" if fiat else "wallet",
                    "currency": info,
                    "balance": {"amount": dec(bal.available + bal.hold), "currency": currency},
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": rfc3339(self.state.now()),
                    "resource": "account",
                    "resource_path": f"/v2/accounts/{account_id}",
                    "allow_deposits": True,
                    "allow_withdrawals": True,
                }
            )
        page = out[:limit]
        return Json(
            {
                "pagination": {
                    "ending_before": None,
                    "starting_after": None,
                    "previous_ending_before": None,
                    "next_starting_after": None,
                    "limit": limit,
                    "order": "desc",
                    "previous_uri": None,
                    "next_uri": None,
                },
                "data": page,
            }
        )
