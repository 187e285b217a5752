"""httpcore's network layer on asyncio's own streams, for the async REST adapter.

httpcore's default async backend goes through anyio, whose TLS stream and attribute
lookups cost more than the HTTP work itself for small replies: `is_readable`, which the
pool asks of every idle connection whenever a request starts or ends, rebuilds a dict of
lambdas each time, and every read and write passes through anyio's cancel scopes.
Profiled against the simulator over TLS, the adapter spent about a third of its CPU
there. asyncio's streams (its TLS included) do the same job with less Python per call;
httpcore keeps the pool and the HTTP/1.1 protocol (h11), and its exceptions are raised
exactly as its own backends raise them, so callers see no difference.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
from httpcore._utils import is_socket_readable

__all__ = ["AsyncioBackend"]

_READ_ERRORS = (OSError, EOFError)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio StreamReader/StreamWriter pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as e:
            raise httpcore.ReadTimeout(e) from e
        except _READ_ERRORS as e:
            raise httpcore.ReadError(e) from e

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as e:
            raise httpcore.WriteTimeout(e) from e
        except (OSError, RuntimeError) as e:  # RuntimeError: the transport is closed
            raise httpcore.WriteError(e) from e

    async def aclose(self) -> None:
        # At once, without TLS's close_notify exchange (as httpcore's anyio backend
        # closes): asyncio would otherwise wait for the peer's reply, up to 30 s.
        self._writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as e:
            await self.aclose()
            raise httpcore.ConnectTimeout(e) from e
        except (OSError, EOFError) as e:  # ssl.SSLError (a refused certificate) included
            await self.aclose()
            raise httpcore.ConnectError(e) from e
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # Asked of an idle connection: readable means the server closed it (or sent
            # what it should not have). The loop may already have read the EOF into the
            # stream, or it may still be in the socket.
            return (
                self._reader.at_eof()
                or self._writer.is_closing()
                or is_socket_readable(self._writer.get_extra_info("socket"))
            )
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections with `asyncio.open_connection` (which sets TCP_NODELAY, as
    httpcore's own backends do); httpcore upgrades them to TLS with `start_tls`."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(e) from e
        except OSError as e:
            raise httpcore.ConnectError(e) from e
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
