"""CDP API keys and the JWTs made from them, with the secret kept out of every text.

A key is a name (`organizations/{org}/apiKeys/{id}`, the JWT's `kid` and `sub`) and an
EC P-256 private key (ES256) or an Ed25519 key (EdDSA). The private key lives only as a
`cryptography` key object: it is never kept as a string, and `repr`, `str`, errors and
logs show the key's name and a fingerprint, never the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

JWT_LIFETIME_S = 120
ENV_KEY_NAME = "COINBASE_API_KEY"
ENV_KEY_SECRET = "COINBASE_API_SECRET"


class CredentialsError(ValueError):
    """A key file or variable is missing or malformed (the message never has the secret)."""


def _load_private_key(
    secret: str, where: str
) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    text = secret.strip().replace("\\n", "\n")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.b64decode("".join(text.split()), validate=True)
            if len(raw) not in (32, 64):
                raise CredentialsError(f"{where}: an Ed25519 key must be 32 or 64 bytes")
            key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    except CredentialsError:
        raise
    except (ValueError, TypeError, binascii.Error):
        raise CredentialsError(f"{where}: the private key is neither PEM nor base64") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise CredentialsError(f"{where}: the EC key must be P-256 (ES256)")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise CredentialsError(f"{where}: unsupported key type {type(key).__name__}")


class Credentials:
    """A CDP API key able to sign the JWTs Coinbase asks for."""

    __slots__ = ("_alg", "_key", "key_name")

    def __init__(self, key_name: str, private_key: str, *, where: str = "key") -> None:
        if not key_name:
            raise CredentialsError(f"{where}: the key name is empty")
        self.key_name = key_name
        self._key = _load_private_key(private_key, where)
        self._alg = "ES256" if isinstance(self._key, ec.EllipticCurvePrivateKey) else "EdDSA"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """Coinbase's JSON key file: `{"name": ..., "privateKey": ...}` (or `"id"`),
        readable by its owner only (a file group or others may read is refused)."""
        p = Path(path)
        try:
            mode = p.stat().st_mode
        except OSError as exc:
            raise CredentialsError(f"{p}: cannot read the key file ({exc.strerror})") from None
        if mode & 0o077:
            raise CredentialsError(
                f"{p}: the key file is readable by others (mode {mode & 0o777:o}); "
                f"a key must be the owner's only: run `chmod 600 {p}`"
            )
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CredentialsError(f"{p}: cannot read the key file ({exc.strerror})") from None
        except ValueError:
            raise CredentialsError(f"{p}: the key file is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"{p}: the key file is not a JSON object")
        name = data.get("name") or data.get("id")
        secret = data.get("privateKey")
        if not isinstance(name, str) or not isinstance(secret, str):
            raise CredentialsError(f"{p}: the key file needs 'name' and 'privateKey' strings")
        return cls(name, secret, where=str(p))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        name, secret = env.get(ENV_KEY_NAME), env.get(ENV_KEY_SECRET)
        if not name or not secret:
            raise CredentialsError(f"set {ENV_KEY_NAME} and {ENV_KEY_SECRET}")
        return cls(name, secret, where=ENV_KEY_SECRET)

    @property
    def fingerprint(self) -> str:
        """A short hash of the public key: tells keys apart without revealing anything."""
        public = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(public).hexdigest()[:12]

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._key,
            algorithm=self._alg,
            headers={"kid": self.key_name, "nonce": secrets.token_hex()},
        )

    def _claims(self, now: float | None) -> dict[str, Any]:
        t = int(time.time() if now is None else now)
        return {"sub": self.key_name, "iss": "cdp", "nbf": t, "exp": t + JWT_LIFETIME_S}

    def rest_jwt(self, method: str, host: str, path: str, now: float | None = None) -> str:
        """A JWT for one REST request: `uri` is `"METHOD host[:port]/path"` (no scheme,
        no query), built from the host the client really talks to."""
        claims = self._claims(now)
        claims["uri"] = f"{method.upper()} {host}{path}"
        return self._sign(claims)

    def ws_jwt(self, now: float | None = None) -> str:
        """A JWT for a WebSocket subscribe message (no `uri`)."""
        return self._sign(self._claims(now))

    def __repr__(self) -> str:
        return f"Credentials(key_name={self.key_name!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled (they hold a private key)")
