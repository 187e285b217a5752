"""Notebooks read at a person's pace tell the same story as notebooks run at once.

Each selected notebook runs twice in fresh kernels, at the same time: straight through,
and with a pause between code cells (`TRADEKIT_NOTEBOOK_PAUSE_S`, 10 s by default: a
reader). Both runs must be free of errors, show the same kinds of output in every cell,
and, for the live notebooks (03, 04), the same facts read from the notebook's own
objects just before its last cell (the checks live here, not in the notebook).

Which notebooks: 03 and 04 (the two on a live market) always, and those named in
`TRADEKIT_PACED_NOTEBOOKS` ("01,02", or "all" as `make test-paced` does: about 4 minutes
at 10 s, notebook 01's 23 code cells being the longest). `test_notebooks.py` runs the
others straight through. Notebook 02's background run is also read at a person's pace
always: it must still be working at the second read.

A reader also plays: `READERS` runs notebooks with what their text invites done in
between (the monitor's *stop*, or its kill switch, pressed right after it shows, in 03;
the sliders dragged before the cells that read them, in the lesson and in 05). Every
later cell must still work, answer in sentences, and say what the sliders show.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.nbtools import (
    LIVE_NOTEBOOKS,
    NOTEBOOKS,
    execute_notebook,
    notebook_paths,
    output_shape,
    raw_numbers,
    require,
)

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


ALWAYS_PACED = LIVE_NOTEBOOKS | {"02-async-single-pair.ipynb"}

# What a reader does after a cell (by the cell's index), and what the notebook must then
# show: (after_cell, probe run before the last cell, the facts expected from the probe).
READ_MONITOR_STOPPED = """
import asyncio as _asyncio
monitor.stop_button.click()  # the button, as a click in the browser presses it
for _ in range(300):
    if monitor.closed and not session.portfolio.running:
        break
    await _asyncio.sleep(0.1)
"""
PROBE_03_STOPPED = """
import json as _json
print(_json.dumps({"monitor": [monitor.closed, "stopped" in monitor.header.value,
                               monitor.errors], "running": session.portfolio.running}))
"""
DRAG_LESSON = """
trail_slider.value = 0.03  # a student drags the sliders first
ratchet_slider.value = 0.002
"""
PROBE_LESSON = """
import json as _json
print(_json.dumps({
    "label agrees": f"trail_pct {trail_slider.value:.3f}" in summary.value
                    and f"min_ratchet {ratchet_slider.value:.4f}" in summary.value,
    "shown": [str(last["trail_pct"]), str(last["min_ratchet"])],
}))
"""
DRAG_05 = """
trail.value = 0.05
ratchet.value = 0.001
"""
PROBE_05 = """
import json as _json
print(_json.dumps({
    "label agrees": f"trail_pct <b>{trail.value:.3f}</b>" in status.value
                    and f"min_ratchet <b>{ratchet.value:.4f}</b>" in status.value,
    "stop drawn": len(chart.widget.data[1].x) > 0,
    "x axis is time": chart.widget.layout.xaxis.type == "date",
}))
"""
READ_MONITOR_KILLED = """
import asyncio as _asyncio
monitor.kill_button.click()  # the kill switch asks first
monitor.kill_confirm.click()  # keeping the stops (the default choice)
for _ in range(300):
    if all(r["state"] == "HALTED" for r in session.portfolio.status()):
        break
    await _asyncio.sleep(0.1)
"""
PROBE_03_KILLED = """
import json as _json
print(_json.dumps({"monitor errors": monitor.errors,
                   "halted": sorted(r["product_id"] for r in session.portfolio.status()
                                    if r["state"] == "HALTED")}))
"""
READERS = {  # (notebook, what the reader does): (actions, probe, facts expected)
    ("03-portfolio.ipynb", "stop"): (
        {3: READ_MONITOR_STOPPED},
        PROBE_03_STOPPED,
        {"monitor": [True, True, []], "running": False},
    ),
    ("03-portfolio.ipynb", "kill"): (
        {3: READ_MONITOR_KILLED},
        PROBE_03_KILLED,
        {"monitor errors": [], "halted": ["BTC-USD", "ETH-USD", "SOL-USD"]},
    ),
    ("teaching-ratchet.ipynb", "drag"): (
        {6: DRAG_LESSON},
        PROBE_LESSON,
        {"label agrees": True, "shown": ["0.005", "0.002"]},
    ),
    ("05-backtest-and-sweep.ipynb", "drag"): (
        {16: DRAG_05},
        PROBE_05,
        {"label agrees": True, "stop drawn": True, "x axis is time": True},
    ),
}


def _selected():
    paths = notebook_paths()
    if SELECTED == "all":
        return paths
    wanted = [s.strip() for s in SELECTED.split(",") if s.strip()]
    return [p for p in paths if p.name in ALWAYS_PACED or any(p.name.startswith(w) for w in wanted)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every selected notebook, straight through and paced, all at once (the paced runs
    mostly wait: together they take as long as the longest one)."""
    require("nbclient", "nbformat", "ipykernel", "ipywidgets", "plotly", "anywidget", "pandas")
    jobs = {}
    with ThreadPoolExecutor(2 * len(_selected()) + len(READERS)) as pool:
        for path in _selected():
            probe = STORIES.get(path.name)
            for mode, pause in (("now", 0.0), ("paced", PAUSE_S)):
                workdir = tmp_path_factory.mktemp(f"{path.stem}-{mode}")
                jobs[path.name, mode] = pool.submit(
                    execute_notebook, path, workdir, pause_s=pause, before_last=probe
                )
        for (name, play), (actions, probe, _) in READERS.items():
            workdir = tmp_path_factory.mktemp(f"{name[:-6]}-{play}")
            jobs[name, play] = pool.submit(
                execute_notebook, NOTEBOOKS / name, workdir, before_last=probe, after_cell=actions
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
        assert raw_numbers(nb) == []
    assert output_shape(nb_paced) == output_shape(nb_now)
    if path.name in STORIES:
        assert facts_now == EXPECTED[path.name]
        assert facts_paced == facts_now
    if path.name == "02-async-single-pair.ipynb":
        # read at a person's pace, the background run is still working at both reads
        reads = [
            line
            for c in nb_paced.cells
            for o in c.get("outputs", [])
            if o.output_type == "stream"
            for line in o.text.splitlines()
            if " read:" in line
        ]
        assert len(reads) == 2 and all(r.endswith("task done: False") for r in reads), reads


@pytest.mark.parametrize("reader", sorted(READERS), ids="-".join)
def test_a_reader_who_plays_finds_every_later_cell_working(reader, runs):
    name = reader[0]
    nb, facts, _ = runs[reader]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert raw_numbers(nb) == []
    assert facts == READERS[reader][2]
    if reader == ("03-portfolio.ipynb", "kill"):
        # no pair wants in after the kill: the refusal cell says so at once
        text = "".join(o.text for o in nb.cells[5].outputs if o.output_type == "stream")
        assert text.startswith("No entry has been refused: no pair is active"), text
    if reader == ("03-portfolio.ipynb", "stop"):
        # the cells after the stop answer with a sentence (and the table), not a traceback
        said = [
            i
            for i, c in enumerate(nb.cells)
            for o in c.get("outputs", [])
            if o.output_type == "stream" and "The portfolio has stopped" in o.text
        ]
        assert said == [5, 7, 9], said
    if name == "teaching-ratchet.ipynb":
        # the comparison names what the sliders showed, not the notebook's defaults
        text = "".join(o.text for o in nb.cells[8].outputs if o.output_type == "stream")
        assert text.startswith("trail_pct 0.030 (3%), min_ratchet 0.0020 (0.2%):"), text
