"""The simulator's WebSocket feed over real sockets: uvicorn in a thread, websockets client.

Only `ws_routes(state)` is served (a minimal Starlette app), so these tests do not depend
on the REST half. State is mutated on the server's loop thread (`Server.call`), as the
market task and REST handlers do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tradekit.core.events import MarketTrade
from tradekit.data.generators import PricePath
from tradekit.exchange.paper import PaperExchange
from tradekit.sim.market import Market, synth_book
from tradekit.sim.state import ApiKey, Bus, SimState
from tradekit.sim.ws import WsConfig, rfc3339nano, ws_routes

D = Decimal
KEY_NAME = "organizations/test-org/apiKeys/test-key"
PRIVATE = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
FAST = WsConfig(subscribe_timeout_s=1.5, heartbeat_interval_s=0.2, ticker_batch_interval_s=0.2)
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def token(
    private: ec.EllipticCurvePrivateKey = PRIVATE,
    kid: str = KEY_NAME,
    age_s: int = 0,
    **claims: Any,
) -> str:
    now = int(time.time()) - age_s
    payload = {"sub": kid, "iss": "cdp", "nbf": now, "exp": now + 120, **claims}
    return jwt.encode(
        payload, private, algorithm="ES256", headers={"kid": kid, "nonce": secrets.token_hex()}
    )


class Server:
    """uvicorn serving `app` on 127.0.0.1 (a free port) from its own thread and loop."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        self.port: int = self.server.servers[0].sockets[0].getsockname()[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` on the server's loop thread and return its result."""
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed back to the test thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Sim:
    state: SimState
    server: Server

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.server.port}{path}"

    def trade(self, price: str, size: str = "0.1", product: str = "BTC-USD") -> None:
        trade = MarketTrade(product, D(price), D(size), time.time_ns())
        self.server.call(self.state.advance, trade)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One uvicorn for the module; each test swaps in the routes of a fresh state."""
    srv = Server(Starlette())
    yield srv
    srv.stop()


@pytest.fixture
def make_sim(server: Server) -> Callable[..., Sim]:
    def make(config: WsConfig = FAST, bus: Bus | None = None, fill_model: str = "full") -> Sim:
        exchange = PaperExchange(
            balances={"USD": D("100000"), "BTC": D("2"), "ETH": D("10")},
            fill_model=fill_model,  # type: ignore[arg-type]
        )
        state = SimState(exchange, bus=bus or Bus(), rng=random.Random(7))
        state.keys[KEY_NAME] = ApiKey(KEY_NAME, PRIVATE.public_key())
        routes = ws_routes(state, config)
        server.call(server.app.router.routes.__setitem__, slice(None), routes)
        return Sim(state, server)

    return make


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim()


async def recv(ws: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 3.0
) -> list[dict[str, Any]]:
    """Messages up to and including the first one matching `pred`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; got {out}")
        out.append(await recv(ws, left))
        if pred(out[-1]):
            return out


async def quiet(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Everything that arrives within `seconds`."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(await recv(ws, left))
        except TimeoutError:
            break
    return out


async def subscribe(
    ws: ClientConnection, channel: str, product_ids: list[str] | None = None, **extra: Any
) -> list[dict[str, Any]]:
    """Send a subscribe and return the messages up to its `subscriptions` ack."""
    message = {"type": "subscribe", "product_ids": product_ids or [], "channel": channel}
    await ws.send(json.dumps({**message, **extra}))
    return await recv_until(ws, lambda m: m.get("channel") == "subscriptions")


def channel_of(messages: list[dict[str, Any]], channel: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("channel") == channel]


# ------------------------------------------------------------------------ envelope


@pytest.mark.asyncio
async def test_heartbeats_every_second_with_an_integer_counter(make_sim: Any) -> None:
    sim = make_sim(WsConfig())  # Coinbase's timings: one heartbeat a second
    async with connect(sim.url()) as ws:
        ack = await subscribe(ws, "heartbeats")
        assert ack[-1]["events"] == [{"subscriptions": {"heartbeats": ["heartbeats"]}}]
        beats, arrived = [], []
        for _ in range(2):
            beats.append(await recv(ws, 2.0))
            arrived.append(time.monotonic())
    assert [b["channel"] for b in beats] == ["heartbeats"] * 2
    counters = [b["events"][0]["heartbeat_counter"] for b in beats]
    assert all(type(c) is int for c in counters)
    assert counters == [1, 2]
    assert 0.8 < arrived[1] - arrived[0] < 1.3, arrived
    assert [m["sequence_num"] for m in ack + beats] == [0, 1, 2]
    for m in beats:
        assert m["client_id"] == ""
        assert RFC3339NANO.match(m["timestamp"]), m["timestamp"]
        assert re.match(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+",
            m["events"][0]["current_time"],
        )


@pytest.mark.asyncio
async def test_sequence_num_rises_by_one_per_message_across_channels(sim: Sim) -> None:
    async with connect(sim.url()) as ws:
        got = await subscribe(ws, "heartbeats")
        got += await subscribe(ws, "market_trades", ["BTC-USD", "ETH-USD"])
        got += await subscribe(ws, "ticker", ["BTC-USD"])
        for i in range(30):
            sim.trade(f"{100 + i}.00", product="BTC-USD" if i % 3 else "ETH-USD")
        got += await quiet(ws, 0.7)
    assert len(channel_of(got, "heartbeats")) >= 2
    assert (
        sum(len(e["trades"]) for m in channel_of(got, "market_trades") for e in m["events"]) == 30
    )
    assert [m["sequence_num"] for m in got] == list(range(len(got)))


@pytest.mark.asyncio
async def test_market_trades_and_ticker_deliver_printed_trades(sim: Sim) -> None:
    sim.trade("100.00", "0.5")  # before subscribing: in the snapshots
    async with connect(sim.url()) as ws:
        got = await subscribe(ws, "market_trades", ["BTC-USD"])
        snapshot = channel_of(got, "market_trades")[0]["events"][0]
        assert snapshot["type"] == "snapshot"
        assert [t["price"] for t in snapshot["trades"]] == ["100.00"]
        got = await subscribe(ws, "ticker", ["BTC-USD"])
        ticker = channel_of(got, "ticker")[0]["events"][0]
        assert ticker["type"] == "snapshot" and ticker["tickers"][0]["price"] == "100.00"
        sim.trade("101.50", "0.25")
        sim.trade("99.75", "0.00000001")
        got = await recv_until(
            ws,
            lambda m: m["channel"] == "ticker" and m["events"][0]["tickers"][0]["price"] == "99.75",
        )
    trades = [t for m in channel_of(got, "market_trades") for e in m["events"] for t in e["trades"]]
    assert [(t["price"], t["size"], t["side"]) for t in trades] == [
        ("101.50", "0.25", "BUY"),
        ("99.75", "0.00000001", "SELL"),  # a plain string, never 1E-8
    ]
    for t in trades:
        assert set(t) == {"trade_id", "product_id", "price", "size", "side", "time"}
        assert t["product_id"] == "BTC-USD" and RFC3339NANO.match(t["time"])
    last = channel_of(got, "ticker")[-1]["events"][0]
    assert last["type"] == "update"
    tick = last["tickers"][0]
    assert tick["type"] == "ticker" and tick["product_id"] == "BTC-USD"
    assert D(tick["volume_24_h"]) == D("0.75000001")
    assert (tick["low_24_h"], tick["high_24_h"]) == ("99.75", "101.50")
    assert (tick["low_52_w"], tick["high_52_w"]) == ("99.75", "101.50")
    assert D(tick["price_percent_chg_24_h"]) == D("-0.25")
    assert D(tick["best_bid"]) <= D("99.75") < D(tick["best_ask"])
    assert D(tick["best_bid_quantity"]) > 0 and D(tick["best_ask_quantity"]) > 0
    assert all(isinstance(v, str) for v in tick.values())


@pytest.mark.asyncio
async def test_unsubscribe_stops_the_flow(sim: Sim) -> None:
    async with connect(sim.url()) as ws:
        await subscribe(ws, "market_trades", ["BTC-USD"])
        sim.trade("100.00")
        got = await recv_until(ws, lambda m: m["channel"] == "market_trades")
        assert got[-1]["events"][0]["trades"][0]["price"] == "100.00"
        await ws.send(
            json.dumps(
                {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "market_trades"}
            )
        )
        ack = await recv_until(ws, lambda m: m["channel"] == "subscriptions")
        assert ack[-1]["events"][0]["subscriptions"] == {}
        for price in ("101.00", "102.00"):
            sim.trade(price)
        assert await quiet(ws, 0.4) == []


# --------------------------------------------------------------------------- user


@pytest.mark.asyncio
async def test_user_channel_snapshot_then_fills_of_a_stop_limit(make_sim: Any) -> None:
    sim = make_sim(fill_model="trade_size")  # fills capped by trade size: several updates
    sim.trade("100.00", "1")
    res = sim.server.call(
        sim.state.place_stop_limit, "stop-1", "BTC-USD", D("0.5"), D("95.00"), D("94.00")
    )
    assert res.success, res
    async with connect(sim.url("/ws/user")) as ws:
        got = await subscribe(ws, "user", [], jwt=token())
        snapshot = channel_of(got, "user")
        assert len(snapshot) == 1 and snapshot[0]["events"][0]["type"] == "snapshot"
        (order,) = snapshot[0]["events"][0]["orders"]
        assert order["order_id"] == res.order_id and order["client_order_id"] == "stop-1"
        assert order["status"] == "OPEN" and order["trigger_status"] == "STOP_PENDING"
        assert order["order_type"] == "Stop Limit" and order["order_side"] == "SELL"
        assert (order["stop_price"], order["limit_price"]) == ("95.00", "94.00")
        assert D(order["cumulative_quantity"]) == 0 and D(order["leaves_quantity"]) == D("0.5")
        assert D(order["outstanding_hold_amount"]) == D("0.5")
        assert all(isinstance(v, str) for v in order.values())
        assert got[-1]["events"][0]["subscriptions"] == {"user": [sim.state.uuid]}

        sim.trade("96.00", "1")  # above the stop: nothing
        # triggers at 95.00 >= limit 94.00: 0.2 at 95.00 on the trigger trade (taker),
        # then the rest rests at its limit: 0.2 and 0.1 at 94.00 (maker)
        for _ in range(3):
            sim.trade("95.00", "0.2")
        got = await recv_until(
            ws,
            lambda m: m["channel"] == "user" and m["events"][0]["orders"][-1]["status"] == "FILLED",
        )
    updates = [o for m in channel_of(got, "user") for e in m["events"] for o in e["orders"]]
    assert all(e["type"] == "update" for m in channel_of(got, "user") for e in m["events"])
    assert [D(o["cumulative_quantity"]) for o in updates] == [D("0.2"), D("0.4"), D("0.5")]
    assert [o["status"] for o in updates] == ["OPEN", "OPEN", "FILLED"]
    assert [o["number_of_fills"] for o in updates] == ["1", "2", "3"]
    assert all(o["trigger_status"] == "STOP_TRIGGERED" for o in updates)
    final = updates[-1]
    # 0.2 x 95.00 + 0.3 x 94.00 = 19.00 + 28.20 = 47.20; average 47.20 / 0.5 = 94.40
    assert D(final["leaves_quantity"]) == 0 and D(final["avg_price"]) == D("94.4")
    assert D(final["filled_value"]) == D("47.20")
    assert D(final["total_fees"]) > 0
    assert D(final["total_value_after_fees"]) == D("47.20") - D(final["total_fees"])
    assert final["completion_percentage"] == "100.00"
    assert "E" not in final["total_fees"]


@pytest.mark.asyncio
async def test_user_snapshot_is_batched_fifty_orders_an_event(sim: Sim) -> None:
    sim.trade("100.00")
    for i in range(120):
        res = sim.server.call(
            sim.state.place_limit_buy, f"buy-{i}", "BTC-USD", D("0.001"), D("90.00")
        )
        assert res.success
    async with connect(sim.url()) as ws:
        got = await subscribe(ws, "user", ["BTC-USD"], jwt=token())
    snapshots = channel_of(got, "user")
    assert [len(m["events"][0]["orders"]) for m in snapshots] == [50, 50, 20]
    assert all(m["events"][0]["type"] == "snapshot" for m in snapshots)


@pytest.mark.asyncio
async def test_user_channel_needs_a_valid_jwt(sim: Sim) -> None:
    bad = {
        "no jwt": None,
        "empty": "",
        "garbage": "not.a.jwt",
        "wrong key": token(OTHER),
        "unknown kid": token(OTHER, kid="organizations/x/apiKeys/y"),
        "expired": token(age_s=600),
        "not yet valid": token(age_s=-600),
        "wrong issuer": token(iss="someone"),
    }
    async with connect(sim.url("/ws/user")) as ws:
        for name, jwt_value in bad.items():
            message: dict[str, Any] = {"type": "subscribe", "product_ids": [], "channel": "user"}
            if jwt_value is not None:
                message["jwt"] = jwt_value
            await ws.send(json.dumps(message))
            reply = await recv(ws)
            assert reply == {"type": "error", "message": "authentication failure"}, name
        got = await subscribe(ws, "user", [], jwt=token())
        assert channel_of(got, "user")[0]["events"][0]["type"] == "snapshot"
        # the first envelope of this connection: errors carry no sequence number
        assert got[0]["sequence_num"] == 0


@pytest.mark.asyncio
async def test_user_host_serves_only_its_channels(sim: Sim) -> None:
    async with connect(sim.url("/ws/user")) as ws:
        await ws.send(
            json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "ticker"})
        )
        reply = await recv(ws)
        assert reply["type"] == "error" and "user data host" in reply["message"]
        got = await subscribe(ws, "futures_balance_summary", [], jwt=token())
        summary = channel_of(got, "futures_balance_summary")[0]["events"][0]
        assert summary["fcm_balance_summary"]["futures_buying_power"] == "0"
        await subscribe(ws, "heartbeats")
    async with connect(sim.url("/")) as ws:  # the SDK's base-URL path: market data host
        got = await subscribe(ws, "status", [])
        products = channel_of(got, "status")[0]["events"][0]["products"]
        assert [p["id"] for p in products] == ["BTC-USD", "ETH-USD", "SOL-USD"]
        assert products[0]["base_increment"] == "0.00000001"
        assert products[0]["quote_currency"] == "USD"


# ------------------------------------------------------------- level2, candles, batch


@pytest.mark.asyncio
async def test_level2_snapshot_then_diffs_rebuild_the_synthetic_book(sim: Sim) -> None:
    sim.trade("100.00")
    book: dict[tuple[str, Decimal], Decimal] = {}

    def apply(message: dict[str, Any]) -> None:
        for event in message["events"]:
            assert event["product_id"] == "BTC-USD"
            for u in event["updates"]:
                key = (u["side"], D(u["price_level"]))
                if D(u["new_quantity"]) == 0:
                    book.pop(key, None)
                else:
                    book[key] = D(u["new_quantity"])

    async with connect(sim.url()) as ws:
        got = await subscribe(ws, "level2", ["BTC-USD"])
        (snap,) = channel_of(got, "l2_data")
        assert snap["events"][0]["type"] == "snapshot"
        apply(snap)
        assert len(book) == 20
        sim.trade("100.07")
        sim.trade("100.03")
        got = await recv_until(ws, lambda m: m["channel"] == "l2_data")
        got += await quiet(ws, 0.3)
    for m in channel_of(got, "l2_data"):
        assert m["events"][0]["type"] == "update"
        apply(m)
    spec = sim.state.exchange.product("BTC-USD")
    bids, asks = synth_book(spec, D("100.03"))
    expected = {("bid", p): q for p, q in bids} | {("offer", p): q for p, q in asks}
    assert book == expected
    assert (
        max(p for s, p in book if s == "bid")
        <= D("100.03")
        < min(p for s, p in book if s == "offer")
    )


@pytest.mark.asyncio
async def test_candles_status_and_ticker_batch(sim: Sim) -> None:
    async with connect(sim.url()) as ws:
        got = await subscribe(ws, "candles", ["BTC-USD"])
        assert channel_of(got, "candles")[0]["events"][0] == {"type": "snapshot", "candles": []}
        await subscribe(ws, "ticker_batch", ["BTC-USD", "ETH-USD"])
        for price in ("100.00", "103.00", "98.00", "101.00"):
            sim.trade(price)
        sim.trade("2000.00", product="ETH-USD")
        got = await recv_until(ws, lambda m: m["channel"] == "ticker_batch", timeout=2)
    candle = channel_of(got, "candles")[-1]["events"][0]["candles"][0]
    assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
        "100.00",
        "103.00",
        "98.00",
        "101.00",
    )
    assert candle["volume"] == "0.4" and candle["product_id"] == "BTC-USD"
    assert int(candle["start"]) % 300 == 0
    assert int(candle["start"]) <= time.time() < int(candle["start"]) + 300
    batch = channel_of(got, "ticker_batch")[-1]["events"][0]
    assert batch["type"] == "update"
    assert {t["product_id"]: t["price"] for t in batch["tickers"]} == {
        "BTC-USD": "101.00",
        "ETH-USD": "2000.00",
    }


# --------------------------------------------------------------------- bad input


@pytest.mark.asyncio
async def test_bad_messages_get_errors_and_the_connection_keeps_serving(sim: Sim) -> None:
    bad: list[tuple[str | bytes, str]] = [
        ("this is not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        ("[1, 2]", "malformed message"),
        (json.dumps({"channel": "ticker", "product_ids": ["BTC-USD"]}), "missing field 'type'"),
        (json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"]}), "missing field 'channel'"),
        (json.dumps({"type": "hello", "channel": "ticker"}), "unknown message type"),
        (
            json.dumps({"type": "subscribe", "channel": "nope", "product_ids": []}),
            "unknown channel",
        ),
        (json.dumps({"type": "subscribe", "channel": "ticker"}), "missing field 'product_ids'"),
        (
            json.dumps({"type": "subscribe", "channel": "ticker", "product_ids": ["DOGE-USD"]}),
            "unknown product_id",
        ),
        (
            json.dumps({"type": "subscribe", "channel": "ticker", "product_ids": "BTC-USD"}),
            "product_ids must be a list",
        ),
        (
            json.dumps(
                {
                    "type": "subscribe",
                    "channel": "ticker",
                    "product_ids": ["BTC-USD"],
                    "pad": "x" * 70_000,
                }
            ),
            "message too large",
        ),
    ]
    async with connect(sim.url()) as ws:
        for payload, expected in bad:
            await ws.send(payload)
            reply = await recv(ws)
            assert reply["type"] == "error", payload
            assert expected in reply["message"], (expected, reply)
        got = await subscribe(ws, "market_trades", ["BTC-USD"])
        assert got[0]["sequence_num"] == 0
        sim.trade("100.00")
        got = await recv_until(ws, lambda m: m["channel"] == "market_trades")
        assert got[-1]["events"][0]["trades"][0]["price"] == "100.00"


# ---------------------------------------------------------------------- closes


@pytest.mark.asyncio
async def test_a_connection_without_subscription_is_closed(make_sim: Any) -> None:
    sim = make_sim(WsConfig(subscribe_timeout_s=0.3, heartbeat_interval_s=0.1))
    async with connect(sim.url()) as idle, connect(sim.url()) as busy:
        await subscribe(busy, "heartbeats")
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(idle.recv(), 2)
        assert 0.2 < time.monotonic() - t0 < 1.0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        beats = await quiet(busy, 0.4)  # the subscribed one lives on
        assert len(channel_of(beats, "heartbeats")) >= 2


@pytest.mark.asyncio
async def test_a_slow_consumer_is_closed(make_sim: Any) -> None:
    sim = make_sim(bus=Bus(maxsize=5))
    async with connect(sim.url()) as ws:
        await subscribe(ws, "market_trades", ["BTC-USD"])

        def burst() -> None:  # 20 trades before the connection's pump can run
            for i in range(20):
                sim.state.advance(MarketTrade("BTC-USD", D(100 + i), D("0.1"), time.time_ns()))

        sim.server.call(burst)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "slow consumer" in closed.value.rcvd.reason
    assert sim.server.call(lambda: sim.state.bus.subscribers) == 0


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_is_dropped(make_sim: Any) -> None:
    # Its pump blocks in a send once the socket buffers fill; the watchdog sees the
    # overflowed bus queue and ends the connection.
    sim = make_sim(bus=Bus(maxsize=200))
    path = PricePath("BTC-USD", D("60000"), 1_000_000, seed=1)
    market: list[Market] = []
    async with connect(sim.url(), max_queue=1, close_timeout=0.2) as ws:
        for channel in ("level2", "market_trades", "ticker"):
            await subscribe(ws, channel, ["BTC-USD"])
        start = Market(sim.state, {"BTC-USD": path}, None, yield_every=1).start
        sim.server.call(lambda: market.append(start()))
        deadline = time.monotonic() + 30  # bounded; generous for a loaded machine
        while sim.server.call(lambda: sim.state.bus.subscribers):
            assert time.monotonic() < deadline, "a stuck client was never dropped"
            await asyncio.sleep(0.05)
        sim.server.call(market[0].stop)


# ----------------------------------------------------------------------- faults


async def _numbers(sim: Sim, faults: dict[str, Any], trades: int = 40) -> list[int]:
    sim.server.call(sim.state.faults.update, faults)
    async with connect(sim.url()) as ws:
        await ws.send(
            json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "ticker"})
        )
        await asyncio.sleep(0.05)
        for i in range(trades):
            sim.trade(f"{100 + i}.00")  # one call each: one ticker message each
        got = await quiet(ws, 0.25)
    return [m["sequence_num"] for m in got]


def _steps(numbers: list[int]) -> set[int]:
    return {b - a for a, b in itertools.pairwise(numbers)}


@pytest.mark.asyncio
async def test_sequence_faults_appear_only_when_switched_on(sim: Sim) -> None:
    # Under load the ticker coalesces trades, so counts vary; the steps do not.
    clean = await _numbers(sim, {})
    assert clean[0] == 0 and _steps(clean) == {1} and len(clean) > 10

    skipped = await _numbers(sim, {"ws_skip_seq": 0.3})
    assert _steps(skipped) == {1, 2}

    sim.server.call(sim.state.faults.update, {"ws_skip_seq": 0.0})
    duplicated = await _numbers(sim, {"ws_dup_seq": 0.3})
    assert _steps(duplicated) == {0, 1} and duplicated[0] == 0

    sim.server.call(sim.state.faults.update, {"ws_dup_seq": 0.0})
    dropped = await _numbers(sim, {"ws_drop_rate": 0.3})
    assert 1 in _steps(dropped) and max(_steps(dropped)) > 1 and min(_steps(dropped)) >= 1

    sim.server.call(sim.state.faults.update, {"ws_drop_rate": 0.0})
    again = await _numbers(sim, {})
    assert again[0] == 0 and _steps(again) == {1}


@pytest.mark.asyncio
async def test_ws_drop_after_closes_the_connection(sim: Sim) -> None:
    sim.server.call(sim.state.faults.update, {"ws_drop_after": 3})
    async with connect(sim.url()) as ws:
        await ws.send(json.dumps({"type": "subscribe", "product_ids": [], "channel": "heartbeats"}))
        got = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                got.append(await recv(ws))
    assert [m["sequence_num"] for m in got] == [0, 1, 2]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


# ----------------------------------------------------------------- with a market


@pytest.mark.asyncio
async def test_the_market_driver_feeds_subscribers_at_max_speed(sim: Sim) -> None:
    trades = [
        MarketTrade("BTC-USD", D(100) + D(i % 7), D("0.01"), i * 1_000_000_000) for i in range(3000)
    ]
    market: list[Market] = []
    async with connect(sim.url()) as ws:
        await subscribe(ws, "market_trades", ["BTC-USD"])
        await subscribe(ws, "ticker", ["BTC-USD"])
        sim.server.call(lambda: market.append(Market(sim.state, {"BTC-USD": trades}, None).start()))
        got = await recv_until(
            ws,
            lambda m: (
                m["channel"] == "market_trades"
                and m["events"][0]["trades"][0]["trade_id"] == "3000"
            ),
            timeout=10,
        )
    batches = [m["events"][0]["trades"] for m in channel_of(got, "market_trades")]
    ids = [t["trade_id"] for b in batches for t in reversed(b)]  # each newest first
    assert ids == [str(i) for i in range(1, 3001)]
    assert any(len(b) > 1 for b in batches)  # at max speed trades come batched
    for b in batches:
        assert [int(t["trade_id"]) for t in b] == sorted(
            (int(t["trade_id"]) for t in b), reverse=True
        )
    assert [m["sequence_num"] for m in got] == list(
        range(got[0]["sequence_num"], got[-1]["sequence_num"] + 1)
    )
    assert market[0].stats.trades == 3000


def test_rfc3339nano_trims_like_go() -> None:
    assert rfc3339nano(0) == "1970-01-01T00:00:00Z"
    assert rfc3339nano(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert rfc3339nano(1_704_067_200_123_456_789) == "2024-01-01T00:00:00.123456789Z"
