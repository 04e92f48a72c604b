"""The pages in a real headless browser: Debian's chromium driven by Playwright (the system browser, not
one Playwright downloads). Skipped, with the reason, only when chromium or playwright is absent.
Screenshots go to the test's temporary folder (and to $DNNCONF_SCREENSHOTS when set: docs/images)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (make test installs it with apt: apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra has it)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 60_000  # a busy machine: generous, never a timing assertion


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def open_page(browser, path: Path, screenshot: Path, fragment: str = ""):
    """Open a page from disk with the network blocked; returns (page, console errors and page errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: problems.append(f"fetched {request.url}")
            if not request.url.startswith("file://") else None)
    page.goto(path.as_uri() + fragment, timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('.uplot canvas').length >= 4", timeout=TIMEOUT_MS)
    page.screenshot(path=str(screenshot), full_page=True)
    shots = os.environ.get("DNNCONF_SCREENSHOTS")
    if shots:
        shutil.copy(screenshot, Path(shots) / screenshot.name)
    return page, problems


def test_run_report_renders_its_charts(browser, two_runs, tmp_path):
    page, problems = open_page(browser, two_runs[0] / "report.html", tmp_path / "report.png")
    titles = page.locator(".chart h2").all_inner_texts()
    assert titles == ["Learning curve: loss", "Learning curve: accuracy", "Learning rate per step",
                      "Momentum per step", "Gradient norm (mean per epoch)", "Gradient norm per layer"]
    assert page.locator(".uplot canvas").count() == 6
    assert page.locator(".u-legend .u-series").count() >= 12  # every curve has its legend row (x included)
    assert "finished" in page.locator(".badge").inner_text()
    assert page.locator("details pre").text_content().startswith("name: sgd-one-cycle")
    canvas = page.locator("#chart-loss canvas").first.bounding_box()
    assert canvas["width"] > 300 and canvas["height"] > 150
    page.locator("#lang").click()  # the page's own language switch: Chinese titles and labels
    assert page.locator(".chart h2").first.inner_text() == "学习曲线：损失"
    assert page.locator(".uplot canvas").count() == 6
    page.screenshot(path=str(tmp_path / "report-zh.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert problems == []


def test_compare_page_renders_overlaid_curves(browser, two_runs, tmp_path):
    from dnnconf.report.compare import compare

    result = compare(list(two_runs), tmp_path / "out", lang="zh")
    page, problems = open_page(browser, result.folder / "compare.html", tmp_path / "compare.png")
    assert page.locator(".chart h2").first.inner_text() == "验证集损失"
    assert page.locator(".uplot canvas").count() == 6
    legend = page.locator("#chart-val-loss .u-legend .u-series").all_inner_texts()
    assert any("sgd-one-cycle" in row for row in legend) and any("adam-bn" in row for row in legend)
    differing = page.locator("table.data").nth(1).inner_text()
    assert "optimizer.name" in differing and "data.dataset" not in differing
    assert problems == []


def test_a_running_report_reloads_itself(browser, tmp_path, digits_run):
    from dnnconf.train.callbacks import Listener

    digits_raw, train_run = digits_run
    pages = []

    class KeepRunningPage(Listener):
        def on_epoch_end(self, loop, logs):
            pages.append((loop.state.epoch, (tmp_path / "run" / "report.html").read_text(encoding="utf-8")))

    train_run(tmp_path / "run", digits_raw("live", training={"epochs": 2}), listeners=(KeepRunningPage(),))
    live = tmp_path / "live.html"
    live.write_text(pages[0][1], encoding="utf-8")
    page, problems = open_page(browser, live, tmp_path / "live.png")
    assert page.locator("#auto-refresh").is_checked()
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"
    page.wait_for_function("performance.getEntriesByType('navigation')[0].type === 'reload'", timeout=TIMEOUT_MS)
    assert problems == []


def test_a_page_no_longer_updated_says_so_and_stops_reloading(browser, tmp_path):
    from dnnconf.report.run_report import StepCurve, run_page

    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "lr": 0.01,
                "grad_norm": 1.0, "time": 2.0}, {"epoch": 2, "loss": 0.8, "accuracy": 0.6, "val_loss": 0.9,
                                                  "val_accuracy": 0.5, "lr": 0.01, "grad_norm": 0.9, "time": 2.0}]
    lr = StepCurve()
    lr.add(0, 0.01)
    lr.add(9, 0.01)
    path = tmp_path / "report.html"
    path.write_text(run_page("killed", "name: killed\n", history, status="running", epochs=10, metric="accuracy",
                             lr=lr, momentum=StepCurve(), stale_after=-1.0), encoding="utf-8")
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.goto(path.as_uri(), timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('.uplot canvas').length >= 3", timeout=TIMEOUT_MS)
    assert page.locator(".badge").get_attribute("class") == "badge stalled"
    assert page.locator("#auto-refresh").count() == 0
