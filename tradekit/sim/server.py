"""`SimServer`: the simulator on a real socket, in a background thread with its own loop.

Why a thread: tests, notebooks and the CLI all want a live Coinbase look-alike next to
their own code, without a second process to manage. Everything that touches the state
runs on the server's loop (see state.py); from another thread use `call(fn)` or
`run_coroutine(coro)`, which hop onto that loop.

Defaults: 127.0.0.1 and a free port (the socket is bound here and handed to uvicorn,
so there is no race for the port); binding elsewhere works but logs a loud warning.
A fresh account holds `DEFAULT_BALANCES` (100,000 USD, 1 BTC, 10 ETH) and trades
`DEFAULT_PRODUCTS`. With `state_path`, the paper exchange journals there (and the order
details it does not keep go to `<state_path>.meta.jsonl`): a server started on an existing
journal restores every order, fill and balance. With `keys_file`, the API key is read
from that Coinbase JSON key file, or made and written there (0600) when it does not
exist. With `tls=True`, a local CA and certificate are made (tls.py) in `tls_dir` (a
temporary directory by default) and `ca_file` is what clients must trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import uvicorn

from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.paper.exchange import FillModel
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.sim.admin import is_loopback
from tradekit.sim.app import create_app
from tradekit.sim.auth import check_private, generate_key, load_key_file, write_key_file
from tradekit.sim.meta import OrderMetaStore
from tradekit.sim.state import SimState
from tradekit.sim.tls import ensure_tls_files

__all__ = ["DEFAULT_BALANCES", "SimServer", "make_state"]

log = logging.getLogger("tradekit.sim")
_T = TypeVar("_T")

DEFAULT_BALANCES: Mapping[str, Decimal] = {
    "USD": Decimal("100000"),
    "BTC": Decimal("1"),
    "ETH": Decimal("10"),
}


def admin_token_path(keys_file: str | Path) -> Path:
    """Where the admin token of a simulator using `keys_file` is kept: beside it."""
    path = Path(keys_file)
    return path.with_name(path.name + ".admin-token")


def _reuse_or_write_token(path: Path, fresh: str) -> str:
    """The token in `path` (a restarted simulator keeps its token), else `fresh`, saved
    readable by the owner only."""
    if path.exists():
        check_private(path)
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (fresh + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return fresh


def make_state(
    state_path: str | Path | None = None,
    balances: Mapping[str, Decimal] | None = None,
    fill_model: FillModel = "trade_size",
) -> SimState:
    """A SimState on a paper exchange: restored from `state_path` when it holds a journal.

    `fill_model` (a fresh exchange only: a restored one keeps its own): "trade_size",
    the default, fills a touched order by at most the size that traded (orders larger
    than a print fill in parts, as on Coinbase); "full" fills it whole on any touch."""
    clock = time.time_ns
    meta = None
    if state_path is not None:
        path = Path(state_path)
        meta = OrderMetaStore(path.with_name(path.name + ".meta.jsonl"))
        if path.exists() and path.stat().st_size > 0:
            exchange = PaperExchange.restore(path, clock=clock)
        else:
            exchange = _fresh(path, balances, clock, fill_model)
    else:
        exchange = _fresh(None, balances, clock, fill_model)
    state = SimState(exchange=exchange, clock=clock)
    if meta is not None:
        state.meta = meta
    return state


def _fresh(
    path: Path | None,
    balances: Mapping[str, Decimal] | None,
    clock: Callable[[], int],
    fill_model: FillModel,
) -> PaperExchange:
    # "trade_size": a touch fills at most what the market traded, so an order larger
    # than a print fills in parts (the default paths' sizes are seeded, log-normal): as
    # on Coinbase, where a resting order fills against the size that trades
    return PaperExchange(
        DEFAULT_PRODUCTS,
        DEFAULT_BALANCES if balances is None else balances,
        state_path=path,
        clock=clock,
        id_seed="sim",
        fill_model=fill_model,
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn whose idle loop wakes at once on `wake()` (stop in ~0.1 s, not ~0.3 s)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def _wait_tasks_to_complete(self) -> None:
        """Give connections 0.5 s to close, then drop them (uvicorn would wait up to
        `timeout_graceful_shutdown`: an idle TLS keep-alive waits for the client's
        close_notify, which an idle client never sends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.5
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super()._wait_tasks_to_complete()

    def wake(self, loop: asyncio.AbstractEventLoop) -> None:
        event = self._wake
        if event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


class SimServer:
    """The simulator on `host:port` (see the module docstring); a context manager."""

    def __init__(
        self,
        state: SimState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        keys_file: str | Path | None = None,
        state_path: str | Path | None = None,
        balances: Mapping[str, Decimal] | None = None,
        fill_model: FillModel = "trade_size",
        rate_limit_per_s: float | None = None,
        public_rate_limit_per_s: float | None = None,
        tls_dir: str | Path | None = None,
        log_level: str = "warning",
    ) -> None:
        if state is not None and (state_path is not None or balances is not None):
            raise ValueError("pass either a state or state_path/balances, not both")
        self._owns_state = state is None
        self.state = make_state(state_path, balances, fill_model) if state is None else state
        if rate_limit_per_s is not None:
            self.state.rate_limit_per_s = float(rate_limit_per_s)
        if public_rate_limit_per_s is not None:
            self.state.public_rate_limit_per_s = float(public_rate_limit_per_s)
        if keys_file is not None and Path(keys_file).exists():
            name, pem, api_key = load_key_file(keys_file)
        else:
            name, pem, api_key = generate_key()
            if keys_file is not None:
                write_key_file(keys_file, name, pem)
        self.state.keys[name] = api_key
        self.admin_token_file: Path | None = None
        if keys_file is not None:
            self.admin_token_file = admin_token_path(keys_file)
            self.state.admin_token = _reuse_or_write_token(
                self.admin_token_file, self.state.admin_token
            )
        self.key_name = name
        self._pem = pem
        self.keys_file = None if keys_file is None else Path(keys_file)
        self.host = "127.0.0.1" if host == "localhost" else host
        self.tls = tls
        self._log_level = log_level
        self._tls_dir = None if tls_dir is None else Path(tls_dir)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None
        self._cert: tuple[Path, Path] | None = None
        if tls:
            if self._tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="tradekit-sim-tls-")
                self._tls_dir = Path(self._tmp.name)
            files = ensure_tls_files(self._tls_dir)
            self.ca_file = files.ca_file
            self._cert = (files.cert_file, files.key_file)
        self._sock = _bind(self.host, port)
        self.port: int = self._sock.getsockname()[1]
        if not is_loopback(self.host):
            log.warning(
                "\n%s\n!! tradekit sim is listening on %s:%d, NOT on loopback: anyone who "
                "can reach it\n!! and holds the key file can trade on it. The admin API "
                "still answers\n!! loopback clients only.\n%s",
                "!" * 78,
                self.host,
                self.port,
                "!" * 78,
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: _Uvicorn | None = None
        self._error: BaseException | None = None
        self._stopped = False

    # ---------------------------------------------------------------- addresses

    @property
    def admin_token(self) -> str:
        """What the admin API wants in X-Tradekit-Admin-Token (kept out of repr)."""
        return self.state.admin_token

    @property
    def private_key_pem(self) -> str:
        """The API key's private half (PEM). Kept out of repr and logs."""
        return self._pem

    @property
    def host_port(self) -> str:
        """`host:port` as a client names the server (the JWT `uri` uses it)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host_port}"

    @property
    def ws_url(self) -> str:
        """The market-data WebSocket (it serves `user` too, as Coinbase's does)."""
        return f"{'wss' if self.tls else 'ws'}://{self.host_port}"

    @property
    def ws_user_url(self) -> str:
        return f"{self.ws_url}/ws/user"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting this server's CA (None without TLS)."""
        if self.ca_file is None:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file))

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"SimServer({self.base_url!r}, key_name={self.key_name!r}, {state})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0) -> SimServer:
        """Serve in a background thread; return once a request has been answered."""
        if self._thread is not None:
            raise RuntimeError("this SimServer was started already")
        cert = self._cert
        config = uvicorn.Config(
            self.make_app(),
            log_config=None,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ssl_certfile=None if cert is None else str(cert[0]),
            ssl_keyfile=None if cert is None else str(cert[1]),
        )
        self._server = _Uvicorn(config)
        self._thread = threading.Thread(
            target=self._run, name=f"tradekit-sim-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the simulator did not start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the simulator did not start within {timeout} s")
            time.sleep(0.002)
        verify: ssl.SSLContext | bool = self.ssl_context() or False
        try:
            with httpx.Client(verify=verify, timeout=timeout) as client:
                client.get(f"{self.base_url}/api/v3/brokerage/time").raise_for_status()
        except BaseException:
            self.stop()
            raise
        return self

    def make_app(self) -> Any:
        """The ASGI app this server serves (a classroom serves its own)."""
        return create_app(self.state)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        assert self._server is not None
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as e:  # reported by start()
            self._error = e
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:  # e.g. a market driver still running
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, wait for the thread, release the journal and temporary files."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
            if self._loop is not None:
                self._server.wake(self._loop)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                if self._server is not None:
                    self._server.force_exit = True
                self._thread.join(timeout)
        self._sock.close()
        if self._owns_state:
            self.state.exchange.close()
            self.state.meta.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------- into the loop

    def run_coroutine(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run `coro` on the server's loop (thread-safe) and return its result."""
        loop = self._loop
        if loop is None or not self.running:
            coro.close()
            raise RuntimeError("the simulator is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def call(self, fn: Callable[[SimState], _T], timeout: float = 30.0) -> _T:
        """`fn(state)` on the server's loop, e.g. `server.call(lambda st: st.advance(t))`."""

        async def run() -> _T:
            return fn(self.state)

        return self.run_coroutine(run(), timeout)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one, chosen by the kernel)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock
