"""`import tradekit` stays light: the notebook layer's heavy dependencies load only
when a chart, a panel or a DataFrame is asked for."""

import json
import subprocess
import sys

import pytest

HEAVY = ("plotly", "ipywidgets", "pandas", "pydantic", "numpy", "IPython")


def _loaded_after(code: str) -> list[str]:
    script = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import tradekit",
        "import tradekit.notebook",
        "from tradekit.notebook import charts, controls, display",
        "from tradekit.notebook import tables",
        "from tradekit.notebook import PortfolioMonitor",
        "from tradekit import format",
        "from tradekit.app import format",
    ],
)
def test_importing_loads_no_heavy_dependency(code):
    # the notebook modules import their libraries only when a chart, a panel or a
    # DataFrame is made
    assert _loaded_after(code) == [], f"`{code}` imported heavy modules"
