"""SimServer: loopback binding, TLS, persistence, rate limits, faults, admin, CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest
from helpers.simhelp import Api

from tradekit.cli import build_parser
from tradekit.core.events import MarketTrade
from tradekit.sim.admin import is_loopback
from tradekit.sim.app import create_app
from tradekit.sim.server import SimServer, make_state


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets LISTENing on `port`, as the kernel reports them."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            host, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port and len(host) == width:
                found.add(host)
    return found


def test_binds_to_loopback_only_by_default(sim: SimServer):
    assert sim.host_port == f"127.0.0.1:{sim.port}"
    assert sim.base_url == f"http://127.0.0.1:{sim.port}"
    assert sim.ws_url == f"ws://127.0.0.1:{sim.port}"
    if Path("/proc/net/tcp").exists():
        assert listening_addresses(sim.port) == {"0100007F"}  # 127.0.0.1, nothing else
    # reachable on loopback; the port is not served on another local address
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2):
        pass


def test_another_host_logs_a_loud_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tradekit.sim"):
        server = SimServer(host="0.0.0.0")
    try:
        assert "NOT on loopback" in caplog.text
        assert server.host_port == f"127.0.0.1:{server.port}"
    finally:
        server.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tradekit.sim"):
        SimServer().stop()
    assert "loopback" not in caplog.text


def test_stop_leaves_no_thread_and_call_hops_onto_the_loop():
    server = SimServer().start()
    trade = MarketTrade("BTC-USD", D("100.00"), D("1"), time.time_ns(), "t1")
    assert server.call(lambda st: st.advance(trade)) == []
    name = f"tradekit-sim-{server.port}"
    assert server.call(lambda st: threading.current_thread().name) == name
    assert server.call(lambda st: st.exchange.last_price("BTC-USD")) == D("100.00")
    server.stop()
    server.stop()  # twice is fine
    assert not any(t.name == name for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        server.call(lambda st: None)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/api/v3/brokerage/time")


def test_tls_is_verified_against_the_ca_file(make_sim):
    server = make_sim(tls=True)
    assert server.base_url.startswith("https://") and server.ws_url.startswith("wss://")
    assert server.ca_file is not None and server.ca_file.exists()
    url = f"{server.base_url}/api/v3/brokerage/time"
    trust = ssl.create_default_context(cafile=str(server.ca_file))
    assert httpx.get(url, verify=trust).status_code == 200
    assert httpx.get(url.replace("127.0.0.1", "localhost"), verify=trust).is_success
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url)  # the system's trust store does not know the simulator's CA
    api = Api(server)
    try:
        assert api.get("/accounts").status_code == 200  # JWT uri uses host:port, no scheme
    finally:
        api.close()


def strip_updated(accounts: list[dict]) -> list[dict]:
    return [{k: v for k, v in a.items() if k != "updated_at"} for a in accounts]


def test_a_restart_on_the_same_state_file_loses_nothing(make_sim, tmp_path: Path):
    state_path, keys = tmp_path / "sim.jsonl", tmp_path / "key.json"
    first = make_sim(state_path=state_path, keys_file=keys)
    api = Api(first)
    api.print_trade("60000.00")
    gtd = api.ok(
        "POST",
        "/orders",
        json={
            "client_order_id": "keep-gtd",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtd": {
                    "base_size": "0.1",
                    "limit_price": "59000.00",
                    "end_time": "2031-01-01T00:00:00Z",
                }
            },
        },
    )["order_id"]
    stop = api.stop_sell("keep-stop", "58000.00", "57000.00", size="0.5")["order_id"]
    filled = api.buy("keep-filled", "59500.00", size="0.2")["order_id"]
    api.print_trade("59500.00")  # fills the 59500 buy only
    assert api.ok(
        "POST", "/orders/edit", json={"order_id": gtd, "price": "58000.00", "size": "0.1"}
    )["success"]
    before = {oid: api.order(oid) for oid in (gtd, stop, filled)}
    accounts = api.ok("GET", "/accounts")["accounts"]
    fills = api.ok("GET", "/orders/historical/fills")["fills"]
    api.close()
    first.stop()

    second = make_sim(state_path=state_path, keys_file=keys)
    assert second.key_name == first.key_name
    api = Api(second)
    try:
        after = {oid: api.order(oid) for oid in (gtd, stop, filled)}
        assert after == before
        assert after[gtd]["time_in_force"] == "GOOD_UNTIL_DATE_TIME"
        assert len(after[gtd]["edit_history"]) == 1
        assert after[filled]["status"] == "FILLED"
        assert strip_updated(api.ok("GET", "/accounts")["accounts"]) == strip_updated(accounts)
        assert api.ok("GET", "/orders/historical/fills")["fills"] == fills
        # and it goes on trading: the stop still triggers and fills
        assert [f["order_id"] for f in api.print_trade("57500.00")] == [gtd, stop]
        new = api.buy("after-restart", "1000.00")["order_id"]
        assert new not in (gtd, stop, filled)
    finally:
        api.close()


def test_rate_limits_answer_429_then_recover(make_sim):
    server = make_sim(rate_limit_per_s=5, public_rate_limit_per_s=4)
    api = Api(server)
    try:
        statuses = [api.get("/accounts").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        r = api.get("/accounts")
        assert r.status_code == 429
        assert r.headers["x-ratelimit-limit"] == "5"
        assert r.headers["x-ratelimit-remaining"] == "0"
        reset = float(r.headers["x-ratelimit-reset"])
        assert 0 < reset <= 1.0
        assert r.json()["error"] == "RATE_LIMIT_EXCEEDED"
        time.sleep(0.25)  # one token back (5/s)
        ok = api.get("/accounts")
        assert ok.status_code == 200 and ok.headers["x-ratelimit-limit"] == "5"
        # public endpoints: per client IP, their own bucket
        public = [api.get("/time", auth=False).status_code for _ in range(5)]
        assert public == [200] * 4 + [429]
    finally:
        api.close()


def test_faults(make_sim):
    server = make_sim()
    api = Api(server)

    def faults(**changes) -> dict:
        r = api.client.post("/sim/admin/faults", json=changes)
        assert r.status_code == 200, r.text
        return r.json()

    try:
        assert faults(rest_error_rate=1.0)["rest_error_rate"] == 1.0
        r = api.get("/accounts")
        assert r.status_code == 500 and r.json()["error"] == "INTERNAL"
        assert api.get("/time", auth=False).status_code == 200  # public calls are spared
        faults(rest_error_rate=0)

        faults(lose_reply_rate=1.0, only="POST /orders")  # placements only
        r = api.post(
            "/orders",
            json={
                "client_order_id": "lost-reply",
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {
                    "limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}
                },
            },
        )
        assert r.status_code == 503 and r.json()["error"] == "UNAVAILABLE"
        # the client got 503, yet the order exists: the lookup gets through (`only`)
        listed = api.ok("GET", "/orders/historical/batch", params={"order_status": "OPEN"})
        assert [o["client_order_id"] for o in listed["orders"]] == ["lost-reply"]
        faults(lose_reply_rate=0, only=None)
        again = api.buy("lost-reply", "1000.00")  # re-sending the same id places nothing
        assert again["order_id"] == listed["orders"][0]["order_id"]
        r = api.client.post("/sim/admin/faults", json={"only": 5})
        assert r.status_code == 400

        faults(timeout_rate=1.0, timeout_s=0.2)
        t0 = time.monotonic()
        r = api.post("/orders/batch_cancel", json={"order_ids": [again["order_id"]]})
        assert r.status_code == 504 and time.monotonic() - t0 >= 0.2
        faults(timeout_rate=0, rest_delay_s=0.15)
        assert api.order(again["order_id"])["status"] == "OPEN"  # the timed-out cancel: not done
        t0 = time.monotonic()
        assert api.get("/accounts").status_code == 200
        assert time.monotonic() - t0 >= 0.15
        faults(rest_delay_s=0)

        r = api.client.post("/sim/admin/faults", json={"rest_error_rate": 2})
        assert r.status_code == 400 and "rest_error_rate" in r.json()["message"]
        r = api.client.post("/sim/admin/faults", json={"no_such_fault": 1})
        assert r.status_code == 400
        assert api.client.get("/sim/admin/faults").json()["rest_error_rate"] == 0
    finally:
        api.close()


def test_a_429_burst_is_rate_limiting_as_coinbase_answers_it(make_sim):
    """`rest_429_rate`: that fraction of authenticated calls is refused with 429 before
    anything is done, in Coinbase's error shape, with rate-limit headers that say no
    request is left (what a client slows down on); public calls and, with `only`, other
    endpoints are spared."""
    server = make_sim(rate_limit_per_s=30)
    api = Api(server)

    def faults(**changes: object) -> None:
        r = api.client.post("/sim/admin/faults", json=changes)
        assert r.status_code == 200, r.text

    try:
        faults(rest_429_rate=1.0)
        r = api.post(
            "/orders",
            json={
                "client_order_id": "in-the-burst",
                "product_id": "BTC-USD",
                "side": "BUY",
                "order_configuration": {
                    "limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}
                },
            },
        )
        assert r.status_code == 429
        assert r.json()["error"] == "RATE_LIMIT_EXCEEDED"
        assert r.headers["x-ratelimit-limit"] == "30"
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert 0 < float(r.headers["x-ratelimit-reset"]) <= 1.0
        assert api.get("/time", auth=False).status_code == 200
        faults(only="POST /orders")  # the burst on placements only: lookups get through
        listed = api.ok("GET", "/orders/historical/batch", params={"order_status": "OPEN"})
        assert listed["orders"] == []  # the refused placement did nothing
        faults(rest_429_rate=0.5, only=None)  # a fraction: some calls through, some not
        statuses = [api.get("/accounts").status_code for _ in range(20)]
        assert set(statuses) == {200, 429}
        faults(rest_429_rate=0)
        assert api.get("/accounts").status_code == 200
        assert server.state.faults_injected["rest_429_rate"] == 1 + statuses.count(429)
        r = api.client.post("/sim/admin/faults", json={"rest_429_rate": 1.5})
        assert r.status_code == 400 and "rest_429_rate" in r.json()["message"]
    finally:
        api.close()


def test_admin_endpoints(api: Api):
    state = api.client.get("/sim/admin/state").json()
    assert set(state) >= {"balances", "orders", "fills", "last_prices", "faults", "market_seq"}
    assert state["balances"]["USD"]["available"] == "100000"
    r = api.client.post("/sim/admin/price", json={"product_id": "NOPE", "price": "1"})
    assert r.status_code == 400
    r = api.client.post("/sim/admin/price", json={"product_id": "BTC-USD", "price": 1})
    assert r.status_code == 400
    r = api.client.post("/sim/admin/capabilities", json={"edit_stop_enabled": "yes"})
    assert r.status_code == 400
    r = api.client.post("/sim/admin/rate_limits", json={"rate_limit_per_s": 1000})
    assert r.json()["rate_limit_per_s"] == 1000.0
    api.client.post("/sim/admin/rate_limits", json={"rate_limit_per_s": 100_000})


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_the_admin_loopback_check(host, local):
    assert is_loopback(host) is local


def asgi_get(
    app, path: str, client: tuple[str, int], headers: list[tuple[bytes, bytes]] | None = None
) -> int:
    """The status of a GET sent straight to the ASGI app from `client` (no socket)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"sim"), *(headers or [])],
        "client": client,
        "server": ("127.0.0.1", 8765),
    }
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_admin_refuses_a_client_that_is_not_on_loopback():
    state = make_state()
    app = create_app(state)
    token = [(b"x-tradekit-admin-token", state.admin_token.encode())]
    assert asgi_get(app, "/sim/admin/state", ("192.168.1.20", 50000), token) == 403
    assert asgi_get(app, "/sim/admin/faults", ("::ffff:10.1.2.3", 50000), token) == 403
    assert asgi_get(app, "/sim/admin/state", ("127.0.0.1", 50000), token) == 200
    assert asgi_get(app, "/sim/admin/state", ("::1", 50000), token) == 200
    assert asgi_get(app, "/sim/admin/state", ("127.0.0.1", 50000)) == 403  # no token
    state.exchange.close()


def test_the_cli_has_sim_serve():
    args = build_parser().parse_args(
        ["sim", "serve", "--port", "0", "--tls", "--state", "x.jsonl", "--rate-limit", "50"]
    )
    assert (args.port, args.tls, args.state, args.rate_limit) == (0, True, "x.jsonl", 50.0)
    assert args.host == "127.0.0.1"
    assert build_parser().parse_args(["demo"]).command == "demo"  # still there


def test_python_m_tradekit_sim_serves_until_interrupted(tmp_path: Path):
    keys = tmp_path / "key.json"
    env = {**os.environ, "HOME": str(tmp_path)}  # the default ~/.tradekit lands in tmp
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradekit.sim",
            "--port",
            "0",
            "--keys-file",
            str(keys),
            "--no-market",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(lines)
        assert "SDK base_url 127.0.0.1:" in text, text
        base_url = text.split("REST", 1)[1].split()[0]
        assert httpx.get(f"{base_url}/time").status_code == 200
        assert keys.exists() and str(keys) in text
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_tls_files_are_reused_while_good_and_remade_when_not(tmp_path: Path):
    from tradekit.sim.tls import ensure_tls_files

    first = ensure_tls_files(tmp_path)
    ca = first.ca_file.read_bytes()
    assert oct(first.key_file.stat().st_mode & 0o777) == "0o600"
    assert ensure_tls_files(tmp_path).ca_file.read_bytes() == ca  # a restart keeps the CA
    first.cert_file.write_text("garbage")
    assert ensure_tls_files(tmp_path).ca_file.read_bytes() != ca  # broken: made anew
    ca = first.ca_file.read_bytes()
    assert ensure_tls_files(tmp_path, ["127.0.0.1", "sim.test"]).ca_file.read_bytes() != ca


def test_the_websocket_half_is_served_on_the_same_port(sim: SimServer):
    import json

    from websockets.sync.client import connect

    with connect(sim.ws_url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "subscribe", "channel": "heartbeats", "product_ids": []}))
        message = json.loads(ws.recv(timeout=5))
        assert "channel" in message and "sequence_num" in message


def test_the_admin_api_wants_its_token_json_and_no_foreign_origin(sim, api):
    """A web page in the user's browser can reach 127.0.0.1 but knows no token, and can
    only send a cross-site form or text/plain POST with its own Origin: all refused."""
    import httpx

    assert sim.admin_token_file is not None
    assert sim.admin_token_file.read_text().strip() == sim.admin_token
    assert sim.admin_token_file.stat().st_mode & 0o777 == 0o600
    assert sim.admin_token not in repr(sim) and sim.admin_token not in repr(sim.state)
    body = '{"product_id": "BTC-USD", "price": "1.00"}'
    with httpx.Client(base_url=sim.base_url) as bare:
        for headers in [
            {"Content-Type": "application/json"},  # no token
            {"Content-Type": "application/json", "X-Tradekit-Admin-Token": "guess"},
            {"Content-Type": "text/plain", "X-Tradekit-Admin-Token": sim.admin_token},
            {"X-Tradekit-Admin-Token": sim.admin_token},  # no content type
            {
                "Content-Type": "application/json",
                "X-Tradekit-Admin-Token": sim.admin_token,
                "Origin": "https://evil.example",
            },
        ]:
            r = bare.post("/sim/admin/price", content=body, headers=headers)
            assert r.status_code == 403, (headers, r.text)
            assert r.json()["error"] == "PERMISSION_DENIED"
        r = bare.get("/sim/admin/state", headers={"Origin": "http://localhost:1"})
        assert r.status_code == 403
    good = {"X-Tradekit-Admin-Token": sim.admin_token, "Origin": sim.base_url}
    r = api.client.post(
        "/sim/admin/price", content=body, headers={**good, "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    from tradekit.sim.auth import KeyFileExposed

    keys = tmp_path / "key.json"
    SimServer(keys_file=keys).state.exchange.close()  # written 0600
    keys.chmod(0o644)
    with pytest.raises(KeyFileExposed) as info:
        SimServer(keys_file=keys)
    assert str(keys) in str(info.value) and f"chmod 600 {keys}" in str(info.value)
    keys.chmod(0o600)
    token = keys.with_name(keys.name + ".admin-token")
    token.chmod(0o604)
    with pytest.raises(KeyFileExposed, match="chmod 600"):
        SimServer(keys_file=keys)


def test_the_default_fill_model_fills_by_what_trades_so_runs_see_partial_fills():
    """The simulator's default: a touched order fills by at most the printed size (an
    order larger than a print fills in parts), seeded like the market's sizes."""
    from decimal import Decimal

    from tradekit.core.events import MarketTrade
    from tradekit.core.orders import OrderStatus

    state = make_state()
    assert state.exchange.fill_model == "trade_size"
    res = state.place_limit_buy("big", "BTC-USD", Decimal("0.05"), Decimal("60000.00"))
    [fill] = state.advance(MarketTrade("BTC-USD", Decimal("59990.00"), Decimal("0.02"), 1, "t1"))
    assert fill.size == Decimal("0.02")
    order = state.exchange.get_order(res.order_id)
    assert order.status is OrderStatus.OPEN and order.filled_size == Decimal("0.02")
    state.advance(MarketTrade("BTC-USD", Decimal("59980.00"), Decimal("1"), 2, "t2"))
    order = state.exchange.get_order(res.order_id)
    assert order.status is OrderStatus.FILLED and order.filled_size == Decimal("0.05")
    assert make_state(fill_model="full").exchange.fill_model == "full"
