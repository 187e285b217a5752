"""The Coinbase adapters over real sockets against `tradekit sim`: one suite, run on the
sync (generated) and the async (source) adapter alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from tradekit.core.events import MarketTrade
from tradekit.core.orders import OrderStatus, OrderType
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.common import AuthenticationError, RetryPolicy
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.server import SimServer

FAST = 100_000.0
BTC = "BTC-USD"


class Flavor:
    """Calls an adapter the same way whether it is sync or async."""

    def __init__(self, name: str, adapter: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.name, self.adapter, self.loop = name, adapter, loop

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.adapter, method)(*args, **kwargs)
        if self.loop is not None:
            return self.loop.run_until_complete(result)
        return result

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.adapter.aclose())
            self.loop.close()
        else:
            self.adapter.close()


def make_flavor(name: str, sim: SimServer, creds: Credentials | None, **kw: Any) -> Flavor:
    kw.setdefault("retry", RetryPolicy(attempts=8, base_delay_s=0.01, max_delay_s=0.2))
    if name == "sync":
        return Flavor(name, CoinbaseRest(creds, sim.base_url, **kw), None)
    loop = asyncio.new_event_loop()
    return Flavor(name, AsyncCoinbaseRest(creds, sim.base_url, **kw), loop)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    keys = tmp_path_factory.mktemp("sim") / "key.json"
    with SimServer(keys_file=keys, rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as s:
        yield s


@pytest.fixture(scope="module")
def creds(sim: SimServer) -> Credentials:
    assert sim.keys_file is not None
    return Credentials.from_file(sim.keys_file)


@pytest.fixture(params=["sync", "async"])
def ex(request: pytest.FixtureRequest, sim: SimServer, creds: Credentials) -> Iterator[Flavor]:
    flavor = make_flavor(request.param, sim, creds)
    yield flavor
    flavor.close()
    sim.call(lambda st: st.faults.update({k: 0.0 for k in ("lose_reply_rate", "rest_error_rate")}))


def tls_sim(tmp_path: Any) -> SimServer:
    """A simulator over TLS (its CA and key file under `tmp_path`), not yet started."""
    return SimServer(
        tls=True,
        keys_file=tmp_path / "k.json",
        tls_dir=tmp_path / "tls",
        rate_limit_per_s=FAST,
        public_rate_limit_per_s=FAST,
    )


def print_trade(sim: SimServer, price: str, product: str = BTC) -> None:
    ts = sim.call(lambda st: st.now())
    trade = MarketTrade(product, D(price), D("1"), ts, "")
    sim.call(lambda st: st.advance(trade))


def coid(ex: Flavor, tag: str) -> str:
    return f"test-{ex.name}-{tag}-{id(ex)}"


def test_place_query_list_cancel(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    c = coid(ex, "buy")
    res = ex("place_limit_buy", c, BTC, D("0.001"), D("50000.00"))
    assert res.success and res.order_id
    by_id = ex("get_order", res.order_id)
    by_coid = ex("get_order_by_client_id", c)
    assert by_id == by_coid
    assert by_id.status is OrderStatus.OPEN and by_id.order_type is OrderType.LIMIT
    assert (by_id.size, by_id.limit_price) == (D("0.001"), D("50000.00"))
    assert c in {o.client_order_id for o in ex("list_open_orders", BTC)}
    again = ex("place_limit_buy", c, BTC, D("0.001"), D("50000.00"))
    assert again.order_id == res.order_id  # same client_order_id: the same order
    cancelled = ex("cancel_order", res.order_id)
    assert cancelled.success
    assert ex("get_order", res.order_id).status is OrderStatus.CANCELLED
    refused = ex("cancel_order", res.order_id)
    assert not refused.success and refused.failure_reason


def test_fills_balances_and_products(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    before = ex("balances")["USD"].total
    res = ex("place_limit_buy", coid(ex, "fill"), BTC, D("0.001"), D("59000.00"))
    print_trade(sim, "58999.00")
    order = ex("get_order", res.order_id)
    assert order.status is OrderStatus.FILLED and order.filled_size == D("0.001")
    [fill] = ex("list_fills", order_id=res.order_id)
    assert fill.price == D("59000.00") and fill.size == D("0.001")
    assert ex("balances")["USD"].total == before - D("59") - fill.commission
    spec = ex("product", BTC)
    assert spec.quote_increment == D("0.01") and spec.base_increment == D("0.00000001")


def test_a_second_sell_of_held_funds_is_refused(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    btc = ex("balances")["BTC"].available
    first = ex("place_stop_limit", coid(ex, "s1"), BTC, btc, D("55000.00"), D("54900.00"))
    assert first.success
    second = ex("place_stop_limit", coid(ex, "s2"), BTC, btc, D("56000.00"), D("55900.00"))
    assert not second.success and second.failure_reason == "INSUFFICIENT_FUND"
    assert ex("cancel_order", first.order_id).success


def test_a_stop_rests_triggers_and_fills(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    res = ex("place_stop_limit", coid(ex, "stop"), BTC, D("0.01"), D("59000.00"), D("58900.00"))
    o = ex("get_order", res.order_id)
    assert o.order_type is OrderType.STOP_LIMIT and not o.triggered
    print_trade(sim, "58800.00")  # through the limit: triggered, unfilled
    o = ex("get_order", res.order_id)
    assert o.triggered and o.status is OrderStatus.OPEN and o.filled_size == 0
    print_trade(sim, "58950.00")
    o = ex("get_order", res.order_id)
    assert o.status is OrderStatus.FILLED and o.filled_size == D("0.01")


def test_bad_key_is_refused(ex: Flavor, sim: SimServer) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    stranger = make_flavor(ex.name, sim, Credentials(sim.key_name, pem))
    try:
        with pytest.raises(AuthenticationError, match="401"):
            stranger("balances")
    finally:
        stranger.close()


def test_a_burst_past_the_limit_is_spread_not_refused(tmp_path) -> None:
    """Sync and async adapters of one key share its pacer: 40 calls at a 20/s server meet
    no 429 (the pacer follows the limit the server announces)."""
    with SimServer(
        keys_file=tmp_path / "key.json", rate_limit_per_s=20.0, public_rate_limit_per_s=FAST
    ) as slow:
        assert slow.keys_file is not None
        key = Credentials.from_file(slow.keys_file)
        flavors = [make_flavor(name, slow, key) for name in ("sync", "async")]
        try:
            for i in range(40):  # twice the limit in a burst, alternating adapters
                assert "USD" in flavors[i % 2]("balances")
            assert [f.adapter.stats["retries"] for f in flavors] == [0, 0]  # never refused
            assert sum(f.adapter.paced_s for f in flavors) > 0.5  # spread instead
        finally:
            for flavor in flavors:
                flavor.close()


@pytest.mark.parametrize("name", ["sync", "async"])
def test_a_429_from_another_client_of_the_key_is_backed_off(tmp_path, name: str) -> None:
    """Another program spending the same key's budget: the server's 429 is waited out."""
    import httpx

    with SimServer(
        keys_file=tmp_path / "key.json", rate_limit_per_s=2.0, public_rate_limit_per_s=FAST
    ) as slow:
        assert slow.keys_file is not None
        key = Credentials.from_file(slow.keys_file)  # a new key: a pacer of its own
        path = "/api/v3/brokerage/accounts"
        flavor = make_flavor(name, slow, key)
        try:
            with httpx.Client(base_url=slow.base_url) as other:
                for _ in range(100):  # bounded: until the server refuses
                    token = key.rest_jwt("GET", slow.host_port, path)
                    r = other.get(path, headers={"Authorization": f"Bearer {token}"})
                    if r.status_code == 429:
                        break
                assert r.status_code == 429
            assert "USD" in flavor("balances")
            assert flavor.adapter.stats["retries"] > 0  # it met the 429 and backed off
        finally:
            flavor.close()


def test_a_lost_placement_reply_is_found_not_placed_twice(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    c = coid(ex, "lost")
    sim.call(lambda st: st.faults.update({"lose_reply_rate": 1.0, "only": "POST /orders"}))
    try:
        res = ex("place_limit_buy", c, BTC, D("0.001"), D("50000.00"))
    finally:
        sim.call(lambda st: st.faults.update({"lose_reply_rate": 0.0, "only": None}))
    assert res.success and res.order_id
    same = [o for o in ex("list_open_orders", BTC) if o.client_order_id == c]
    assert len(same) == 1 and same[0].order_id == res.order_id
    ex("cancel_order", res.order_id)


def test_5xx_on_reads_is_retried(ex: Flavor, sim: SimServer) -> None:
    sim.call(lambda st: st.faults.update({"rest_error_rate": 0.5}))
    try:
        for _ in range(10):
            assert "USD" in ex("balances")
    finally:
        sim.call(lambda st: st.faults.update({"rest_error_rate": 0.0}))
    assert ex.adapter.stats["retries"] > 0


def test_secret_never_reaches_logs_reprs_or_errors(
    sim: SimServer, creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    secret_lines = [ln for ln in sim.private_key_pem.splitlines() if "-----" not in ln]
    with caplog.at_level(logging.DEBUG):
        flavor = make_flavor("sync", sim, creds)
        texts = [repr(flavor.adapter), str(flavor.adapter), repr(creds)]
        flavor("balances")
        try:
            flavor("get_order", "no-such-order")
        except Exception as exc:
            texts.append(str(exc))
        flavor.close()
    texts.append(caplog.text)
    for text in texts:
        for line in secret_lines:
            assert line not in text


def test_a_limit_sell_goes_through(ex: Flavor, sim: SimServer) -> None:
    print_trade(sim, "60000.00")
    res = ex("place_limit_sell", coid(ex, "sell"), BTC, D("0.001"), D("61000.00"))
    assert res.success
    o = ex("get_order", res.order_id)
    assert o.side.value == "SELL" and o.order_type is OrderType.LIMIT
    print_trade(sim, "61000.00")
    assert ex("get_order", res.order_id).status is OrderStatus.FILLED


def test_tls_is_verified_and_the_simulator_trusted_only_when_told(tmp_path: Any) -> None:
    from tradekit.exchange.types import ExchangeError

    with tls_sim(tmp_path) as s:
        creds = Credentials.from_file(tmp_path / "k.json")
        for name in ("sync", "async"):
            trusted = make_flavor(name, s, creds, ca_file=str(s.ca_file))
            try:
                assert s.base_url.startswith("https://") and "USD" in trusted("balances")
            finally:
                trusted.close()
            default = make_flavor(name, s, creds)  # the system's trust store only
            try:
                with pytest.raises(ExchangeError, match="not trusted"):
                    default("balances")
            finally:
                default.close()


class ConnectProxy:
    """A loopback HTTP proxy that serves CONNECT tunnels only, and records each target."""

    def __init__(self) -> None:
        import socket
        import threading

        self.targets: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, client: Any) -> None:
        import socket
        import threading

        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target = head.split(b" ")[:2]
        if method != b"CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            client.close()
            return
        self.targets.append(target.decode())
        host, port = target.decode().rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(src: Any, dst: Any) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("name", ["sync", "async"])
def test_the_proxy_the_environment_names_is_used_unless_no_proxy_exempts_the_host(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """HTTPS_PROXY (as httpx honoured it): the adapter tunnels through the proxy with
    CONNECT; NO_PROXY naming the host goes direct."""
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    proxy = ConnectProxy()
    with tls_sim(tmp_path) as s:
        creds = Credentials.from_file(tmp_path / "k.json")
        try:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            through = make_flavor(name, s, creds, ca_file=str(s.ca_file))
            try:
                assert "USD" in through("balances")
                assert through("server_time_ns") > 0
            finally:
                through.close()
            assert proxy.targets and set(proxy.targets) == {s.host_port}

            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            seen = len(proxy.targets)
            direct = make_flavor(name, s, creds, ca_file=str(s.ca_file))
            try:
                assert "USD" in direct("balances")
            finally:
                direct.close()
            assert len(proxy.targets) == seen
        finally:
            proxy.close()
