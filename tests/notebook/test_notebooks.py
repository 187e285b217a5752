"""The committed notebooks: stored clean, and each runs start to finish in a fresh kernel."""

from __future__ import annotations

import json
import time

import pytest
from helpers.nbtools import LIVE_NOTEBOOKS, notebook_paths, raw_numbers, require

EXPECTED = {
    "01-sync-single-pair.ipynb",
    "05-backtest-and-sweep.ipynb",
    "teaching-ratchet.ipynb",
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def test_the_notebooks_are_there():
    assert {p.name for p in notebook_paths()} >= EXPECTED


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs_and_with_a_kernelspec(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    # without a kernelspec, JupyterLab asks for a kernel in a dialog (blocks a browser test)
    assert nb["metadata"].get("kernelspec") == KERNELSPEC
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"
    assert "widgets" not in nb["metadata"], "saved widget state is an output too"


@pytest.mark.parametrize(
    "path", [p for p in notebook_paths() if p.name not in LIVE_NOTEBOOKS], ids=lambda p: p.name
)
def test_notebook_runs_headless_in_a_fresh_kernel(path, tmp_path):
    # 03 and 04 run straight through (and paced) in test_notebook_stories.py
    require("nbclient", "nbformat", "ipykernel", "ipywidgets", "plotly", "anywidget", "pandas")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # scratch files go there
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    # secrets never reach a notebook output (01 and 04 trade with a simulator's key)
    shown = json.dumps([c.get("outputs", []) for c in nb.cells])
    for secret_marker in ("PRIVATE KEY", "privateKey", "Bearer "):
        assert secret_marker not in shown, f"{path.name} shows {secret_marker!r}"
    # numbers for people: no Decimal repr, no unrounded Decimal in anything a reader sees
    assert raw_numbers(nb) == [], f"{path.name} shows raw numbers"
    print(f"{path.name}: {elapsed:.1f} s")  # a figure to read, not a limit (the client's
    # per-cell timeout bounds the run)


def test_the_raw_number_check_sees_what_the_issue_saw():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="P&L -385.1365760000000\n"),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "{'pnl': Decimal('-1.5')}"}, execution_count=1
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<td title='0.05000000'>0.05</td><td>59,696.52</td>"},
        ),
    ]
    nb.cells = [cell]
    found = raw_numbers(nb)
    assert len(found) == 2  # the hover's exact value is not a shown number
    assert "385.1365760000000" in found[0] and "Decimal(" in found[1]
