"""CDP key files and JWT checks: 401 `Unauthorized` (plain text) for every bad token."""

from __future__ import annotations

import json
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers.simhelp import API, Api, make_jwt

from tradekit.sim.auth import (
    AuthError,
    generate_key,
    load_key_file,
    verify_rest_jwt,
    verify_ws_jwt,
    write_key_file,
)
from tradekit.sim.server import SimServer, make_state

PATH = "/accounts"


def assert_401(r) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.text == "Unauthorized"
    assert r.headers["content-type"].startswith("text/plain")


def test_a_good_token_is_accepted(api: Api):
    assert api.get(PATH).status_code == 200


def test_no_or_a_malformed_authorization_header(api: Api):
    assert_401(api.get(PATH, auth=False))
    assert_401(api.get(PATH, auth=False, headers={"Authorization": "Basic abc"}))
    assert_401(api.get(PATH, token="not.a.jwt"))


def test_a_forged_signature(api: Api):
    other = ec.generate_private_key(ec.SECP256R1())
    uri = f"GET {api.server.host_port}{API}{PATH}"
    assert_401(api.get(PATH, token=make_jwt(other, api.server.key_name, uri)))
    # a valid token with its signature swapped for another one's
    good = api.token("GET", PATH).rsplit(".", 1)
    forged = make_jwt(other, api.server.key_name, uri).rsplit(".", 1)
    assert_401(api.get(PATH, token=f"{good[0]}.{forged[1]}"))


def test_an_unknown_kid_or_a_sub_that_is_not_the_kid(api: Api):
    uri = f"GET {api.server.host_port}{API}{PATH}"
    name = "organizations/x/apiKeys/unknown"
    assert_401(api.get(PATH, token=make_jwt(api.key, name, uri)))
    assert_401(api.get(PATH, token=make_jwt(api.key, api.server.key_name, uri, sub="someone")))


def test_expired_not_yet_valid_and_wrong_issuer(api: Api):
    uri = f"GET {api.server.host_port}{API}{PATH}"
    kid = api.server.key_name
    now = int(time.time())
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, now=now - 200)))  # exp past
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, now=now + 60)))  # nbf ahead
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, iss="coinbase")))
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, exp=None)))  # no exp
    # within the 5 s leeway: still good
    ok = make_jwt(api.key, kid, uri, now=now + 3)
    assert api.get(PATH, token=ok).status_code == 200


@pytest.mark.parametrize("iss", ["cdp", "coinbase-cloud"])
def test_both_issuers_get_the_same_checks(api: Api, iss: str):
    """The SDK signs iss "cdp", ccxt "coinbase-cloud" (with aud and iat): Coinbase takes both."""
    kid, hp = api.server.key_name, api.server.host_port
    uri = f"GET {hp}{API}{PATH}"
    now = int(time.time())
    extra = {"aud": ["retail_rest_api_proxy"], "iat": now} if iss == "coinbase-cloud" else {}
    assert api.get(PATH, token=make_jwt(api.key, kid, uri, iss=iss, **extra)).status_code == 200
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, f"POST {hp}{API}{PATH}", iss=iss)))
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, iss=iss, now=now - 200)))
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, iss=iss, now=now + 60)))
    other = ec.generate_private_key(ec.SECP256R1())
    assert_401(api.get(PATH, token=make_jwt(other, kid, uri, iss=iss)))
    # the /v2 host paths are signed the same way, without the brokerage prefix
    v2 = make_jwt(api.key, kid, f"GET {hp}/v2/accounts", iss=iss)
    r = api.client.get("/v2/accounts", headers={"Authorization": f"Bearer {v2}"})
    assert r.status_code == 200, r.text
    r = api.client.get(
        "/v2/accounts", headers={"Authorization": f"Bearer {make_jwt(api.key, kid, uri, iss=iss)}"}
    )
    assert_401(r)


def test_the_uri_claim_must_name_this_method_host_and_path(api: Api):
    kid, hp = api.server.key_name, api.server.host_port
    port = api.server.port
    for uri in [
        f"POST {hp}{API}{PATH}",  # method
        f"GET localhost:{port}{API}{PATH}",  # host (the client used 127.0.0.1)
        f"GET 127.0.0.1{API}{PATH}",  # port dropped
        f"GET api.coinbase.com{API}{PATH}",  # Coinbase's host
        f"GET {hp}{API}/orders",  # path
        f"GET {hp}{API}{PATH}?limit=1",  # the query is not signed
        f"GET https://{hp}{API}{PATH}",  # scheme
        None,  # no uri at all (a WebSocket token)
    ]:
        assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri)))
    # the query string travels separately: a token for the bare path is good
    assert api.get(PATH, params={"limit": "1"}).status_code == 200


def test_only_es256_is_accepted(api: Api):
    uri = f"GET {api.server.host_port}{API}{PATH}"
    kid = api.server.key_name
    assert_401(
        api.get(
            PATH, token=make_jwt("a-shared-secret-of-32-bytes-len!", kid, uri, algorithm="HS256")
        )
    )
    unsigned = jwt.encode(
        {
            "sub": kid,
            "iss": "cdp",
            "nbf": int(time.time()),
            "exp": int(time.time()) + 60,
            "uri": uri,
        },
        None,
        algorithm="none",
        headers={"kid": kid},
    )
    assert_401(api.get(PATH, token=unsigned))


def test_public_endpoints_need_no_token_and_ignore_a_bad_one(api: Api):
    assert api.get("/time", auth=False).status_code == 200
    assert api.get("/market/products", auth=False).status_code == 200
    assert api.get("/time", token="garbage").status_code == 200


def test_verify_functions_directly():
    state = make_state()
    name, pem, key = generate_key()
    state.keys[name] = key
    private = ec.generate_private_key(ec.SECP256R1())  # not the key's
    from cryptography.hazmat.primitives import serialization

    mine = serialization.load_pem_private_key(pem.encode(), None)
    uri = "GET 127.0.0.1:1/api/v3/brokerage/time"
    assert (
        verify_rest_jwt(
            state, make_jwt(mine, name, uri), "get", "127.0.0.1:1", "/api/v3/brokerage/time"
        )
        is key
    )
    assert verify_ws_jwt(state, make_jwt(mine, name, None)) is key
    with pytest.raises(AuthError, match="expired"):
        verify_ws_jwt(state, make_jwt(mine, name, None, now=int(time.time()) - 300))
    with pytest.raises(AuthError) as info:
        verify_ws_jwt(state, make_jwt(private, name, None))
    token = make_jwt(private, name, None)
    assert token not in str(info.value) and "PRIVATE" not in str(info.value)
    with pytest.raises(AuthError, match="uri"):
        verify_rest_jwt(
            state, make_jwt(mine, name, uri), "GET", "127.0.0.1:2", "/api/v3/brokerage/time"
        )


def test_key_files_are_coinbase_json_and_owner_only(tmp_path):
    name, pem, _key = generate_key()
    assert name.startswith("organizations/") and "/apiKeys/" in name
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----\n")
    path = write_key_file(tmp_path / "sub" / "key.json", name, pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # an existing, too open file is closed down when rewritten
    write_key_file(path, name, pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"name": name, "privateKey": pem}
    loaded_name, loaded_pem, api_key = load_key_file(path)
    assert (loaded_name, loaded_pem) == (name, pem)
    assert isinstance(api_key.public_key, ec.EllipticCurvePublicKey)
    (tmp_path / "bad.json").write_text("{}")
    (tmp_path / "bad.json").chmod(0o600)
    with pytest.raises(ValueError, match="not a Coinbase key file"):
        load_key_file(tmp_path / "bad.json")


def test_a_server_reuses_its_key_file_and_never_shows_the_private_key(tmp_path):
    keys = tmp_path / "key.json"
    first = SimServer(keys_file=keys)
    second = SimServer(keys_file=keys)
    try:
        assert first.key_name == second.key_name
        assert first.private_key_pem == second.private_key_pem
        assert "PRIVATE" not in repr(first) and first.private_key_pem not in repr(first)
        assert first.key_name in repr(first)
    finally:
        first.stop()
        second.stop()


def test_a_token_lives_at_most_two_minutes_and_serves_one_request(api: Api):
    kid, hp = api.server.key_name, api.server.host_port
    uri = f"GET {hp}{API}{PATH}"
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, lifetime=10 * 365 * 86400)))
    assert_401(api.get(PATH, token=make_jwt(api.key, kid, uri, lifetime=121)))
    once = make_jwt(api.key, kid, uri, lifetime=120)
    assert api.get(PATH, token=once).status_code == 200
    assert_401(api.get(PATH, token=once))  # the same token again
    post = f"POST {hp}{API}/orders"
    token = make_jwt(api.key, kid, post)
    body = {
        "client_order_id": "replay-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1.00"}},
    }
    assert api.post("/orders", json=body, token=token).status_code == 200
    # used again for a different order: refused, nothing placed
    assert_401(api.post("/orders", json={**body, "client_order_id": "replay-2"}, token=token))
    listed = api.ok("GET", "/orders/historical/batch")["orders"]
    assert "replay-2" not in [o["client_order_id"] for o in listed]
