"""The migration-path notebooks (ADR-004, phases 1-4): one per phase, and what notebook
02 claims about the kernel's loop really shows in a headless run.

`test_notebooks.py` already runs every notebook start to finish (each one asserts its
own results: parity with the sync engine, the risk refusal, the kill switch, reconnects
and fills). What it cannot see is whether notebook 02's background run really ran
*while* later cells did: its cells tolerate a slow reader (run by hand, the task may be
done before the first read), so the strict check is made here, on a fresh execution.
"""

from __future__ import annotations

import json
import re

from helpers.nbtools import NOTEBOOKS, require

PHASES = {
    1: "01-sync-single-pair.ipynb",
    2: "02-async-single-pair.ipynb",
    3: "03-portfolio.ipynb",
    4: "04-live-feeds.ipynb",
}
READ = re.compile(r"(first|second) read:\s+cursor\s+(\d+) of (\d+), task done: (True|False)")


def test_every_phase_has_its_notebook():
    for phase, name in PHASES.items():
        nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        title = "".join(nb["cells"][0]["source"]).splitlines()[0]
        assert title.startswith(f"# Phase {phase} "), (name, title)


def test_notebook_01_runs_against_the_simulator_and_stops_it_in_its_last_cell():
    nb = json.loads((NOTEBOOKS / PHASES[1]).read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"]]
    section = next(i for i, s in enumerate(sources) if s.startswith("## Against the simulator"))
    code = "\n".join(
        s for s, c in zip(sources, nb["cells"], strict=True) if c["cell_type"] == "code"
    )
    assert "Arrives with the simulator" not in "\n".join(sources)
    assert "SimServer(" in code and "DrivenExchange(" in code and "CoinbaseRest(" in code
    assert sources[-1].startswith("cleanup.close()")  # the simulator stops in the last cell
    assert section < len(sources) - 1


def test_notebook_02_background_run_progresses_while_later_cells_run(tmp_path):
    require("nbclient", "nbformat", "ipykernel", "pandas")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / PHASES[2], as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    streams = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream"]
    assert not [o.text for o in streams if o.name == "stderr"]
    reads = {
        m.group(1): (int(m.group(2)), int(m.group(3)), m.group(4) == "True")
        for o in streams
        for m in READ.finditer(o.text)
    }
    (first, total, first_done), (second, _, second_done) = reads["first"], reads["second"]
    # the first read ran while the task worked, and the task moved on before the second
    assert not first_done and 0 <= first < total
    assert first < second <= total
    assert not second_done or second == total
