"""Shared helpers of the notebook-layer tests (no __init__.py: imported by name)."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "notebook" / "artifacts"
IN_CI = bool(os.environ.get("CI"))
# run (straight through and paced) by test_notebook_stories.py, which checks their story
LIVE_NOTEBOOKS = frozenset({"03-portfolio.ipynb", "04-live-feeds.ipynb"})


def require(*modules: str) -> None:
    """Import the notebook extra's modules: skip when missing, but fail in CI (where
    `make test` installs them, so a missing one is a broken set-up, not a choice)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            message = f"{name} is not installed ({exc}); install the notebook extra"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def demo_engine(seed: int = 7, ticks: int = 20_000, run_id: str = "t"):
    from tradekit.demo import DemoSetup
    from tradekit.store.sqlite import Store

    setup = DemoSetup(seed=seed, ticks=ticks)
    return setup, setup.engine(Store(":memory:"), setup.exchange(), run_id)


def execute_notebook(
    path: Path,
    workdir: Path,
    *,
    pause_s: float = 0.0,
    before_last: str | None = None,
    after_cell: dict[int, str] | None = None,
    timeout: int = 120,
) -> tuple[Any, dict[str, Any] | None, float]:
    """Run a notebook in a fresh kernel, a cell at a time, waiting `pause_s` between two
    code cells (a person reading); `before_last` is code run just before the last code
    cell (a test's look at the notebook's own objects) whose last line prints JSON;
    `after_cell` maps a cell's index to code run right after it (what a reader does
    there: press a button, drag a slider). Its output is not kept.
    Returns (the executed notebook, that JSON or None, seconds taken)."""
    import json
    import time

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    facts = None
    start = time.monotonic()
    with client.setup_kernel():
        for i in code_cells:
            if i == code_cells[-1] and before_last is not None:
                probe = nbformat.v4.new_code_cell(before_last)
                nb.cells.append(probe)
                client.execute_cell(probe, len(nb.cells) - 1)
                nb.cells.pop()
                text = "".join(
                    o.get("text", "") for o in probe.outputs if o.output_type == "stream"
                )
                facts = json.loads(text.strip().splitlines()[-1])
            if pause_s and i != code_cells[0]:
                time.sleep(pause_s)
            client.execute_cell(nb.cells[i], i)
            action = (after_cell or {}).get(i)
            if action is not None:
                act = nbformat.v4.new_code_cell(action)
                nb.cells.append(act)
                client.execute_cell(act, len(nb.cells) - 1)
                nb.cells.pop()
                errors = [o for o in act.outputs if o.output_type == "error"]
                assert not errors, f"the reader's action after cell {i} failed: {errors}"
    return nb, facts, time.monotonic() - start


def output_shape(nb: Any) -> list[tuple[int, tuple[str, ...]]]:
    """Per code cell, the kinds of its outputs (mime types, streams, errors): what a
    reader sees, without the figures that depend on the market's timing."""
    shape = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        kinds = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                kinds.append(f"stream:{o.name}")
            elif o.output_type == "error":
                kinds.append(f"error:{o.ename}")
            else:
                kinds.append(max(o.get("data", {}), key=_mime_rank))
        shape.append((i, tuple(kinds)))
    return shape


def _mime_rank(mime: str) -> int:
    order = ["text/plain", "text/html", "application/vnd.plotly.v1+json"]
    return (
        order.index(mime)
        if mime in order
        else len(order) + (mime.startswith("application/vnd.jupyter.widget"))
    )


# -- numbers for people in what a notebook shows -------------------------------------------

# A Decimal's repr, a number with more decimals than any product's increment (8), or a
# fraction padded with zeros (`-385.1365760000000`, `0.05000000`): raw, not for people.
RAW_NUMBER = re.compile(r"Decimal\(|\d\.\d{9,}|\d\.\d*[1-9]0{3,}(?!\d)")
# where a table deliberately keeps the exact value: the hover (title attribute), and CSS
_NOT_SHOWN = re.compile(r"""title=(?:'[^']*'|"[^"]*")|<style[^>]*>.*?</style>""", re.S)
_WIDGET_TEXT = ("HTMLModel", "LabelModel", "HTMLMathModel", "TextareaModel")


def shown_texts(nb: Any) -> list[tuple[str, str]]:
    """(where, text) of everything a reader sees in an executed notebook: streams,
    errors, the richest of each display's text forms (HTML before plain text: what
    JupyterLab renders), and the text of the HTML and label widgets it left."""
    out: list[tuple[str, str]] = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            where = f"cell {i}"
            if o.output_type == "stream":
                out.append((where, o.text))
            elif o.output_type == "error":
                out.append((where, f"{o.ename}: {o.evalue}"))
            else:
                data = o.get("data", {})
                if any(m.startswith("application/vnd.") for m in data):
                    continue  # a widget or a chart (its state is read below)
                for mime in ("text/html", "text/markdown", "text/plain"):
                    if mime in data:
                        text = data[mime]
                        out.append((where, "".join(text) if isinstance(text, list) else text))
                        break
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model_id, model in state.get("state", {}).items():
        if model.get("model_name") in _WIDGET_TEXT:
            value = model.get("state", {}).get("value")
            if value:
                out.append((f"widget {model_id[:8]}", str(value)))
        desc = model.get("state", {}).get("description")
        if desc:
            out.append((f"widget {model_id[:8]} label", str(desc)))
    return out


def raw_numbers(nb: Any) -> list[str]:
    """Every raw number a reader would see (empty: all numbers are for people)."""
    found = []
    for where, text in shown_texts(nb):
        visible = _NOT_SHOWN.sub("", text)
        for m in RAW_NUMBER.finditer(visible):
            lo, hi = max(0, m.start() - 60), m.end() + 30
            found.append(f"{where}: …{visible[lo:hi]}…")
    return found
