"""JupyterLab in headless Chromium: notebook 01's widgets and charts really render.

The recipe of ../shared/jupyter_testing.md: the system Chromium (Debian's package),
driven by the `playwright` Python package (never `playwright install`); JupyterLab on
127.0.0.1 with a random token over a COPY of the notebooks in a temporary folder; Run
All through the menu; fixtures of this module only (no pytest-playwright).

Outside CI a missing /usr/bin/chromium skips this module; in CI (`CI` set) it fails:
`make test` installs chromium there. A screenshot of the run is saved to
tests/notebook/artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nbtools import ARTIFACTS, IN_CI, NOTEBOOKS, require

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = "01-sync-single-pair.ipynb"
SCREENSHOT = ARTIFACTS / "01-sync-single-pair.png"
PANEL_SCREENSHOT = ARTIFACTS / "stepper-panel.png"
CHART_SCREENSHOT = ARTIFACTS / "ratchet-chart.png"

# Lab settings for a quiet, deterministic page: no news toast, every cell in the DOM.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# "done" when every code cell has run ([n] prompts), "error" as soon as an error shows:
# after a cell raises, the later cells never run, so waiting for "done" alone would
# only time out.
ALL_RUN_OR_ERROR = """() => {
    const stderr = '[data-mime-type="application/vnd.jupyter.stderr"]';
    if (document.querySelector('.jp-OutputArea-output' + stderr)) return "error";
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
    if (prompts.length && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))) return "done";
    return false;
}"""


def _browser_or_skip() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message + ": CI must install it (make test does)")
        pytest.skip(message)
    require("playwright", "jupyterlab", "ipywidgets", "plotly", "anywidget")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 over a copy of the notebooks: (base url, token)."""
    _browser_or_skip()
    root = tmp_path_factory.mktemp("lab-notebooks")
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    home = tmp_path_factory.mktemp("lab-home")
    settings = home / "settings"
    for name, value in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    port = _free_port()
    token = secrets.token_hex(16)
    log = (home / "jupyter.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{_tail(home)}")
            try:
                with urllib.request.urlopen(f"{base}/api?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer in 60 s:\n{_tail(home)}")
            time.sleep(0.25)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _tail(home: Path) -> str:
    return (home / "jupyter.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


def test_notebook_01_renders_its_widgets_and_charts_in_jupyterlab(lab, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    base, token = lab
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=60_000)
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        # a kernel dialog should not show (the notebook names its kernel), but if it does
        with contextlib.suppress(PlaywrightTimeout):
            page.locator('.jp-Dialog button:has-text("Select")').click(timeout=2_000)
        page.wait_for_selector(
            '.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000
        )

        page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        page.click("text=Run All Cells")
        state = page.wait_for_function(ALL_RUN_OR_ERROR, timeout=120_000).json_value()
        if state == "error":
            text = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').first
            pytest.fail(f"a cell raised in JupyterLab:\n{text.inner_text()[:3000]}")

        # the widgets and the charts are in the page
        page.wait_for_selector(".tradekit-stepper .widget-button", timeout=30_000)
        assert page.locator(".widget-button").count() >= 5
        page.wait_for_selector(".js-plotly-plot", timeout=30_000)
        # the live chart, the stepper's chart (FigureWidgets) and the static figure
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=30_000
        )

        # click "step": the status line changes
        status = page.locator(".tradekit-status")
        before = status.inner_text()
        assert "cursor" in before
        step = page.locator('.tradekit-stepper .widget-button:text-is("step")')
        assert step.count() == 1
        step.scroll_into_view_if_needed()
        step.click()
        page.wait_for_function(
            "old => document.querySelector('.tradekit-status').innerText !== old",
            arg=before,
            timeout=30_000,
        )
        after = status.inner_text()
        assert after != before and "step: " in after
        assert page.locator(".tradekit-errors .jp-OutputArea-output").count() == 0

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(".tradekit-stepper").screenshot(path=str(PANEL_SCREENSHOT))
        page.screenshot(path=str(SCREENSHOT))
        static = page.locator(".jp-OutputArea-output.js-plotly-plot").last  # from fig.show()
        static.scroll_into_view_if_needed()
        static.screenshot(path=str(CHART_SCREENSHOT))
    finally:
        if page_errors:
            print("page errors:", *page_errors, sep="\n  ")
        page.close()
