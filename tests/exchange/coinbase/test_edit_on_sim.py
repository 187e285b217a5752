"""Stops moved in place on tradekit sim: the engine edits when the exchange can, and
falls back to cancel-then-place when the simulator switches the capability off."""

from __future__ import annotations

from pathlib import Path

from tradekit.demo import DemoSetup
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.client import DrivenExchange, SimMarket
from tradekit.sim.server import SimServer
from tradekit.store.sqlite import Store


def run_on_sim(tmp_path: Path, edit_enabled: bool) -> list[dict]:
    setup = DemoSetup(seed=7, ticks=2000)
    keys = tmp_path / f"key-{edit_enabled}.json"
    with SimServer(keys_file=keys, balances=setup.balances(), rate_limit_per_s=1e6) as sim:
        sim.call(lambda st: setattr(st, "edit_stop_enabled", edit_enabled))
        rest = CoinbaseRest(Credentials.from_file(keys), sim.base_url, can_edit_stops=True)
        driven = DrivenExchange(rest, SimMarket(sim.base_url, admin_token=sim.admin_token))
        with Store(tmp_path / f"s-{edit_enabled}.sqlite") as store:
            engine = setup.engine(store, driven, "edit")
            engine.run()
            rows = store.journal()
            live = sim.call(lambda st: st.exchange.list_open_orders("BTC-USD"))
            stops = [o for o in live if o.stop_price is not None]
            pos = engine.decision.position
            if pos is not None:  # exactly one stop, at the engine's level
                assert len(stops) == 1 and stops[0].stop_price == pos.stop_trigger
        driven.close()
    return rows


def test_stops_move_in_place_when_the_simulator_allows_it(tmp_path: Path) -> None:
    rows = run_on_sim(tmp_path, edit_enabled=True)
    types = [r["type"] for r in rows]
    assert types.count("EditStopOrder") > 3 and types.count("OrderEdited") > 3
    moves = [r for r in rows if r["type"] == "CancelOrder" and r["payload"]["then"] is not None]
    # a move of the levels is an edit, and so is a resize (a partial entry fill: the
    # simulator fills by traded size): no unprotected gap at all
    assert moves == []
    sizes = {r["payload"]["size"] for r in rows if r["type"] == "EditStopOrder"}
    assert len(sizes) > 1  # the stop grew by edit as the entry filled
    edits = [r for r in rows if r["kind"] == "outcome" and r["payload"].get("edited")]
    assert len(edits) == types.count("OrderEdited")  # each journaled with 0 ms unprotected
    assert all(e["payload"]["unprotected_ms"] == 0 for e in edits)


def test_refused_edits_fall_back_to_cancel_then_place(tmp_path: Path) -> None:
    rows = run_on_sim(tmp_path, edit_enabled=False)
    types = [r["type"] for r in rows]
    assert "EditRejected" in types
    moves = [r for r in rows if r["type"] == "CancelOrder" and r["payload"]["then"] is not None]
    assert moves


def test_an_edit_the_exchange_already_has_is_settled_by_a_lookup(tmp_path: Path) -> None:
    """Refused as EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST (an earlier try took, its answer
    lost): the order's levels, looked up, settle the edit; it is not a refusal that would
    send the stop back to cancel-then-place."""
    from tradekit.core import EditStopOrder, OrderEdited

    setup = DemoSetup(seed=7, ticks=300)
    keys = tmp_path / "key.json"
    with SimServer(keys_file=keys, balances=setup.balances(), rate_limit_per_s=1e6) as sim:
        rest = CoinbaseRest(Credentials.from_file(keys), sim.base_url, can_edit_stops=True)
        driven = DrivenExchange(rest, SimMarket(sim.base_url, admin_token=sim.admin_token))
        with Store(tmp_path / "s.sqlite") as store:
            engine = setup.engine(store, driven, "equal")
            engine.run()
            [stop] = engine.decision.live_stops()
            assert stop.order_id is not None and stop.stop_price is not None
            lower = stop.stop_price - 1
            limit = stop.limit_price - 1
            assert rest.edit_order(stop.order_id, stop.size, limit, lower).success  # took
            again = rest.edit_order(stop.order_id, stop.size, limit, lower)
            assert again.failure_reason == "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
            cmd = EditStopOrder(stop.client_order_id, stop.order_id, stop.size, lower, limit, 0)
            events = engine.driver.perform(cmd)
            assert [type(e) for e in events][:1] == [OrderEdited]
            edited = events[0]
            assert (edited.stop_price, edited.limit_price) == (lower, limit)
        driven.close()
