"""Helpers for the simulator's REST tests (imported by name): hand-made JWTs, a client.

The JWTs are built here with PyJWT exactly as coinbase_api.md describes (not with the
simulator's code), so the tests check the server against the documented protocol.
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tradekit.sim.admin import ADMIN_TOKEN_HEADER
from tradekit.sim.server import SimServer

API = "/api/v3/brokerage"


def private_key(server: SimServer) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(server.private_key_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def make_jwt(
    key: Any,
    kid: str,
    uri: str | None,
    *,
    now: int | None = None,
    lifetime: int = 120,
    algorithm: str = "ES256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A CDP JWT: header kid/nonce, claims sub/iss/nbf/exp(/uri); overrides via kwargs."""
    now = int(time.time()) if now is None else now
    payload: dict[str, Any] = {"sub": kid, "iss": "cdp", "nbf": now, "exp": now + lifetime}
    if uri is not None:
        payload["uri"] = uri
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    head = {"kid": kid, "nonce": secrets.token_hex()}
    head.update(headers or {})
    return jwt.encode(payload, key, algorithm=algorithm, headers=head)


class Api:
    """httpx over a real socket (keep-alive), signing every private request afresh."""

    def __init__(self, server: SimServer, **client_kw: Any) -> None:
        self.server = server
        self.key = private_key(server)
        self.client = httpx.Client(
            base_url=server.base_url,
            verify=server.ssl_context() or False,
            timeout=10,
            headers={ADMIN_TOKEN_HEADER: server.admin_token},  # the admin API's; REST ignores it
            **client_kw,
        )

    def close(self) -> None:
        self.client.close()

    def token(self, method: str, path: str) -> str:
        return make_jwt(
            self.key, self.server.key_name, f"{method} {self.server.host_port}{API}{path}"
        )

    def request(
        self, method: str, path: str, *, auth: bool = True, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if auth:
            headers["Authorization"] = f"Bearer {token or self.token(method, path)}"
        return self.client.request(method, API + path, headers=headers, **kw)

    def get(self, path: str, params: Any = None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = self.request(method, path, **kw)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert isinstance(body, dict)
        return body

    # ------------------------------------------------------------- shortcuts

    def buy(
        self, coid: str, price: str, size: str = "0.01", product: str = "BTC-USD", **extra: Any
    ) -> dict[str, Any]:
        config = {"base_size": size, "limit_price": price, **extra}
        body = {
            "client_order_id": coid,
            "product_id": product,
            "side": "BUY",
            "order_configuration": {"limit_limit_gtc": config},
        }
        return self.ok("POST", "/orders", json=body)

    def stop_sell(
        self, coid: str, stop: str, limit: str, size: str = "0.01", product: str = "BTC-USD"
    ) -> dict[str, Any]:
        body = {
            "client_order_id": coid,
            "product_id": product,
            "side": "SELL",
            "order_configuration": {
                "stop_limit_stop_limit_gtc": {
                    "base_size": size,
                    "limit_price": limit,
                    "stop_price": stop,
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
        }
        return self.ok("POST", "/orders", json=body)

    def order(self, order_id: str) -> dict[str, Any]:
        order = self.ok("GET", f"/orders/historical/{order_id}")["order"]
        assert isinstance(order, dict)
        return order

    def print_trade(
        self, price: str, size: str = "1", product: str = "BTC-USD", ts: int | None = None
    ) -> list[dict[str, Any]]:
        """The market prints a trade (admin API); returns the fills it caused."""
        body: dict[str, Any] = {"product_id": product, "price": price, "size": size}
        if ts is not None:
            body["ts"] = ts
        r = self.client.post("/sim/admin/price", json=body)
        assert r.status_code == 200, r.text
        fills = r.json()["fills"]
        assert isinstance(fills, list)
        return fills

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        """(available, hold) from GET /accounts."""
        for account in self.ok("GET", "/accounts", params={"limit": 250})["accounts"]:
            if account["currency"] == currency:
                return (
                    Decimal(account["available_balance"]["value"]),
                    Decimal(account["hold"]["value"]),
                )
        raise AssertionError(f"no {currency} account")
