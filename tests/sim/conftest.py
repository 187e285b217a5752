"""Fixtures for the simulator's tests.

- `sim`: a started SimServer for the whole module (a key file in tmp; rate limits raised
  so that a busy test module never meets them; no market driver: print trades with
  `Api.print_trade` / the admin price endpoint, or `sim.call(lambda st: st.advance(t))`).
- `api`: a `simhelp.Api` on `sim` (httpx, keep-alive, a fresh JWT per request).
- `make_sim`: start more servers with any SimServer options; all stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.simhelp import Api

from tradekit.sim.server import SimServer

FAST_LIMIT = 100_000.0  # requests per second: effectively unlimited for tests


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    keys = tmp_path_factory.mktemp("sim") / "cdp_api_key.json"
    # "full": these tests are about the API's shapes, each print fills what it touches
    # whole; the default, partial fill model is tested on its own (test_sim_server)
    server = SimServer(
        keys_file=keys,
        rate_limit_per_s=FAST_LIMIT,
        public_rate_limit_per_s=FAST_LIMIT,
        fill_model="full",
    )
    with server:
        yield server


@pytest.fixture
def api(sim: SimServer) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.close()


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def make(**options: Any) -> SimServer:
        options.setdefault("rate_limit_per_s", FAST_LIMIT)
        options.setdefault("public_rate_limit_per_s", FAST_LIMIT)
        if "state" not in options and "state_path" not in options:
            options.setdefault("fill_model", "full")  # as `sim` above
        server = SimServer(**options)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
