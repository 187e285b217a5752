"""Notebooks read at a person's pace tell the same story as notebooks run at once.

Each selected notebook runs twice in fresh kernels, at the same time: straight through,
and with a pause between code cells (`TRADEKIT_NOTEBOOK_PAUSE_S`, 10 s by default: a
reader). Both runs must be free of errors, show the same kinds of output in every cell,
and, for the live notebooks (03, 04), the same facts read from the notebook's own
objects just before its last cell (the checks live here, not in the notebook).

Which notebooks: 03 and 04 (the two on a live market) always, and those named in
`TRADEKIT_PACED_NOTEBOOKS` ("01,02", or "all" as `make test-paced` does: about 4 minutes
at 10 s, notebook 01's 23 code cells being the longest). `test_notebooks.py` runs the
others straight through.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from nbtools import LIVE_NOTEBOOKS, execute_notebook, notebook_paths, output_shape, require

PAUSE_S = float(os.environ.get("TRADEKIT_NOTEBOOK_PAUSE_S", "10"))
SELECTED = os.environ.get("TRADEKIT_PACED_NOTEBOOKS", "")

# Read in the kernel of notebook 03 before its last cell (`await session.close()`).
STORY_03 = """
import json as _json
_store, _pf = session.store, session.portfolio
_events = [r for r in _store.journal(kinds="event") if r["type"] == "TradingStateChanged"]
_paused = [r for r in _events if r["payload"]["state"] == "PAUSED"]
_halted = [r for r in _events if r["payload"]["state"] == "HALTED"]
_buys = [r for r in _store.journal(kinds="command") if r["type"] == "PlaceLimitBuy"]
_sol_paused = _paused[0]["seq"] if _paused else None
_halt_seq = min(r["seq"] for r in _halted) if _halted else None
_positions = [r for r in _pf.status() if r["open_size"]]
print(_json.dumps({
    "refused": bool(refusal) and "EntrySkipped" == refusal["type"],
    "paused": sorted({r["product_id"] for r in _paused}),
    "no SOL entry while paused": not [b for b in _buys if b["product_id"] == "SOL-USD"
                                      and _sol_paused < b["seq"] < _halt_seq],
    "halted": sorted({r["product_id"] for r in _halted}),
    "no entry after the kill": not [b for b in _buys if b["seq"] > max(r["seq"] for r in _halted)],
    "controls on market time": all(abs(r["ts"] - _pf.drivers[r["product_id"]].decision.last_ts)
                                   < 600 * 10**9 for r in _events),
    "open positions keep a stop": all(r["stop"] is not None for r in _positions),
    "monitor": [monitor.closed, "stopped" in monitor.header.value, monitor.errors],
    "running": _pf.running,
}))
"""

# Read in the kernel of notebook 04 before its last cell.
STORY_04 = """
import json as _json
_store = session.store
_ex = session.sim.call(lambda st: st.exchange.list_fills())
_at_exchange = {(f.trade_id, f.order_id, str(f.price), str(f.size), str(f.commission))
                for f in _ex}
_orders = {o["client_order_id"]: o["order_id"] for o in _store.order_history()}
_stored = [(f["trade_id"], _orders.get(f["client_order_id"]), str(f["price"]), str(f["size"]),
            str(f["fee"])) for f in _store.fills()]
print(_json.dumps({
    "reconnected": session.feed.stats.reconnects > 0,
    "resynced": session.feed.stats.resyncs > 0,
    "traded": session.portfolio.stats.messages > 0,
    "every stored fill is at the exchange": set(_stored) <= _at_exchange,
    "no fill booked twice": len(_stored) == len(set(_stored)),
    "monitor": [monitor.closed, "stopped" in monitor.header.value, monitor.errors],
}))
"""

STORIES = {"03-portfolio.ipynb": STORY_03, "04-live-feeds.ipynb": STORY_04}
EXPECTED = {
    "03-portfolio.ipynb": {
        "refused": True,
        "paused": ["SOL-USD"],
        "no SOL entry while paused": True,
        "halted": ["BTC-USD", "ETH-USD", "SOL-USD"],
        "no entry after the kill": True,
        "controls on market time": True,
        "open positions keep a stop": True,
        "monitor": [True, True, []],
        "running": False,
    },
    "04-live-feeds.ipynb": {
        "reconnected": True,
        "resynced": True,
        "traded": True,
        "every stored fill is at the exchange": True,
        "no fill booked twice": True,
        "monitor": [True, True, []],
    },
}


def _selected():
    paths = notebook_paths()
    if SELECTED == "all":
        return paths
    wanted = [s.strip() for s in SELECTED.split(",") if s.strip()]
    return [
        p for p in paths if p.name in LIVE_NOTEBOOKS or any(p.name.startswith(w) for w in wanted)
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every selected notebook, straight through and paced, all at once (the paced runs
    mostly wait: together they take as long as the longest one)."""
    require("nbclient", "nbformat", "ipykernel", "ipywidgets", "plotly", "anywidget", "pandas")
    jobs = {}
    with ThreadPoolExecutor(2 * len(_selected())) as pool:
        for path in _selected():
            probe = STORIES.get(path.name)
            for mode, pause in (("now", 0.0), ("paced", PAUSE_S)):
                workdir = tmp_path_factory.mktemp(f"{path.stem}-{mode}")
                jobs[path.name, mode] = pool.submit(
                    execute_notebook, path, workdir, pause_s=pause, before_last=probe
                )
        return {key: job.result() for key, job in jobs.items()}


@pytest.mark.parametrize("path", _selected(), ids=lambda p: p.name)
def test_read_at_a_persons_pace_the_notebook_tells_the_same_story(path, runs):
    nb_now, facts_now, t_now = runs[path.name, "now"]
    nb_paced, facts_paced, t_paced = runs[path.name, "paced"]
    print(f"{path.name}: at once {t_now:.1f} s, paced ({PAUSE_S:g} s a cell) {t_paced:.1f} s")
    for nb in (nb_now, nb_paced):
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, errors
        shown = json.dumps([c.get("outputs", []) for c in nb.cells])
        for secret_marker in ("PRIVATE KEY", "privateKey", "Bearer "):
            assert secret_marker not in shown
    assert output_shape(nb_paced) == output_shape(nb_now)
    if path.name in STORIES:
        assert facts_now == EXPECTED[path.name]
        assert facts_paced == facts_now
