"""What the async adapters and their generated sync twins share, defined once: errors
(so `except AuthenticationError` catches both flavours), small value types, and what
their two HTTP sessions (`_async/_compat.py`, `_sync/_compat.py`) agree on: the pool
limits, the environment's proxy, the `Reply` they answer and the `TransportFailed` they
raise."""

from __future__ import annotations

import random
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from tradekit.exchange.types import ExchangeBusy, ExchangeError

# Connection pool limits of both adapters (httpx's defaults, which they had before)
MAX_CONNECTIONS = 100
MAX_KEEPALIVE_CONNECTIONS = 20
KEEPALIVE_EXPIRY_S = 5.0  # an idle connection is closed before a server drops it


class AuthenticationError(ExchangeError):
    """401/403: the key was refused (its secret is never in the message)."""


class RateLimited(ExchangeBusy):
    """Still 429 after every retry (transient: ask again later)."""


class RequestRejected(ExchangeError):
    """400-class answer: the request itself was wrong."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


@dataclass(frozen=True)
class EditResult:
    success: bool
    failure_reason: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP reply as the REST adapter reads it, whichever HTTP library fetched it."""

    status: int
    headers: Mapping[str, str]  # looked up by lower-case name
    body: bytes  # decompressed


class TransportFailed(Exception):
    """No HTTP reply: the connection was refused, dropped or timed out, so the request
    may or may not have reached the exchange. `certificate_refused`: the server's TLS
    certificate is not trusted (not transient)."""

    def __init__(self, reason: str, *, certificate_refused: bool = False) -> None:
        super().__init__(reason)
        self.certificate_refused = certificate_refused


def certificate_refused(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a refused TLS certificate."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def environment_proxy(base_url: str) -> str | None:
    """The proxy the environment names for `base_url`'s scheme (HTTPS_PROXY, HTTP_PROXY,
    ALL_PROXY), unless NO_PROXY exempts its host: what httpx, which the adapters used
    before, did. Only http:// and https:// proxies are supported."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    url = proxies.get(parts.scheme) or proxies.get("all")
    if not url or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"proxy {url!r} for {parts.scheme}: only http:// and https:// work")
    return url
