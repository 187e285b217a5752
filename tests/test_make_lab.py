"""`make lab` never dirties the repository: JupyterLab works on copies in work/ (ignored
by git), so a notebook run and saved there leaves `git status` clean and the tracked
notebooks stored without outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout


def test_a_lab_run_saved_with_outputs_leaves_git_status_clean(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Makefile", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tracked")
    tracked = {p.name: p.read_bytes() for p in (repo / "notebooks").glob("*.ipynb")}

    # what `make lab` does before it starts JupyterLab, and where it points it
    subprocess.run(["make", "-s", "lab-work"], cwd=repo, check=True)
    dry = subprocess.run(
        ["make", "-n", "lab", "STAMP=", "LAB_SETTINGS="], cwd=repo, capture_output=True, text=True
    )
    assert "--ServerApp.root_dir=work" in dry.stdout
    # the walkthrough (the copy in work/) is the default page: a browser that does not
    # open by itself still lands there from the printed URL
    assert "--LabApp.default_url=/lab/tree/01-sync-single-pair.ipynb" in dry.stdout
    work = repo / "work"
    assert {p.name for p in work.glob("*.ipynb")} == set(tracked)

    # a user runs a notebook in the lab and saves it: outputs and widget state written
    # into the working copy (a real kernel's outputs)
    import nbformat
    from nbclient import NotebookClient

    path = work / "01-sync-single-pair.ipynb"
    nb = nbformat.read(path, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells = nb.cells[: first + 1]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[first].outputs or nb.cells[first].execution_count
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    (work / ".ipynb_checkpoints").mkdir(exist_ok=True)
    (work / "scratch.sqlite").write_bytes(b"run data")

    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    for p in (repo / "notebooks").glob("*.ipynb"):
        assert p.read_bytes() == tracked[p.name]
        cells = json.loads(p.read_text())["cells"]
        assert all(c.get("outputs", []) == [] for c in cells if c["cell_type"] == "code")

    # the next `make lab` keeps the user's saved copy (it is newer than the tracked one)
    saved = path.read_bytes()
    subprocess.run(["make", "-s", "lab-work"], cwd=repo, check=True)
    assert path.read_bytes() == saved
