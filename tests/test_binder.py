"""Binder proven here: a fresh environment made from `binder/requirements.txt` alone (and
`binder/postBuild`, as repo2docker runs them) executes every notebook.

A class clicks a Binder link and must get every notebook working; this builds what
Binder builds (a new venv, nothing from the development one: no dev extra, no backtest
extra unless the requirements name it) and runs each notebook in a kernel of that venv.
It takes about two minutes, so it runs as its own step of `make test`
(`make test-binder`, which sets TRADEKIT_BINDER_TEST=1: tests/conftest.py collects it
only then), not inside the default suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "notebook"))


def _run(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{args[:4]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_a_fresh_environment_from_binder_requirements_runs_every_notebook(tmp_path):
    import nbformat
    from helpers.nbtools import raw_numbers

    venv = tmp_path / "binder-venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    # what repo2docker does: the requirements file from the repository root, then postBuild
    _run(
        [str(bin_ / "pip"), "install", "--quiet", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        env=env,
    )
    _run(["sh", "binder/postBuild"], cwd=ROOT, env=env)
    settings = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert json.loads(settings.read_text())["@jupyter-widgets/jupyterlab-manager:plugin"] == {
        "saveState": True
    }
    # nothing of the development venv leaks in: its packages are not there
    probe = _run(
        [str(bin_ / "python"), "-c", "import importlib.util as u; print(u.find_spec('pytest'))"],
        env=env,
    )
    assert probe.stdout.strip() == "None"

    out = tmp_path / "executed"
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 7
    # a kernel of the Binder venv (its own ipykernel, from the notebook extra) runs each
    _run(
        [
            str(bin_ / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=240",
            "--ExecutePreprocessor.kernel_name=python3",
            f"--output-dir={out}",
            *map(str, notebooks),
        ],
        cwd=tmp_path,
        env=env,
    )
    for path in notebooks:
        nb = nbformat.read(out / path.name, as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, (path.name, errors)
        assert raw_numbers(nb) == [], path.name
