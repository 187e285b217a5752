"""Account endpoints: balances (`/accounts`) and the fee tier (`/transaction_summary`)."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response

from tradekit.sim.rest.errors import NotFound
from tradekit.sim.rest.inputs import Query
from tradekit.sim.rest.render import MAKER_FEE, TAKER_FEE, Json, accounts, dec
from tradekit.sim.state import SimState

__all__ = ["Accounts"]

_MONTH_NS = 30 * 86_400 * 1_000_000_000


class Accounts:
    """The account endpoints on one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def list_accounts(self, request: Request) -> Response:
        q = Query(request, ("limit", "cursor", "retail_portfolio_id"))
        limit = q.integer("limit", 49, 1, 250)
        cursor = q.cursor() or 0
        every = accounts(self.state)
        page = every[cursor : cursor + limit]
        more = cursor + limit < len(every)
        return Json(
            {
                "accounts": page,
                "has_next": more,
                "cursor": str(cursor + limit) if more else "",
                "size": len(page),
            }
        )

    async def get_account(self, request: Request) -> Response:
        Query(request, ())
        wanted = request.path_params["account_uuid"]
        for account in accounts(self.state):
            if account["uuid"] == wanted:
                return Json({"account": account})
        raise NotFound("account not found")

    async def transaction_summary(self, request: Request) -> Response:
        """The fee tier and the last 30 days' traded volume and fees.

        Coinbase sends the volumes and fees as JSON numbers here (not strings): they are
        rendered from exact Decimals at the last moment.
        """
        Query(
            request,
            ("product_type", "contract_expiry_type", "product_venue", "user_native_currency"),
        )
        since = self.state.now() - _MONTH_NS
        volume = fees = Decimal(0)
        for fill in self.state.exchange.list_fills():
            if fill.ts >= since:
                volume += fill.price * fill.size
                fees += fill.commission
        return Json(
            {
                "total_volume": float(volume),
                "total_fees": float(fees),
                "fee_tier": {
                    "pricing_tier": "Advanced 1",
                    "usd_from": "0",
                    "usd_to": "10000",
                    "taker_fee_rate": dec(TAKER_FEE),
                    "maker_fee_rate": dec(MAKER_FEE),
                    "aop_from": "",
                    "aop_to": "",
                },
                "margin_rate": None,
                "goods_and_services_tax": None,
                "advanced_trade_only_volume": float(volume),
                "advanced_trade_only_fees": float(fees),
                "coinbase_pro_volume": 0,
                "coinbase_pro_fees": 0,
                "total_balance": "",
                "has_promo_fee": False,
            }
        )
