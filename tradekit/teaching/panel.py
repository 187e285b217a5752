"""The moderator's panel: a classroom's controls and leaderboard as ipywidgets.

`ModeratorPanel(base_url, token_file=...)` shows pause / resume, a speed, the three
injections (a gap, a WebSocket drop, a 429 burst), reset, and the leaderboard by P&L and
by process, refreshed on demand. Every button is one HTTP call to `/sim/classroom/...`
with the moderator token (the same calls a script can make); the panel only shows them.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import httpx

from tradekit.sim.admin import ADMIN_TOKEN_HEADER
from tradekit.sim.classroom import CLASSROOM

__all__ = ["ModeratorPanel", "leaderboard_html"]

SPEEDS = ("realtime", "2x", "5x", "10x", "50x")


def leaderboard_html(board: dict[str, Any]) -> str:
    """Both rankings as one HTML table each (P&L in cents, as people read it)."""
    rows = {r["student"]: r for r in board["students"]}

    def table(title: str, order: list[str], cols: list[tuple[str, str]]) -> str:
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
        body = ""
        for rank, student in enumerate(order, 1):
            r = rows[student]
            cells = "".join(
                f"<td>{html.escape('-' if r[k] is None else str(r[k]))}</td>" for k, _ in cols
            )
            body += f"<tr><td>{rank}</td><td>{html.escape(student)}</td>{cells}</tr>"
        return (
            f"<b>{html.escape(title)}</b><table><tr><th>#</th><th>student</th>{head}</tr>"
            f"{body}</table>"
        )

    return table("By P&L", board["by_pnl"], [("pnl", "P&L (USD)")]) + table(
        "By process",
        board["by_process"],
        [
            ("unprotected_s", "held without a stop (s)"),
            ("refused", "refused orders"),
            ("requests_per_position", "requests per position"),
        ],
    )


class ModeratorPanel:
    """Controls and leaderboard of the classroom at `base_url` (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        import ipywidgets as w

        if (token is None) == (token_file is None):
            raise ValueError("give the moderator token or its file (token_file), not both")
        self._token = token if token is not None else Path(token_file).read_text().strip()  # type: ignore[arg-type]
        self.url = base_url.rstrip("/") + CLASSROOM
        self._http = httpx.Client(timeout=timeout_s)
        self.status = w.HTML()
        self.board = w.HTML()
        self.buttons: dict[str, Any] = {}
        for name, label in (
            ("pause", "Pause"),
            ("resume", "Resume"),
            ("gap", "Gap -2%"),
            ("ws_drop", "Drop WebSockets (3 s)"),
            ("rate_limit_burst", "429 burst (3 s)"),
            ("reset", "Reset"),
            ("refresh", "Leaderboard"),
        ):
            button = w.Button(description=label)
            button.on_click(lambda _b, name=name: self.press(name))
            self.buttons[name] = button
        self.speed = w.Dropdown(options=SPEEDS, value="realtime", description="speed")
        self.speed.observe(lambda change: self.control("speed", speed=change["new"]), "value")
        self.widget = w.VBox(
            [
                w.HBox([self.buttons["pause"], self.buttons["resume"], self.speed]),
                w.HBox([self.buttons[n] for n in ("gap", "ws_drop", "rate_limit_burst")]),
                w.HBox([self.buttons["reset"], self.buttons["refresh"]]),
                self.status,
                self.board,
            ]
        )

    def __repr__(self) -> str:
        return f"ModeratorPanel({self.url!r})"  # never the token

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def press(self, name: str) -> None:
        """What a button does (callable from code too)."""
        if name == "refresh":
            self.refresh()
        elif name == "gap":
            self.control("inject", kind="gap", pct="-0.02")
        elif name in ("ws_drop", "rate_limit_burst"):
            self.control("inject", kind=name, seconds=3)
        else:
            self.control(name)

    def control(self, action: str, **body: Any) -> dict[str, Any] | None:
        """POST one control; the panel's status line says what the server answered."""
        try:
            r = self._http.post(
                f"{self.url}/{action}", json=body, headers={ADMIN_TOKEN_HEADER: self._token}
            )
        except httpx.HTTPError as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return None
        answer: dict[str, Any] = r.json()
        if r.status_code != 200:
            message = html.escape(str(answer.get("message", answer)))
            self.status.value = f"<span style='color:#b00'>{action}: {message}</span>"
            return None
        speed = "full speed" if answer["speed"] is None else f"{answer['speed']:g}x"
        state = "paused" if answer["paused"] else "running"
        self.status.value = html.escape(f"{action}: {state} at {speed}, {answer['trades']} trades")
        return answer

    def refresh(self) -> dict[str, Any]:
        r = self._http.get(f"{self.url}/leaderboard", headers={ADMIN_TOKEN_HEADER: self._token})
        r.raise_for_status()
        board: dict[str, Any] = r.json()
        self.board.value = leaderboard_html(board)
        return board

    def close(self) -> None:
        self._http.close()
