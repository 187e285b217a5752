"""The layer rules and the absence of import cycles, as import-linter checks them.

The contracts are in pyproject.toml (`[tool.importlinter]`), each known exception named
there with why; docs/architecture.md draws the layers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_the_contracts_hold():
    # also fails when a named exception no longer exists (then remove it from the list)
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_package_has_a_layer():
    layered = set()
    for layer in contracts()["layers"]["layers"]:
        layered |= {name.strip() for name in str(layer).replace(":", "|").split("|")}
    packages = {p.name for p in (ROOT / "tradekit").iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in (ROOT / "tradekit").glob("*.py") if p.stem != "__init__"}
    assert packages | modules == layered


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/backstair.py", "import tradekit.engine.portfolio", "tradekit.core is not allowed"),
        ("engine/backstair.py", "from tradekit.app import session", "tradekit.engine is not"),
        ("exchange/backstair.py", "import tradekit.sim.state", "tradekit.exchange is not"),
        ("notebook/backstair.py", "from tradekit.app import format", "tradekit.app.format"),
        ("app/backstair.py", "from tradekit.exchange.coinbase._async import rest", "_async"),
    ],
)
def test_a_back_stair_is_caught(tmp_path, module, line, broken):
    # the same contracts on a copy of the package with one import that goes up
    shutil.copytree(
        ROOT / "tradekit", tmp_path / "tradekit", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tradekit" / module).write_text(line + "\n", encoding="utf-8")
    proc = lint(tmp_path)
    assert proc.returncode != 0
    assert broken in proc.stdout, proc.stdout
