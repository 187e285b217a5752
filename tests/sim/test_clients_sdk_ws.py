"""The official SDK's WebSocket clients (`WSClient`, `WSUserClient`) against the simulator.

coinbase-advanced-py 1.8.4 (its newest release) pins websockets<14: its WSClient calls
the legacy `websockets.connect(..., extra_headers=...)` and reads `.open`, which
websockets 14+ (tradekit's floor) no longer offer there. So the SDK runs unmodified in a
child process whose path puts the websockets it wants first (`make` installs it into
`.venv/sdk-websockets`), while this process and tradekit keep websockets>=14. The SDK
connects with a bare `ssl.SSLContext()` (no certificate check, as it does on Coinbase),
so only its URLs change. The child subscribes, prints the trades and fills it is told
to (through the admin API), and reports what each channel delivered as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradekit.core.events import MarketTrade
from tradekit.sim.server import SimServer

SDK_WEBSOCKETS = Path(sys.prefix) / "sdk-websockets"

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import requests, websockets
    from coinbase.rest import RESTClient
    from coinbase.websocket import WSClient, WSUserClient

    key_file, host_port, ca_file, admin_token = sys.argv[1:5]
    seen = {}

    def on_message(text):
        msg = json.loads(text)
        seen.setdefault(msg["channel"], []).append(msg)

    def admin_trade(price, size, product="BTC-USD"):
        r = requests.post(
            f"https://{host_port}/sim/admin/price",
            json={"product_id": product, "price": price, "size": size},
            headers={"X-Tradekit-Admin-Token": admin_token},
            verify=ca_file,
            timeout=5,
        )
        r.raise_for_status()

    def wait_for(predicate, what):
        for _ in range(300):  # bounded: 15 s (generous for a loaded machine)
            if predicate():
                return
            time.sleep(0.05)
        raise SystemExit(f"timed out waiting for {what}: {sorted(seen)}")

    market = WSClient(key_file=key_file, base_url=f"wss://{host_port}", on_message=on_message)
    user = WSUserClient(key_file=key_file, base_url=f"wss://{host_port}/ws/user",
                        on_message=on_message)
    rest = RESTClient(key_file=key_file, base_url=host_port)
    market.open()
    user.open()
    market.subscribe(["BTC-USD"], ["ticker", "market_trades", "level2", "heartbeats"])
    user.subscribe(["BTC-USD"], ["user"])
    wait_for(lambda: {"ticker", "market_trades", "l2_data", "user"} <= set(seen), "snapshots")
    placed = rest.limit_order_gtc_buy("sdk-ws-1", "BTC-USD", base_size="0.01",
                                      limit_price="59000.00")
    order_id = placed.success_response["order_id"]
    admin_trade("58990.00", "1")

    def filled():
        for msg in seen.get("user", []):
            for event in msg["events"]:
                for o in event.get("orders", []):
                    if o["order_id"] == order_id and o["status"] == "FILLED":
                        return True
        return False

    wait_for(filled, "the fill on the user channel")
    wait_for(lambda: len(seen.get("heartbeats", [])) >= 1, "a heartbeat")
    market.close()
    user.close()
    trades = [t for m in seen["market_trades"] for e in m["events"] for t in e["trades"]]
    tickers = [t for m in seen["ticker"] for e in m["events"] for t in e["tickers"]]
    levels = [u for m in seen["l2_data"] for e in m["events"] for u in e["updates"]]
    print(json.dumps({
        "websockets": websockets.__version__,
        "order_id": order_id,
        "trade_prices": [t["price"] for t in trades],
        "ticker_prices": [t["price"] for t in tickers],
        "l2_sides": sorted({u["side"] for u in levels}),
        "user_statuses": [o["status"] for m in seen["user"] for e in m["events"]
                          for o in e.get("orders", []) if o["order_id"] == order_id],
    }))
    """
)


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    keys = tmp_path_factory.mktemp("sdkws") / "cdp_api_key.json"
    with SimServer(tls=True, keys_file=keys, rate_limit_per_s=1000) as server:
        yield server


def test_the_sdk_websocket_clients_stream_market_data_and_fills(tls_sim: SimServer):
    assert (SDK_WEBSOCKETS / "websockets").is_dir(), "run `make .venv/.installed-stamp`"
    tls_sim.call(lambda st: st.advance(MarketTrade("BTC-USD", D("60000.00"), D(1), st.now())))
    env = {
        "PYTHONPATH": str(SDK_WEBSOCKETS),
        "PATH": "/usr/bin:/bin",
        "REQUESTS_CA_BUNDLE": str(tls_sim.ca_file),  # the SDK's REST client, via requests
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tls_sim.keys_file),
            tls_sim.host_port,
            str(tls_sim.ca_file),
            tls_sim.admin_token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["websockets"].startswith(("12.", "13."))
    assert report["trade_prices"][:1] == ["60000.00"] and "58990.00" in report["trade_prices"]
    assert "60000.00" in report["ticker_prices"] and "58990.00" in report["ticker_prices"]
    assert report["l2_sides"] == ["bid", "offer"]
    assert report["user_statuses"][0] == "OPEN" and report["user_statuses"][-1] == "FILLED"
