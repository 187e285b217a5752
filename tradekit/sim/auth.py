"""CDP API keys for the simulator: make them, save them as Coinbase does, check JWTs.

A key is an EC P-256 pair named `organizations/{uuid}/apiKeys/{uuid}`; clients sign
ES256 JWTs with the private half (see `coinbase_api.md`, "Authentication") and the
simulator verifies them with the public half only. Every refusal raises `AuthError`
whose message says what was wrong for the server's log; the client only ever gets
`401 Unauthorized` (as from Coinbase), and neither carries the token or a key.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tradekit.sim.state import ApiKey, SimState

__all__ = [
    "ISSUERS",
    "LEEWAY_S",
    "AuthError",
    "KeyFileExposed",
    "check_private",
    "generate_key",
    "load_key_file",
    "verify_rest_jwt",
    "verify_ws_jwt",
    "write_key_file",
]

LEEWAY_S = 5  # clock skew tolerated on nbf / exp, in seconds
MAX_LIFETIME_S = 120  # Coinbase: a JWT expires 2 minutes after it is made
_REQUIRED = ["sub", "iss", "nbf", "exp"]
# Coinbase accepts CDP keys' JWTs from either issuer: the official SDK signs "cdp",
# ccxt (in production use with CDP keys) "coinbase-cloud"; both get the same checks.
ISSUERS = ("cdp", "coinbase-cloud")


class AuthError(Exception):
    """A JWT was refused; the message is for the log (no token, no key material)."""


def generate_key(name: str | None = None) -> tuple[str, str, ApiKey]:
    """A new EC P-256 key: (key name, private key PEM, the ApiKey the server keeps)."""
    if name is None:
        name = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # "BEGIN EC PRIVATE KEY", as CDP's
        serialization.NoEncryption(),
    ).decode("ascii")
    return name, pem, ApiKey(name, private.public_key())


def api_key_from_pem(name: str, pem: str) -> ApiKey:
    """The server's side of a key: its name and public key (the private one is dropped)."""
    private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
        private.curve, ec.SECP256R1
    ):
        raise ValueError(f"key {name!r}: expected an EC P-256 private key")
    return ApiKey(name, private.public_key())


def write_key_file(path: str | os.PathLike[str], key_name: str, pem: str) -> Path:
    """Save a key in Coinbase's JSON key-file format, readable by the owner only (0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"name": key_name, "privateKey": pem}, indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, data.encode("ascii"))
    finally:
        os.close(fd)
    return path


class KeyFileExposed(ValueError):
    """A secret file that group or others may read: refused, with the chmod that fixes it."""


def check_private(path: str | os.PathLike[str]) -> None:
    """Refuse a secret file (key, admin token) that group or others may read or write."""
    path = Path(path)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyFileExposed(
            f"{path}: readable by others (mode {mode & 0o777:o}); a secret must be the "
            f"owner's only: run `chmod 600 {path}`"
        )


def load_key_file(path: str | os.PathLike[str]) -> tuple[str, str, ApiKey]:
    """Read a Coinbase JSON key file (`name` or `id`, and `privateKey`), owner-only."""
    path = Path(path)
    check_private(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        name = data.get("name") or data["id"]
        pem = data["privateKey"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"{path}: not a Coinbase key file (JSON with 'name' and 'privateKey')"
        ) from None
    if not isinstance(name, str) or not isinstance(pem, str):
        raise ValueError(f"{path}: 'name' and 'privateKey' must be strings")
    return name, pem, api_key_from_pem(name, pem)


def _verify(state: SimState, token: str) -> tuple[ApiKey, dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise AuthError(f"malformed JWT ({type(e).__name__})") from None
    if header.get("alg") != "ES256":
        raise AuthError(f"alg {header.get('alg')!r} is not ES256")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AuthError("no kid in the JWT header")
    key = state.keys.get(kid)
    if key is None:
        raise AuthError(f"unknown key {kid!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=["ES256"],
            issuer=ISSUERS,
            leeway=LEEWAY_S,
            options={"require": _REQUIRED, "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(f"key {kid!r}: the JWT has expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthError(f"key {kid!r}: the JWT is not valid yet (nbf)") from None
    except jwt.PyJWTError as e:
        raise AuthError(f"key {kid!r}: {type(e).__name__}: {e}") from None
    if claims["sub"] != kid:
        raise AuthError(f"key {kid!r}: sub {claims['sub']!r} is not the kid")
    lifetime = claims["exp"] - claims["nbf"]
    if not isinstance(lifetime, int | float) or lifetime > MAX_LIFETIME_S:
        raise AuthError(f"key {kid!r}: the JWT lives {lifetime} s, more than {MAX_LIFETIME_S}")
    return key, claims


def verify_rest_jwt(state: SimState, token: str, method: str, host: str, path: str) -> ApiKey:
    """Check a REST request's JWT; `host` is the Host header, `path` has no query."""
    key, claims = _verify(state, token)
    expected = f"{method.upper()} {host}{path}"
    if claims.get("uri") != expected:
        raise AuthError(f"key {key.name!r}: uri {claims.get('uri')!r}, expected {expected!r}")
    _once(state, token, claims["exp"])
    return key


def _once(state: SimState, token: str, exp: float) -> None:
    """A REST token is good for one request (clients make one per request): a token seen
    before is refused, so a captured token cannot place a second order. Keyed by what was
    signed, not the signature (an ECDSA signature can be re-encoded); remembered until it
    would have expired anyway."""
    seen = state.jwt_seen
    signed = token.rsplit(".", 1)[0]  # header (with its nonce) and claims: what was signed
    if signed in seen:
        raise AuthError("this JWT was already used for a request")
    # pruned once per 1,000 new tokens past 10,000, not on every request: at a sustained
    # 100 requests/s, 12,000 tokens are live (2 minutes' worth) and a scan of all of them
    # per request was most of the simulator's CPU
    if len(seen) >= 10_000 and len(seen) % 1_000 == 0:
        now = state.now() / 1e9 - LEEWAY_S
        for old in [s for s, until in seen.items() if until < now]:
            del seen[old]
    seen[signed] = exp


def verify_ws_jwt(state: SimState, token: str) -> ApiKey:
    """Check a WebSocket subscribe message's JWT (the same claims, no `uri`)."""
    key, _claims = _verify(state, token)
    return key
