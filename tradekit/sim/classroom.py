"""The classroom mode of `tradekit sim`: one seeded market, one paper account per student.

`Classroom(roster=N, keys_dir=DIR)` makes a key per student (`student-01.json`, ... in
the format `--keys-file` writes, mode 0600) and a moderator token (`moderator-token`,
0600). Every student has their own `SimState` (own paper exchange, own key) and all of
them see the same trades: the market state's `advance` hands each trade to every account.
Fills come from the trade stream only, so no student moves another's prices and each
account is what a solo paper run of the same ticks would be. A request goes to the
account its key names (REST: the JWT's `kid`; WebSocket: the first subscribe message's
`jwt`), so a student's key never sees another student's orders ("not found"). Public
market data is served from the market state.

Moderator (the token in `X-Tradekit-Admin-Token`, loopback only, under
`/sim/classroom/`): `POST pause`, `resume`, `speed {"speed": "10x"}`, `inject {"kind":
"gap", "pct": "-0.02"}` / `{"kind": "ws_drop", "seconds": 2}` / `{"kind":
"rate_limit_burst", "seconds": 2}`, `reset`; `GET state`, `GET leaderboard`.

A scenario of the deck drives the market (its trades, gap applied, paced by `speed`),
and its timed events fire at their ticks: a `ws_drop` or `rate_limit_burst` for as long
as its ticks take at the market's speed, a `print_in_flight` as one extra print `pct`
away. The session is recorded to one file (`tradekit.sim.recording`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tradekit.core.events import MarketTrade
from tradekit.data.scenario import Scenario
from tradekit.exchange.types import Fill, PlaceResult
from tradekit.sim.admin import admin_only
from tradekit.sim.app import create_app
from tradekit.sim.auth import generate_key, load_key_file, write_key_file
from tradekit.sim.leaderboard import figures, leaderboard
from tradekit.sim.market import Market, parse_speed
from tradekit.sim.recording import Recorder
from tradekit.sim.rest.errors import bad
from tradekit.sim.rest.inputs import read_object
from tradekit.sim.server import SimServer, make_state
from tradekit.sim.state import SimState

__all__ = ["CLASSROOM", "Classroom", "ClassroomServer", "StudentState"]

CLASSROOM = "/sim/classroom"
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
_RECORDED = (
    "place_limit_buy",
    "place_limit_sell",
    "place_stop_limit",
    "place_market_ioc",
    "place_limit_ioc",
    "place_limit_fok",
)
_ARGS = {
    "place_limit_buy": ("client_order_id", "product_id", "size", "limit_price"),
    "place_limit_sell": ("client_order_id", "product_id", "size", "limit_price"),
    "place_stop_limit": ("client_order_id", "product_id", "size", "stop_price", "limit_price"),
    "place_market_ioc": ("client_order_id", "product_id", "side"),
    "place_limit_ioc": ("client_order_id", "product_id", "side", "size", "limit_price"),
    "place_limit_fok": ("client_order_id", "product_id", "side", "size", "limit_price"),
}


class StudentState(SimState):
    """One student's account: a SimState whose orders and fills are recorded."""

    student: str = ""
    recorder: Recorder | None = None

    def advance(self, trade: MarketTrade) -> list[Fill]:
        fills = super().advance(trade)
        self._record_fills(fills)
        return fills

    def _record_fills(self, fills: list[Fill]) -> None:
        if self.recorder is None:
            return
        for f in fills:
            self.recorder.add(
                "fill",
                student=self.student,
                order_id=f.order_id,
                side=f.side,
                price=f.price,
                size=f.size,
                commission=f.commission,
            )

    def cancel_order(self, order_id: str) -> Any:
        res = super().cancel_order(order_id)
        if self.recorder is not None:
            self.recorder.add(
                "cancel",
                student=self.student,
                order_id=order_id,
                success=res.success,
                failure_reason=res.failure_reason,
            )
        return res

    def _record_order(
        self, call: str, args: tuple[Any, ...], kwargs: dict[str, Any], res: PlaceResult
    ) -> None:
        if self.recorder is None:
            return
        named = dict(zip(_ARGS[call], args, strict=False)) | kwargs
        self.recorder.add(
            "order",
            student=self.student,
            call=call,
            args=named,
            success=res.success,
            order_id=res.order_id,
            client_order_id=res.client_order_id,
            failure_reason=res.failure_reason,
        )
        if res.success and res.order_id:  # an IOC/FOK fills at once
            self._record_fills(self.exchange.list_fills(order_id=res.order_id))


def _recorded(call: str) -> Callable[..., PlaceResult]:
    base = getattr(SimState, call)

    def method(self: StudentState, *args: Any, **kwargs: Any) -> PlaceResult:
        res: PlaceResult = base(self, *args, **kwargs)
        self._record_order(call, args, kwargs, res)
        return res

    method.__name__ = call
    method.__doc__ = base.__doc__
    return method


for _call in _RECORDED:
    setattr(StudentState, _call, _recorded(_call))


class MarketState(SimState):
    """The class's market: each trade goes to every student's account, and on record."""

    classroom: Classroom | None = None

    def advance(self, trade: MarketTrade) -> list[Fill]:
        room = self.classroom
        if room is not None:
            room.recorder.market_ts = trade.ts
            room.recorder.add(
                "trade",
                product_id=trade.product_id,
                price=trade.price,
                size=trade.size,
                trade_id=trade.trade_id,
            )
            for state in room.students.values():
                state.advance(trade)
        return super().advance(trade)


class Classroom:
    """N students, their keys and accounts, one market, the moderator's controls."""

    def __init__(
        self,
        roster: int,
        keys_dir: str | Path,
        *,
        scenario: str | Scenario = "calm-trend",
        seed: int | None = None,
        speed: float | None = 1.0,
        recording: str | Path | None = None,
        loop_source: bool = False,
    ) -> None:
        from tradekit.data.scenario import load

        if not 1 <= roster <= 999:
            raise ValueError(f"roster must be between 1 and 999 students, got {roster}")
        self.keys_dir = Path(keys_dir)
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        self.scenario = load(scenario)
        if seed is not None:
            self.scenario = self.scenario.with_seed(seed)
        self.speed = speed
        self.loop_source = loop_source
        path = self.keys_dir / "session.jsonl" if recording is None else Path(recording)
        self.recorder = Recorder(path)
        self.market_state = self._market_state()
        # every student is on loopback: one client IP, so the public (per IP) limit is
        # the class's, a student's share each
        self.market_state.public_rate_limit_per_s = 10.0 * roster
        self.moderator_token = self.market_state.admin_token
        self._write_token()
        self.students: dict[str, StudentState] = {}
        self.key_files: dict[str, Path] = {}
        self.key_names: dict[str, str] = {}  # key name -> student
        for i in range(1, roster + 1):
            student = f"student-{i:02d}"
            key_file = self.keys_dir / f"{student}.json"
            if key_file.exists():
                name, _, api_key = load_key_file(key_file)
            else:
                name, pem, api_key = generate_key()
                write_key_file(key_file, name, pem)
            state = self._student_state(student)
            state.keys[name] = api_key
            self.students[student] = state
            self.key_files[student] = key_file
            self.key_names[name] = student
        self.market: Market | None = None
        self.apps: dict[str, ASGIApp] = {}
        # how long the simulator took over each student request (the bench's p99)
        self.latencies_ms: deque[float] = deque(maxlen=100_000)
        self._gap = Decimal(1)
        self._timers: list[asyncio.TimerHandle] = []
        self.recorder.add(
            "start",
            students=list(self.students),
            scenario=self.scenario.name,
            seed=self.scenario.seed,
        )

    # -- making states

    def _market_state(self) -> MarketState:
        base = make_state()
        state = MarketState(exchange=base.exchange, clock=base.clock)
        state.classroom = self
        return state

    def _student_state(self, student: str) -> StudentState:
        from tradekit.exchange.paper import PaperExchange
        from tradekit.exchange.products import DEFAULT_PRODUCTS
        from tradekit.sim.server import DEFAULT_BALANCES

        exchange = PaperExchange(
            DEFAULT_PRODUCTS, DEFAULT_BALANCES, id_seed=f"class-{student}", fill_model="trade_size"
        )
        state = StudentState(exchange=exchange)
        state.student = student
        state.recorder = self.recorder
        state.rate_limit_per_s = 30.0
        return state

    def _write_token(self) -> None:
        path = self.keys_dir / "moderator-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (self.moderator_token + "\n").encode("ascii"))
        finally:
            os.close(fd)
        self.token_file = path

    # -- the market (on the server's loop)

    def source(self) -> Iterator[MarketTrade]:
        """The scenario's trades, with injected gaps applied and its timed events fired:
        a `print_in_flight` is one extra print `pct` away just before its tick's trade; a
        `ws_drop` or `rate_limit_burst` lasts as long as its ticks take at the speed."""
        sc = self.scenario
        timed = {e.at: e for e in sc.events if e.kind != "gap"}
        q = Decimal("0.01")
        while True:
            for tick, trade in enumerate(sc.trades()):
                if self._gap != 1:
                    trade = replace(trade, price=max(q, (trade.price * self._gap).quantize(q)))
                event = timed.get(tick)
                if event is not None and event.kind == "print_in_flight":
                    away = max(q, (trade.price * (1 + event.pct)).quantize(q))
                    yield replace(trade, price=away, ts=trade.ts - 1)
                elif event is not None:
                    pace = self.speed or 1000.0
                    self.inject(event.kind, seconds=max(0.05, event.ticks / pace))
                yield trade
            if not self.loop_source:
                return

    def start_market(self) -> Market:
        self.market = Market(self.market_state, self.source(), self.speed).start()
        return self.market

    def _later(self, seconds: float, fn: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(seconds, fn))

    # -- the moderator's controls (on the server's loop)

    def pause(self) -> None:
        if self.market is not None:
            self.market.pause()
        self.recorder.add("control", action="pause")

    def resume(self) -> None:
        if self.market is not None:
            self.market.resume()
        self.recorder.add("control", action="resume")

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        if self.market is not None:
            self.market.set_speed(speed)
        self.recorder.add("control", action="speed", speed=speed)

    def inject(self, kind: str, *, seconds: float = 2.0, pct: Decimal | None = None) -> None:
        """A gap (every later price moves by `pct`), a WebSocket drop or a 429 burst (for
        `seconds`)."""
        if kind == "gap":
            if pct is None or not -1 < pct < 1:
                raise ValueError('a gap needs pct between -1 and 1, e.g. "-0.02"')
            self._gap *= 1 + pct
        elif kind == "ws_drop":
            self._set_faults(ws_drop_after=0)  # every connection closes at its next message
            self._later(seconds, lambda: self._set_faults(ws_drop_after=None))
        elif kind == "rate_limit_burst":
            self._set_faults(rest_429_rate=1.0)
            self._later(seconds, lambda: self._set_faults(rest_429_rate=0.0))
        else:
            raise ValueError(f"unknown injection {kind!r} (gap, ws_drop, rate_limit_burst)")
        self.recorder.add("control", action="inject", injected=kind, seconds=seconds, pct=pct)

    def _set_faults(self, **faults: Any) -> None:
        for state in (self.market_state, *self.students.values()):
            state.faults.update(faults)

    def reset(self) -> None:
        """Every account afresh, the market from its first tick, the timers cancelled."""
        if self.market is not None:
            self.market.stop()
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        self._gap = Decimal(1)
        for student, state in self.students.items():
            fresh = self._student_state(student)
            state.exchange = fresh.exchange
            state.meta = fresh.meta
            state.history.clear()
            state.faults = fresh.faults
        fresh_market = self._market_state()
        self.market_state.exchange = fresh_market.exchange
        self.market_state.history.clear()
        self.market_state.faults = fresh_market.faults
        self.recorder.market_ts = 0
        self.recorder.add("reset")
        if self.market is not None:
            self.start_market()

    def state_json(self) -> dict[str, Any]:
        m = self.market
        return {
            "students": len(self.students),
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "paused": bool(m is not None and m.paused),
            "speed": self.speed,
            "trades": 0 if m is None else m.stats.trades,
            "finished": bool(m is not None and m.stats.finished),
            "latency_ms": _percentiles(self.latencies_ms),
        }

    def leaderboard(self) -> dict[str, Any]:
        return leaderboard(figures(self.recorder.events, self.students))

    # -- the app

    def app(self) -> ASGIApp:
        """The ASGI app: moderator routes, then each request to its student's account."""
        self.apps = {s: create_app(state) for s, state in self.students.items()}
        market_app = create_app(self.market_state)
        moderator = Starlette(routes=self._routes())

        async def dispatch(
            scope: MutableMapping[str, Any],
            receive: Callable[[], Awaitable[Any]],
            send: Callable[[Any], Awaitable[None]],
        ) -> None:
            if scope["type"] == "http":
                path = scope["path"]
                if path.startswith(CLASSROOM):
                    return await moderator(scope, receive, send)
                if path.startswith("/sim/admin"):
                    return await _not_here(send)
                student = self._student_of(_bearer(scope))
                if student is None:
                    return await market_app(scope, receive, send)
                return await self._counted(student, scope, receive, send)
            if scope["type"] == "websocket":
                return await self._websocket(scope, receive, send, market_app)
            return await market_app(scope, receive, send)

        return dispatch

    def _student_of(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        return self.key_names.get(kid) if isinstance(kid, str) else None

    async def _counted(
        self,
        student: str,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        status = [0]

        async def noted(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        t0 = time.perf_counter()
        await self.apps[student](scope, receive, noted)
        self.latencies_ms.append((time.perf_counter() - t0) * 1000)
        self.recorder.add(
            "request", student=student, method=scope["method"], path=scope["path"], status=status[0]
        )

    async def _websocket(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
        market_app: ASGIApp,
    ) -> None:
        """Accept, read the first message, and hand the connection to the account its
        `jwt` names (the market's when it has none)."""
        connect = await receive()
        await send({"type": "websocket.accept"})
        first = await receive()
        target = market_app
        if first.get("type") == "websocket.receive":
            try:
                token = json.loads(first.get("text") or first.get("bytes") or "{}").get("jwt")
            except (ValueError, AttributeError):
                token = None
            student = self._student_of(token if isinstance(token, str) else None)
            if student is not None:
                target = self.apps[student]
        queued = [connect, first]

        async def replay() -> Any:
            return queued.pop(0) if queued else await receive()

        async def skip_accept(message: Any) -> None:
            if message["type"] != "websocket.accept":
                await send(message)

        await target(scope, replay, skip_accept)

    def _routes(self) -> list[Route]:
        state = self.market_state

        async def control(request: Request) -> Response:
            action = request.path_params["action"]
            body = await read_object(request) if request.method == "POST" else {}
            if action == "pause":
                self.pause()
            elif action == "resume":
                self.resume()
            elif action == "speed":
                text = body.get("speed")
                if not isinstance(text, str):
                    bad('speed: expected a string like "10x", "realtime" or "max"')
                try:
                    self.set_speed(parse_speed(text))
                except ValueError as exc:
                    bad(str(exc))
            elif action == "inject":
                kind = body.get("kind")
                seconds = body.get("seconds", 2)
                if isinstance(seconds, bool) or not isinstance(seconds, int | float | Decimal):
                    bad("seconds: expected a number")
                if not 0 < float(seconds) <= 600:
                    bad("seconds: must be in (0, 600]")
                pct = None
                if "pct" in body:
                    try:
                        pct = Decimal(str(body["pct"]))
                    except InvalidOperation:
                        bad(f"pct: not a number: {body['pct']!r}")
                try:
                    self.inject(str(kind), seconds=float(seconds), pct=pct)
                except ValueError as exc:
                    bad(str(exc))
            elif action == "reset":
                self.reset()
            else:
                return JSONResponse({"error": "NOT_FOUND", "message": action}, 404)
            return JSONResponse(self.state_json())

        async def status(request: Request) -> Response:
            return JSONResponse(self.state_json())

        async def board(request: Request) -> Response:
            return JSONResponse(self.leaderboard())

        return [
            Route(f"{CLASSROOM}/state", admin_only(state, status), methods=["GET"]),
            Route(f"{CLASSROOM}/leaderboard", admin_only(state, board), methods=["GET"]),
            Route(f"{CLASSROOM}/{{action}}", admin_only(state, control), methods=["POST"]),
        ]

    def close(self) -> None:
        self.recorder.close()


def _percentiles(values: Iterable[float]) -> dict[str, float | int]:
    """count, p50 and p99 of the student requests' handling times (ms)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": 0.0, "p99": 0.0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"count": len(ordered), "p50": at(0.50), "p99": at(0.99)}


def _bearer(scope: MutableMapping[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


async def _not_here(send: Callable[[Any], Awaitable[None]]) -> None:
    body = json.dumps(
        {
            "error": "NOT_FOUND",
            "message": f"a classroom is driven at {CLASSROOM}/ (moderator token)",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ClassroomServer(SimServer):
    """A `Classroom` on a real socket (loopback), its market started with the server."""

    def __init__(self, classroom: Classroom, *, port: int = 0, log_level: str = "warning") -> None:
        super().__init__(classroom.market_state, host="127.0.0.1", port=port, log_level=log_level)
        self.classroom = classroom

    def make_app(self) -> Any:
        return self.classroom.app()

    def start(self, timeout: float = 10.0) -> ClassroomServer:
        super().start(timeout)
        self.call(lambda _: self.classroom.start_market())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.classroom.close()
