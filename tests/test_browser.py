"""The playground in a real browser: JupyterLab on 127.0.0.1, headless Chromium via Playwright.

The test serves a temporary copy of notebooks/ (the repository's files are not touched), runs
every cell of 08_playground.ipynb, and drives the notebook's first playground: it types new
values into six controls (among them the task family's features, spread and minority share,
and the inner steps), picks a method and a normalisation, clicks Train and checks that the loss
and weights plots are redrawn without any error output. Then it chooses the preset "sine: MAML
vs joint (Finn)", checks that the sine family's controls replace the linear family's, clicks
Train again and checks the new plots and the status line of the sine run (MAML's held-out MSE
below joint training's). It prints the time from each click to the new plots.

Without /usr/bin/chromium or Playwright the test is skipped, except under CI (CI=true), where
a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/08_playground.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Time budget (the whole test stays under 90 s): the server must answer within SERVER_START_S;
# then every wait in the browser gets what is left of BROWSER_S, and quick actions (a click on
# an element that is already there) at most ACTION_MS; stopping the server takes <= STOP_S.
SERVER_START_S = 30
BROWSER_S = 45
ACTION_MS = 5_000
STOP_S = 8


def require_browser() -> None:
    """Skip (or, under CI, fail) when Chromium or Playwright is missing."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            reason = f"playwright is not importable ({exc})"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, but the browser test cannot run: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """Start JupyterLab on a copy of notebooks/; yield the notebook's URL; stop the server.

    Config, data, runtime, settings and workspace folders all live in ``tmp_path``, so the test
    neither reads nor writes the user's Jupyter files. Token authentication stays on.
    Windowing is off, so that cells far from the viewport stay in the page.
    """
    require_browser()
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    lab_settings = {  # no news pop-up; every cell stays in the page (no windowing)
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in lab_settings.items():
        path = tmp_path / "lab-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    port, token = free_port(), secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={tmp_path}",
               f"--IdentityProvider.token={token}",  # jupyter_server 2.x name of the option
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(server, port, token, log_path)
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        stop(server)


def wait_for_server(server: subprocess.Popen, port: int, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}",
                                        timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n"
                f"{log_path.read_text(errors='replace')[-2000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop the server and its kernel: SIGTERM to the server's own process group, then SIGKILL."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    try:  # the kernel is in the same group; make sure nothing of the group survives
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


EXECUTION_FINISHED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
    const last = prompts[prompts.length - 1];
    return prompts.length > 0 && !prompts.some(p => p.textContent.includes('*'))
        && /\\[\\d+\\]/.test(last.textContent);
}"""

ERROR_OUTPUTS = ('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
                 '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')


def assert_no_errors(page) -> None:
    assert page.locator(ERROR_OUTPUTS).count() == 0, page.locator(ERROR_OUTPUTS).all_inner_texts()
    text = page.locator(".jp-Notebook").inner_text()
    for marker in ("Traceback", "Error displaying widget", "Model not found"):
        assert marker not in text, f"the page shows {marker!r}"


def type_into_readout(page, root, control: str, value: str) -> None:
    """Edit a slider's readout (inside ``root``) as a user does: click, select all, type, Enter."""
    readout = root.locator(f".gamaml-{control} .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def budget(seconds: float):
    """A function giving what is left of ``seconds`` from now, in ms (fails when none is)."""
    end = time.monotonic() + seconds

    def left_ms() -> float:
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"the browser part took more than {seconds} s")
        return left * 1000

    return left_ms


def launch(playwright, left_ms):
    """Headless Chromium and a page of 1400 x 1000 pixels."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         timeout=left_ms())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(ACTION_MS)
    return browser, page


def run_all_cells(page, url: str, left_ms) -> None:
    """Open the notebook at ``url``, wait for an idle kernel, run every cell and wait for all."""
    page.goto(url, timeout=left_ms())
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=left_ms())
    # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=left_ms())
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    page.wait_for_function(EXECUTION_FINISHED, timeout=left_ms())


def test_playground_trains_and_redraws_in_the_browser(jupyterlab: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    left_ms = budget(BROWSER_S)
    with sync_playwright() as playwright:
        browser, page = launch(playwright, left_ms)
        try:
            run_all_cells(page, jupyterlab, left_ms)
            page.wait_for_selector(".gamaml-playground .gamaml-plot-loss[src^='blob:']",
                                   state="attached", timeout=left_ms())
            assert_no_errors(page)

            # the notebook shows two playgrounds (linear, then the sine preset): drive the first
            playground = page.locator(".gamaml-playground").first
            playground.scroll_into_view_if_needed()
            status = playground.locator(".gamaml-status")
            old_status = status.inner_text()

            def plot_src(name: str) -> str:
                return playground.locator(f".gamaml-plot-{name}").get_attribute("src")

            old_src = {name: plot_src(name) for name in ("loss", "weights")}

            type_into_readout(page, playground, "alpha", "0.3")
            type_into_readout(page, playground, "n-tasks", "20")
            # the family and the inner loop (issue 11): features, spread, steps, minority
            type_into_readout(page, playground, "n-features", "20")
            type_into_readout(page, playground, "spread", "2.0")
            type_into_readout(page, playground, "inner-steps", "2")
            type_into_readout(page, playground, "minority-frac", "0.2")
            # MAML and GA-MAML, as at the start (the method control is a drop-down list)
            playground.locator(".gamaml-method select").select_option("MAML + GA-MAML")
            playground.locator(".gamaml-normalization button:text-is('book')").click()
            page.wait_for_function(
                "() => document.querySelector('.gamaml-playground .gamaml-n-tasks "
                ".widget-readout').textContent.trim() === '20'", timeout=left_ms())
            assert playground.locator(".gamaml-alpha .widget-readout").inner_text().strip() \
                == "0.300"
            page.wait_for_timeout(300)  # moving controls must not train: nothing changes
            assert status.inner_text() == old_status
            assert plot_src("loss") == old_src["loss"]

            def train_and_wait(old_src: dict, old_status: str) -> tuple[float, float, str]:
                """Click Train; wait for a new loss plot, then for every plot of ``old_src``
                and the final status line. -> (s to the first plot, s to the last, status)."""
                clicked = time.monotonic()
                playground.locator(".gamaml-train").click()
                page.wait_for_function(
                    "old => document.querySelector('.gamaml-playground .gamaml-plot-loss')"
                    ".src !== old", arg=old_src["loss"], timeout=left_ms())
                first_plot = time.monotonic() - clicked
                page.wait_for_function(
                    """([old, oldStatus]) => {
                        const pg = document.querySelector('.gamaml-playground');
                        const text = pg.querySelector('.gamaml-status').textContent;
                        return text.includes('done in') && text !== oldStatus
                            && Object.entries(old).every(
                                ([name, src]) => pg.querySelector('.gamaml-plot-' + name)
                                    .src !== src);
                    }""", arg=[old_src, old_status], timeout=left_ms())
                for name, src in old_src.items():
                    assert plot_src(name) != src, name
                return first_plot, time.monotonic() - clicked, status.inner_text()

            first_plot, final_plot, summary = train_and_wait(old_src, old_status)
            assert "⚠" not in summary
            assert "T=20, alpha=0.3," in summary, summary  # the typed values reached the kernel
            assert "d=20, spread=2, inner steps=2, minority=0.2:" in summary, summary
            assert "MAML" in summary and "GA-MAML" in summary, summary
            assert "GA-MAML mean weight (book)" in summary, summary  # the clicked normalisation
            assert_no_errors(page)
            print(f"\nbrowser, linear: click -> first new plot {first_plot:.2f} s, click -> final "
                  f"plots {final_plot:.2f} s; kernel status: {summary!r}")

            # the sine family, through the preset: MAML against joint training on sine waves
            old_src = {name: plot_src(name) for name in ("loss", "weights", "accuracy")}
            playground.locator(".gamaml-preset select").select_option(
                "sine: MAML vs joint (Finn)")
            status.filter(has_text="preset 'sine: MAML vs joint (Finn)' set").wait_for(
                timeout=left_ms())
            playground.locator(".gamaml-amplitude").wait_for(state="visible", timeout=left_ms())
            for linear_only in ("n-features", "spread", "minority-frac", "alpha"):
                assert playground.locator(f".gamaml-{linear_only}").is_hidden(), linear_only
            for sine_only in ("phase", "hidden", "activation", "sine-alpha", "sine-beta"):
                assert playground.locator(f".gamaml-{sine_only}").is_visible(), sine_only
            family = playground.locator(".gamaml-family button.mod-active").inner_text()
            assert family.strip() == "sine", family
            assert plot_src("loss") == old_src["loss"]  # choosing a preset does not train

            first_plot, final_plot, summary = train_and_wait(old_src, status.inner_text())
            assert "⚠" not in summary and "nan" not in summary.lower(), summary
            assert summary.startswith("sine waves, A in [0.1, 5], phase in [0, π], T=25, "
                                      "alpha=0.01, beta=0.01 (Adam), hidden 40-40 relu"), summary
            scores = re.search(r"held-out MSE after adaptation \(250 tasks, ± 1 s\.e\.\): MAML "
                               r"(\d+\.\d+) ± \d+\.\d+, joint (\d+\.\d+) ± ", summary)
            assert scores, summary
            assert float(scores[1]) < float(scores[2]), summary  # MAML ahead of joint
            assert_no_errors(page)
            print(f"browser, sine preset: click -> first new plot {first_plot:.2f} s, click -> "
                  f"final plots {final_plot:.2f} s; kernel status: {summary!r}; whole test "
                  f"{time.monotonic() - started:.1f} s after the server was up")
        except Exception:
            shot = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True, timeout=ACTION_MS)
                print(f"\nbrowser test failed; screenshot of the page: {shot}")
            except Exception as exc:  # the original failure matters more than the screenshot
                print(f"\nbrowser test failed; no screenshot either ({exc})")
            raise
        finally:
            browser.close()


def test_sine_explorer_legend_in_the_browser(jupyterlab: str, tmp_path: Path) -> None:
    """Notebook 06's sine explorer, rendered by JupyterLab in Chromium: after a new amplitude
    the figure is redrawn, and a screenshot of it is kept (tmp_path, and GAMAML_SCREENSHOTS if
    set) for a person to look at; tests/test_widgets.py checks the legend's box numerically."""
    from playwright.sync_api import sync_playwright

    left_ms = budget(BROWSER_S)
    with sync_playwright() as playwright:
        browser, page = launch(playwright, left_ms)
        try:
            run_all_cells(page, jupyterlab.replace(NOTEBOOK, "notebooks/06_sine_waves.ipynb"),
                          left_ms)
            image = page.locator(".gamaml-sine-explorer .gamaml-plot-sine-explorer")
            image.wait_for(state="attached", timeout=left_ms())
            assert_no_errors(page)
            explorer = page.locator(".gamaml-sine-explorer")
            explorer.scroll_into_view_if_needed()
            old = image.get_attribute("src")
            type_into_readout(page, explorer, "amplitude", "4.5")
            page.wait_for_function(
                "old => document.querySelector('.gamaml-sine-explorer "
                ".gamaml-plot-sine-explorer').src !== old", arg=old, timeout=left_ms())
            assert "MSE on the whole wave" in explorer.locator(".gamaml-status").inner_text()
            shot = tmp_path / "sine_explorer.png"
            image.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("GAMAML_SCREENSHOTS"):
                shutil.copy(shot, Path(os.environ["GAMAML_SCREENSHOTS"]) / shot.name)
        finally:
            browser.close()
