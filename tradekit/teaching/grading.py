"""Who is doing an exercise, and their seed: the same in the student's kernel and in
nbgrader's autograde, so a regrade replays the market the student saw.

nbgrader runs a submission with its folder (`.../<student>/<assignment>/`) as the working
directory and `NBGRADER_EXECUTION` set; a student on JupyterHub works in
`~/<assignment>/` as `JUPYTERHUB_USER`. `TRADEKIT_STUDENT` and `TRADEKIT_ASSIGNMENT`
override both (a class run by hand).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from tradekit.teaching.scenario import student_seed

__all__ = ["my_seed", "whoami"]


def whoami(cwd: str | Path | None = None) -> tuple[str, str]:
    """(student, assignment) for the notebook running in `cwd` (default: the current)."""
    here = Path.cwd() if cwd is None else Path(cwd)
    student = os.environ.get("TRADEKIT_STUDENT")
    assignment = os.environ.get("TRADEKIT_ASSIGNMENT") or here.name
    if student is None:
        if os.environ.get("NBGRADER_EXECUTION"):
            student = here.parent.name  # nbgrader: <course>/<step>/<student>/<assignment>
        else:
            student = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    return student, assignment


def my_seed(base: int = 0, cwd: str | Path | None = None) -> int:
    """This student's seed for this assignment (see `student_seed`)."""
    student, assignment = whoami(cwd)
    return student_seed(base, student, assignment)
