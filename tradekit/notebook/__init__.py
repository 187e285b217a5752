"""The notebook layer: a live portfolio monitor, Plotly ratchet charts, ipywidgets
controls, readable tables.

Needs the `notebook` extra (`pip install -e '.[notebook]'`). Nothing here is imported by
`import tradekit`, and importing this package itself loads none of plotly, ipywidgets
or pandas: each submodule imports them when it is first used.

    from tradekit.notebook import charts, controls, tables, PortfolioMonitor
    fig = charts.ratchet_figure(store, "BTC-USD", prices=setup.path())
    stepper = controls.EngineStepper(controls.demo_engine_factory())
    tables.positions(store)
    PortfolioMonitor(session)   # a running portfolio, watched live (see `monitor`)
    Replay(store)               # a run's journal, step by step (see `replay`)

`tables` is another name for `tradekit.notebook.display`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tradekit.notebook.charts as charts
    import tradekit.notebook.controls as controls
    import tradekit.notebook.display as display
    import tradekit.notebook.display as tables
    import tradekit.notebook.monitor as monitor
    import tradekit.notebook.replay as replay
    from tradekit.notebook.monitor import PortfolioMonitor
    from tradekit.notebook.replay import Replay

__all__ = [
    "PortfolioMonitor",
    "Replay",
    "charts",
    "controls",
    "display",
    "monitor",
    "replay",
    "tables",
]

_SUBMODULES = {
    "charts": "charts",
    "controls": "controls",
    "display": "display",
    "tables": "display",
    "monitor": "monitor",
    "replay": "replay",
}


def __getattr__(name: str) -> Any:
    if name == "PortfolioMonitor":
        return importlib.import_module(f"{__name__}.monitor").PortfolioMonitor
    if name == "Replay":
        return importlib.import_module(f"{__name__}.replay").Replay
    try:
        module = _SUBMODULES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return importlib.import_module(f"{__name__}.{module}")
