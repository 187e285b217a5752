import json
import logging
import pickle

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tradekit.exchange.coinbase.credentials import Credentials, CredentialsError

NAME = "organizations/0000/apiKeys/1111"


def pem_key():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key, pem


def test_rest_jwt_has_coinbase_claims_and_uri():
    key, pem = pem_key()
    creds = Credentials(NAME, pem)
    token = creds.rest_jwt("get", "127.0.0.1:8443", "/api/v3/brokerage/accounts", now=1000)
    header = jwt.get_unverified_header(token)
    assert header["kid"] == NAME and header["alg"] == "ES256" and len(header["nonce"]) == 64
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["ES256"],
        options={"verify_nbf": False, "verify_exp": False},
    )
    assert claims == {
        "sub": NAME,
        "iss": "cdp",
        "nbf": 1000,
        "exp": 1120,
        "uri": "GET 127.0.0.1:8443/api/v3/brokerage/accounts",
    }
    ws = jwt.decode(creds.ws_jwt(), key.public_key(), algorithms=["ES256"])
    assert "uri" not in ws


def test_key_file_and_env(tmp_path):
    _, pem = pem_key()
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"name": NAME, "privateKey": pem}))
    path.chmod(0o644)
    with pytest.raises(CredentialsError) as exposed:
        Credentials.from_file(path)
    assert str(path) in str(exposed.value) and f"chmod 600 {path}" in str(exposed.value)
    assert "BEGIN" not in str(exposed.value)
    path.chmod(0o640)
    with pytest.raises(CredentialsError, match="readable by others"):
        Credentials.from_file(path)
    path.chmod(0o600)
    assert Credentials.from_file(path).key_name == NAME
    env = {"COINBASE_API_KEY": NAME, "COINBASE_API_SECRET": pem.replace("\n", "\\n")}
    assert Credentials.from_env(env).fingerprint == Credentials.from_file(path).fingerprint
    with pytest.raises(CredentialsError, match="set COINBASE_API_KEY"):
        Credentials.from_env({})


def test_bad_keys_give_clear_errors_without_the_secret(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": NAME, "privateKey": "-----BEGIN EC PRIVATE KEY-----x"}))
    bad.chmod(0o600)
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(bad)
    assert "BEGIN" not in str(info.value) and str(bad) in str(info.value)
    bad.write_text("{not json")
    with pytest.raises(CredentialsError, match="not JSON"):
        Credentials.from_file(bad)
    with pytest.raises(CredentialsError, match="cannot read"):
        Credentials.from_file(tmp_path / "missing.json")


def test_the_secret_never_shows(caplog):
    _, pem = pem_key()
    creds = Credentials(NAME, pem)
    secret_line = pem.splitlines()[1]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("tradekit").debug("creds %r %s", creds, creds)
    for text in (repr(creds), str(creds), caplog.text, f"{creds}"):
        assert secret_line not in text and NAME in text
    with pytest.raises(TypeError):
        pickle.dumps(creds)
    assert not hasattr(creds, "__dict__")
