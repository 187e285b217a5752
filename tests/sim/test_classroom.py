"""The classroom mode: 30 students on one seeded market, over real sockets.

Each student trades with tradekit's own REST adapter and their own key file. Checked:
each account equals a solo paper run of the same ticks and the same requests (replayed
from the session's recording on a fresh paper exchange); a student's key gets "not found"
for another's order; the leaderboard equals figures computed here from the recording;
a pause freezes every student's trade feed, and resume thaws it.
"""

from __future__ import annotations

import json
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tradekit.core.orders import OrderSide
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.sim.admin import ADMIN_TOKEN_HEADER
from tradekit.sim.classroom import Classroom, ClassroomServer
from tradekit.sim.recording import read_recording
from tradekit.sim.server import DEFAULT_BALANCES
from tradekit.teaching import load

STUDENTS = 30
PID = "BTC-USD"


@pytest.fixture
def room(tmp_path: Path) -> Any:
    # a short path at a high speed: 400 one-second ticks in about 4 s
    scenario = replace(load("calm-trend"), ticks=400)
    classroom = Classroom(STUDENTS, tmp_path / "keys", scenario=scenario, speed=100.0)
    with ClassroomServer(classroom) as server:
        yield classroom, server


def moderator(server: ClassroomServer, room: Classroom, action: str, **body: Any) -> Any:
    headers = {ADMIN_TOKEN_HEADER: room.moderator_token}
    url = f"{server.base_url}/sim/classroom/{action}"
    if action in ("leaderboard", "state"):
        r = httpx.get(url, headers=headers)
    else:
        r = httpx.post(url, headers=headers, json=body)
    r.raise_for_status()
    return r.json()


def trade_like_a_student(client: CoinbaseRest, n: int) -> dict[str, Any]:
    """Buy a little at the market's last price, then rest a stop under it (moved once),
    and a limit buy far under the market that never fills."""
    last = client.market_trades(PID, 1)[0].price
    size = Decimal("0.001") * (1 + n % 3)
    buy = client.place_limit_buy(f"buy-{n}", PID, size, last + 50)
    assert buy.success, buy
    cent = Decimal("0.01")
    stop = client.place_stop_limit(
        f"stop-{n}",
        PID,
        size,
        (last * Decimal("0.99")).quantize(cent),
        (last * Decimal("0.985")).quantize(cent),
    )
    far = client.place_limit_buy(
        f"far-{n}", PID, Decimal("0.001"), (last / 2).quantize(Decimal("0.01"))
    )
    # refused: a sell stop above the last trade triggers at once
    high = client.place_stop_limit(f"high-{n}", PID, size, last * 2, last * 2)
    if n % 2 and stop.success:
        client.cancel_order(stop.order_id)
        client.place_stop_limit(
            f"stop2-{n}",
            PID,
            size,
            (last * Decimal("0.995")).quantize(Decimal("0.01")),
            (last * Decimal("0.99")).quantize(Decimal("0.01")),
        )
    return {"far": far.order_id, "refused": not high.success}


def test_thirty_students_on_one_market(room: Any) -> None:
    classroom, server = room
    keys = classroom.keys_dir
    files = sorted(p.name for p in keys.iterdir() if p.name != "session.jsonl")
    assert files == ["moderator-token", *[f"student-{i:02d}.json" for i in range(1, 31)]]
    for p in keys.iterdir():
        if p.name != "session.jsonl":
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
            assert classroom.moderator_token not in (p.read_text() if p.suffix == ".json" else "")
    clients = {
        s: CoinbaseRest(Credentials.from_file(f), server.base_url)
        for s, f in classroom.key_files.items()
    }
    names = list(clients)
    with ThreadPoolExecutor(STUDENTS) as pool:
        outcomes = dict(
            zip(
                names,
                pool.map(trade_like_a_student, clients.values(), range(STUDENTS)),
                strict=True,
            )
        )
    assert all(o["refused"] for o in outcomes.values())

    # a key never sees another student's order
    a, b = names[0], names[1]
    b_order = outcomes[b]["far"]
    assert clients[b].get_order(b_order) is not None
    assert clients[a].get_order(b_order) is None
    assert not clients[a].cancel_order(b_order).success
    assert clients[b].get_order(b_order).status.value == "OPEN"  # type: ignore[union-attr]

    deadline = time.monotonic() + 30
    while not classroom.market.stats.finished:
        assert time.monotonic() < deadline, "the market did not finish its 400 ticks"
        time.sleep(0.05)
    board = moderator(server, classroom, "leaderboard")
    server.call(lambda _: classroom.recorder.flush())
    events = list(read_recording(classroom.recorder.path))

    # every account equals a solo paper run of the same ticks and requests
    for student, state in classroom.students.items():
        solo = replay_alone(events, student)
        assert solo.balances() == state.exchange.balances(), student
        assert _fills(solo) == _fills(state.exchange), student
        assert _fills(solo), f"{student} traded"

    # the leaderboard equals figures computed here from the recording
    mine = independent_figures(events)
    rows = {r["student"]: r for r in board["students"]}
    assert set(rows) == set(names)
    for student in names:
        got, want = rows[student], mine[student]
        assert Decimal(got["pnl_exact"]) == want["pnl"], student
        assert got["refused"] == want["refused"] == 1, student
        assert got["requests"] == want["requests"], student
        assert got["positions"] == want["positions"] == 1, student
        assert got["unprotected_s"] == round(want["unprotected_ns"] / 1e9, 3), student
    assert board["by_pnl"] == sorted(names, key=lambda s: (-mine[s]["pnl"], s))


def replay_alone(events: list[dict[str, Any]], student: str) -> PaperExchange:
    """A fresh paper account fed the session's trades and only this student's requests."""
    ex = PaperExchange(
        DEFAULT_PRODUCTS, DEFAULT_BALANCES, id_seed=f"class-{student}", fill_model="trade_size"
    )
    for ev in events:
        if ev["kind"] == "trade":
            ex.advance(_trade(ev))
        elif ev.get("student") != student:
            continue
        elif ev["kind"] == "order":
            args = dict(ev["args"])
            for k in ("size", "limit_price", "stop_price", "base_size", "quote_size"):
                if args.get(k) is not None:
                    args[k] = Decimal(args[k])
            if "side" in args:
                args["side"] = OrderSide(args["side"])
            getattr(ex, ev["call"])(**args)
        elif ev["kind"] == "cancel":
            ex.cancel_order(ev["order_id"])
    return ex


def _trade(ev: dict[str, Any]) -> Any:
    from tradekit.core.events import MarketTrade

    return MarketTrade(
        ev["product_id"], Decimal(ev["price"]), Decimal(ev["size"]), ev["ts"], ev["trade_id"]
    )


def _fills(ex: PaperExchange) -> list[tuple[str, Decimal, Decimal]]:
    return sorted((f.order_id, f.price, f.size) for f in ex.list_fills())


def independent_figures(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """P&L, refusals, requests, positions and time held without a stop, from the file."""
    out: dict[str, dict[str, Any]] = {}
    last = Decimal(0)
    stops: dict[str, dict[str, Decimal]] = {}
    for ev in events:
        if ev["kind"] == "start":
            for s in ev["students"]:
                out[s] = {
                    "pnl": Decimal(0),
                    "held": Decimal(0),
                    "refused": 0,
                    "requests": 0,
                    "positions": 0,
                    "unprotected_ns": 0,
                    "naked_since": None,
                }
                stops[s] = {}
            continue
        if ev["kind"] == "trade":
            last = Decimal(ev["price"])
            continue
        s = ev.get("student")
        if s is None:
            continue
        fig = out[s]
        naked_before = fig["held"] > 0 and not stops[s]
        if ev["kind"] == "request":
            fig["requests"] += 1
        elif ev["kind"] == "order" and not ev["success"]:
            fig["refused"] += 1
        elif ev["kind"] == "order" and ev["call"] == "place_stop_limit":
            stops[s][ev["order_id"]] = Decimal(ev["args"]["size"])
        elif ev["kind"] == "cancel" and ev["success"]:
            stops[s].pop(ev["order_id"], None)
        elif ev["kind"] == "fill":
            size, price = Decimal(ev["size"]), Decimal(ev["price"])
            if ev["side"] == "BUY":
                fig["positions"] += fig["held"] == 0
                fig["held"] += size
                fig["pnl"] -= size * price + Decimal(ev["commission"])
            else:
                fig["held"] -= size
                fig["pnl"] += size * price - Decimal(ev["commission"])
            if ev["order_id"] in stops[s]:
                stops[s][ev["order_id"]] -= size
                if stops[s][ev["order_id"]] <= 0:
                    del stops[s][ev["order_id"]]
        naked_now = fig["held"] > 0 and not stops[s]
        if naked_now and not naked_before:
            fig["naked_since"] = ev["ts"]
        elif naked_before and not naked_now:
            fig["unprotected_ns"] += ev["ts"] - fig["naked_since"]
    end = max(ev["ts"] for ev in events)
    for s, fig in out.items():
        fig["pnl"] += fig["held"] * last  # marked at the last trade
        if fig["held"] > 0 and not stops[s]:  # still naked: counts until the end
            fig["unprotected_ns"] += end - fig["naked_since"]
    return out


def test_a_pause_freezes_every_feed(room: Any) -> None:
    classroom, server = room
    creds = {s: Credentials.from_file(f) for s, f in classroom.key_files.items()}
    latest: dict[str, int] = {s: 0 for s in creds}
    stop = threading.Event()

    def listen(student: str) -> None:
        with connect(server.ws_url, open_timeout=5) as ws:
            ws.send(
                json.dumps(
                    {
                        "type": "subscribe",
                        "product_ids": [PID],
                        "channel": "market_trades",
                        "jwt": creds[student].ws_jwt(),
                    }
                )
            )
            while not stop.is_set():
                try:
                    msg = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                for event in msg.get("events", []):
                    for t in event.get("trades", []):
                        latest[student] = max(latest[student], int(t["trade_id"]))

    threads = [threading.Thread(target=listen, args=(s,), daemon=True) for s in creds]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while min(latest.values()) < 5:
            assert time.monotonic() < deadline, "every student hears the market"
            time.sleep(0.02)
        paused = moderator(server, classroom, "pause")
        assert paused["paused"] is True
        frozen_at = paused["trades"]
        # at 100x a trade is due every ~10 ms: half a second would bring ~50 of them
        time.sleep(0.5)
        assert moderator(server, classroom, "state")["trades"] == frozen_at
        assert max(latest.values()) <= frozen_at
        assert moderator(server, classroom, "resume")["paused"] is False
        deadline = time.monotonic() + 20
        while min(latest.values()) <= frozen_at:
            assert time.monotonic() < deadline, "every feed thaws on resume"
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(5)


def test_the_moderator_needs_the_token_and_says_what_is_wrong(room: Any) -> None:
    classroom, server = room
    url = f"{server.base_url}/sim/classroom"
    assert httpx.get(f"{url}/leaderboard").status_code == 403
    assert (
        httpx.post(f"{url}/pause", headers={ADMIN_TOKEN_HEADER: "nope"}, json={}).status_code == 403
    )
    headers = {ADMIN_TOKEN_HEADER: classroom.moderator_token}
    r = httpx.post(f"{url}/speed", headers=headers, json={"speed": "fast"})
    assert r.status_code == 400 and "speed 'fast'" in r.json()["message"]
    r = httpx.post(f"{url}/inject", headers=headers, json={"kind": "meteor"})
    assert r.status_code == 400 and "unknown injection 'meteor'" in r.json()["message"]
    assert httpx.get(f"{server.base_url}/sim/admin/state", headers=headers).status_code == 404


def test_tradekit_sim_serve_roster_writes_the_class_keys(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    keys = tmp_path / "keys"
    cmd = [sys.executable, "-m", "tradekit.cli", "sim", "serve", "--roster", "3"]
    cmd += ["--keys-dir", str(keys), "--port", "0", "--speed", "10x"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops."):
                break
        out = "".join(lines)
        assert "a classroom of 3 on http://127.0.0.1:" in out, out
        for i in (1, 2, 3):
            key = keys / f"student-0{i}.json"
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
            assert set(json.loads(key.read_text())) == {"name", "privateKey"}
        token = (keys / "moderator-token").read_text().strip()
        assert stat.S_IMODE((keys / "moderator-token").stat().st_mode) == 0o600
        assert token and token not in out  # the token stays in its file
        base = out.split(" on ", 1)[1].split()[0]
        state = httpx.get(f"{base}/sim/classroom/state", headers={ADMIN_TOKEN_HEADER: token})
        assert state.json()["students"] == 3
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0


def test_the_moderator_panel_drives_the_class(room: Any) -> None:
    from tradekit.teaching.panel import ModeratorPanel

    classroom, server = room
    panel = ModeratorPanel(server.base_url, token_file=classroom.token_file)
    try:
        assert classroom.moderator_token not in repr(panel)
        panel.buttons["pause"].click()
        assert classroom.market.paused and "paused" in panel.status.value
        panel.speed.value = "50x"
        assert classroom.speed == 50.0
        panel.buttons["rate_limit_burst"].click()
        assert all(s.faults.rest_429_rate == 1.0 for s in classroom.students.values())
        panel.buttons["resume"].click()
        assert not classroom.market.paused
        panel.buttons["refresh"].click()
        assert "By P&amp;L" in panel.board.value and "student-30" in panel.board.value
    finally:
        panel.close()


def test_gap_drop_burst_and_reset(room: Any) -> None:
    classroom, server = room
    cred = Credentials.from_file(classroom.key_files["student-05"])
    client = CoinbaseRest(cred, server.base_url)
    order = client.place_limit_buy("x", PID, Decimal("0.001"), Decimal("100.00"))
    assert order.success

    # a gap: every later price is 2% under the scenario's own path
    moderator(server, classroom, "pause")
    path = classroom.scenario.trades()
    done = classroom.market.stats.trades
    moderator(server, classroom, "inject", kind="gap", pct="-0.02")
    moderator(server, classroom, "resume")
    deadline = time.monotonic() + 10
    while classroom.market.stats.trades < done + 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    moderator(server, classroom, "pause")
    printed = [e for e in classroom.recorder.events if e["kind"] == "trade"]
    after = printed[done + 1]
    expected = (path[done + 1].price * Decimal("0.98")).quantize(Decimal("0.01"))
    assert Decimal(after["price"]) == expected

    # a 429 burst answers every student request with 429 until it ends
    moderator(server, classroom, "inject", kind="rate_limit_burst", seconds=30)
    path_ = f"/api/v3/brokerage/orders/historical/{order.order_id}"
    token = cred.rest_jwt("GET", server.host_port, path_)
    r = httpx.get(f"{server.base_url}{path_}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 429 and r.json()["error"] == "RATE_LIMIT_EXCEEDED"

    # a WebSocket drop closes a connection at its next message
    moderator(server, classroom, "inject", kind="ws_drop", seconds=30)
    with connect(server.ws_url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "subscribe", "product_ids": [PID], "channel": "heartbeats"}))
        with pytest.raises(Exception, match="1011"):
            for _ in range(50):
                ws.recv(timeout=5)

    # reset: every account afresh, the market from its first tick, the faults gone
    moderator(server, classroom, "reset")
    assert all(s.faults.rest_429_rate == 0 for s in classroom.students.values())
    assert client.get_order(order.order_id) is None
    assert client.balances()["USD"].available == Decimal("100000")
    assert any(e["kind"] == "reset" for e in classroom.recorder.events)


def test_tradekits_own_feed_hears_only_its_students_orders(room: Any) -> None:
    """Two students' AsyncCoinbaseFeed (market trades and the user channel on one
    connection, as the engine uses it): both hear the market, only A hears A's order."""
    import asyncio

    from tradekit.core.events import MarketTrade as Trade
    from tradekit.core.events import OrderStatusReport
    from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed
    from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest

    classroom, server = room
    a_creds = Credentials.from_file(classroom.key_files["student-01"])
    b_creds = Credentials.from_file(classroom.key_files["student-02"])

    async def run() -> tuple[list[Any], list[Any]]:
        rest = AsyncCoinbaseRest(a_creds, server.base_url)
        feeds = [AsyncCoinbaseFeed(server.ws_url, [PID], c) for c in (a_creds, b_creds)]
        heard: tuple[list[Any], list[Any]] = ([], [])

        async def listen(i: int) -> None:
            async for ev in feeds[i].events():
                heard[i].append(ev)

        tasks = [asyncio.create_task(listen(i)) for i in (0, 1)]
        try:
            async with asyncio.timeout(20):
                while not all(any(isinstance(e, Trade) for e in h) for h in heard):
                    await asyncio.sleep(0.02)
                placed = await rest.place_limit_buy("mine", PID, Decimal("0.001"), Decimal("100"))
                assert placed.success
                while not any(isinstance(e, OrderStatusReport) for e in heard[0]):
                    await asyncio.sleep(0.02)
                seen_by_b = len(heard[1])
                while len(heard[1]) < seen_by_b + 5:  # B goes on hearing the market
                    await asyncio.sleep(0.02)
        finally:
            for t in tasks:
                t.cancel()
            for f in feeds:
                await f.close()
            await rest.aclose()
        return heard

    heard_a, heard_b = asyncio.run(run())
    reports = [e for e in heard_a if isinstance(e, OrderStatusReport)]
    assert {r.client_order_id for r in reports} == {"mine"}
    assert not [e for e in heard_b if isinstance(e, OrderStatusReport)]


@pytest.mark.parametrize("name", ["rate-limit-burst", "ws-drop", "stop-refused", "gap-through"])
def test_a_deck_scenario_drives_the_class_market(tmp_path: Path, name: str) -> None:
    """The same file as the exercises and the backtests: its trades, and its events fired
    at their ticks (recorded as the moderator's would be)."""
    scenario = load(name)
    room = Classroom(2, tmp_path / "keys", scenario=scenario, speed=None)
    with ClassroomServer(room):
        deadline = time.monotonic() + 30
        while not room.market.stats.finished:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    events = list(read_recording(room.recorder.path))
    prices = [Decimal(e["price"]) for e in events if e["kind"] == "trade"]
    path = [t.price for t in scenario.trades()]
    (event,) = [e for e in scenario.events]
    if event.kind == "print_in_flight":  # one extra print, pct away, before its tick
        assert prices[event.at] == (path[event.at] * (1 + event.pct)).quantize(Decimal("0.01"))
        assert prices[: event.at] + prices[event.at + 1 :] == path
    else:
        assert prices == path  # the gap is in the path itself
    injected = [e for e in events if e["kind"] == "control"]
    if event.kind in ("ws_drop", "rate_limit_burst"):
        (control,) = injected
        assert control["injected"] == event.kind
        before = [e for e in events if e["kind"] == "trade" and e["seq"] < control["seq"]]
        assert len(before) == event.at  # fired just before its tick's trade
    else:
        assert not injected
