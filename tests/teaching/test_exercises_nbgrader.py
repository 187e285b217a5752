"""The exercises as an nbgrader course: generate_assignment, then autograde submissions.

A temporary course holds the four exercises as its source; nbgrader releases them (no
solution, no hidden test left in), then grades a student who submits the solutions (full
marks) and three students who each left one of the bug hunt's planted bugs in (only that
bug's check fails), twice: the same marks both times.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from tradekit.teaching.bughunt import METHODS, PlantedLoop

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "notebooks" / "exercises"
# nbgrader's own gradebook code warns on every autograde (SQLAlchemy autoflush)
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ASSIGNMENTS = ["ratchet", "bug-hunt", "gap-seed", "port-async"]
POINTS = {"ratchet": 3.0, "bug-hunt": 3.0, "gap-seed": 2.0, "port-async": 2.0}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(EXERCISES, root / "source")
    # nbgrader runs `alembic` (its database migrations) from PATH
    bin_dir = str(Path(sys.executable).parent)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = bin_dir + os.pathsep + old_path
    config = Config()
    config.CourseDirectory.root = str(root)
    config.ExecutePreprocessor.timeout = 30  # nbgrader's default; each cell needs ~1 s
    api = NbGraderAPI(config=config)
    try:
        for name in ASSIGNMENTS:
            result = api.generate_assignment(name, force=True)
            assert result["success"], result["log"]
        yield root, api
    finally:
        os.environ["PATH"] = old_path


def submit(root: Path, student: str, assignment: str, answers: dict[str, str]) -> None:
    """The source notebook (the solutions) with some answer cells replaced."""
    nb = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers.pop(grade_id)
    assert not answers, f"no answer cells {sorted(answers)}"
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{assignment}.ipynb")


def marks(root: Path, assignment: str, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(assignment, student)
        return {g.name: g.score for nb in sub.notebooks for g in nb.grades}


def planted(method: str) -> str:
    """The planted bug's method as a notebook answer (a plain function taking self), as a
    student would paste it back (with what its annotations name)."""
    source = textwrap.dedent(inspect.getsource(getattr(PlantedLoop, method)))
    return "from tradekit.exchange.types import Fill\n\n" + source


def test_the_release_holds_no_solution_and_no_hidden_test(course: Any) -> None:
    root, _ = course
    for name in ASSIGNMENTS:
        text = (root / "release" / name / f"{name}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "raise NotImplementedError()" in text
        assert "ipywidgets" not in text  # no check depends on a widget


def test_the_solutions_score_full_marks(course: Any) -> None:
    root, api = course
    for name in ASSIGNMENTS:
        submit(root, "alice", name, {})
        result = api.autograde(name, "alice", force=True)
        assert result["success"], result["log"]
        got = marks(root, name, "alice")
        assert sum(got.values()) == POINTS[name], (name, got)


def test_each_planted_bug_fails_only_its_own_check_and_regrades_the_same(course: Any) -> None:
    root, api = course
    for method in METHODS:
        submit(root, f"bug-{method}", "bug-hunt", {method: planted(method)})
    first: dict[str, dict[str, float]] = {}
    for method in METHODS:
        student = f"bug-{method}"
        assert api.autograde("bug-hunt", student, force=True)["success"]
        first[method] = marks(root, "bug-hunt", student)
        assert first[method] == {f"test_{m}": 0.0 if m == method else 1.0 for m in METHODS}
        graded = root / "autograded" / student / "bug-hunt" / "bug-hunt.ipynb"
        nb = nbformat.read(graded, as_version=4)
        cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == f"test_{method}")
        feedback = "".join(o.get("evalue", "") for o in cell.outputs)
        words = {
            "should_move": "the stop was moved down",
            "move_stop": "a new stop was placed before the cancel of the old one was confirmed",
            "book": "a fill was booked twice",
        }
        assert words[method] in feedback, feedback  # the student reads why, not just that
        assert feedback.startswith("step ")
    for method in METHODS:
        student = f"bug-{method}"
        assert api.autograde("bug-hunt", student, force=True)["success"]
        assert marks(root, "bug-hunt", student) == first[method]
