"""The committed notebooks: stored clean, and each runs start to finish in a fresh kernel."""

from __future__ import annotations

import json
import time

import pytest
from nbtools import LIVE_NOTEBOOKS, notebook_paths, require

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
    print(f"{path.name}: {elapsed:.1f} s")  # a figure to read, not a limit (the client's
    # per-cell timeout bounds the run)
