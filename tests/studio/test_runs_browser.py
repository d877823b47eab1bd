"""The Runs tab in a real browser (Debian's Chromium through Playwright): overlaid runs are drawn, and an open page
follows a run started after it opened.

The plots are checked as the browser renders them (the SVG line's computed stroke, width and opacity), not by the
data sent: Gradio's LinePlot can hold every point and still draw nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

# The lines of the first panel (Reward) as drawn, and its legend's labels.
REWARD_PANEL = """() => {
  const plot = document.querySelector('.k15-plot');
  if (!plot) return {lines: [], legend: []};  // the page is still loading
  const lines = [...plot.querySelectorAll('.mark-line path')].map(p => {
    const s = getComputedStyle(p);
    return {stroke: s.stroke, width: parseFloat(s.strokeWidth), opacity: parseFloat(s.opacity) * parseFloat(s.strokeOpacity),
            points: (p.getAttribute('d') || '').split('L').length};
  });
  const legend = [...plot.querySelectorAll('.role-legend-label text')].map(t => t.textContent);
  return {lines, legend};
}"""


def _visible(line: dict) -> bool:
    return line["stroke"] not in ("none", "", "transparent", "rgba(0, 0, 0, 0)") and line["width"] > 0 and line["opacity"] > 0


def _panel_when(page, ok, timeout_s: float = 30.0) -> dict:
    """The Reward panel once `ok(panel)` holds (the last one read, if it never does)."""
    deadline = time.time() + timeout_s
    while True:
        panel = page.evaluate(REWARD_PANEL)
        if ok(panel) or time.time() > deadline:
            return panel
        time.sleep(0.25)


def test_two_overlaid_runs_are_both_drawn_and_named_in_the_legend(studio_data):
    from k15core.store import Store

    store = Store(studio_data.root / "k15.db")
    second = store.create_run("rl:second", "rl", {"rl": {"iterations": 5}})
    for it in range(3):
        store.record_iteration(second, it, {"rl/reward": 0.1 + 0.2 * it})
    store.close()
    with served_studio(studio_data.root) as (app, url):
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            one = _panel_when(page, lambda x: len(x["lines"]) == 1 and _visible(x["lines"][0]))
            assert len(one["lines"]) == 1 and _visible(one["lines"][0]), one  # the newest run alone is drawn
            page.locator("#runs-select input").click()  # add the older run, as a person would
            page.get_by_role("option", name="rl:test").click()
            page.locator("body").click(position={"x": 5, "y": 5})
            two = _panel_when(page, lambda x: len(x["lines"]) == 2 and all(map(_visible, x["lines"]))
                              and any("rl:test" in t for t in x["legend"]) and any("rl:second" in t for t in x["legend"]))
            assert len(two["lines"]) == 2 and all(_visible(line) for line in two["lines"]), two["lines"]
            assert {line["points"] for line in two["lines"]} == {3}  # three iterations each
            assert len({line["stroke"] for line in two["lines"]}) == 2, two["lines"]  # told apart by colour
            assert any("rl:test" in t for t in two["legend"]) and any("rl:second" in t for t in two["legend"]), two["legend"]


TRAINER = """import sys
from k15core.store import Store
s = Store(sys.argv[1])
run = s.create_run("rl:new", "rl", {"rl": {"iterations": 4}})
for it in range(2):
    s.record_iteration(run, it, {"rl/reward": 0.7 + 0.1 * it, "rl/accuracy": 0.8})
print(run, flush=True)
sys.stdin.readline()  # stay alive, as a trainer does, so the run reads as running
s.close()
"""


def test_an_open_page_follows_a_run_started_after_it_opened_until_runs_are_picked(studio_data):
    from k15core.store import Store

    store = Store(studio_data.root / "k15.db")
    store.set_run_status(studio_data.run_id, "finished")
    with served_studio(studio_data.root) as (app, url):
        trainer = None
        try:
            with chromium_page(CHROMIUM) as page:
                page.goto(url)
                expect(page.locator("#runs-select")).to_contain_text("rl:test", timeout=30_000)
                _panel_when(page, lambda x: len(x["lines"]) == 1 and x["lines"][0]["points"] == 3)

                # a run is started while the page is open: its trainer (another process) writes two iterations
                trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(studio_data.root / "k15.db")], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
                new_run = int(trainer.stdout.readline())
                written = time.time()
                expect(page.locator("#runs-select")).to_contain_text("rl:new", timeout=30_000)
                switched_after = time.time() - written
                panel = _panel_when(page, lambda x: len(x["lines"]) == 1 and x["lines"][0]["points"] == 2)
                assert [line["points"] for line in panel["lines"]] == [2], panel  # the plot is the new run's (2 iterations)
                # the refresh interval is 2 s; allow a few ticks on a loaded machine
                assert switched_after < 8.0, f"the page took {switched_after:.1f} s to follow the new run"
                following = page.locator("#runs-following")  # and the page says which run it follows
                expect(following).to_contain_text(f"following run #{new_run} rl:new", ignore_case=True)
                assert "rl:test" not in page.locator("#runs-select").inner_text()

                # a person picks a run: the page stops following, and a run started later does not take over
                page.locator("#runs-select input").click()
                page.get_by_role("option", name="rl:test").click()
                page.locator("body").click(position={"x": 5, "y": 5})
                expect(following).to_contain_text("runs you picked", timeout=30_000)
                third = store.create_run("rl:third", "rl", {"rl": {"iterations": 2}})
                store.record_iteration(third, 0, {"rl/reward": 0.5})
                expect(page.locator("#runs-table")).to_contain_text("rl:third", timeout=30_000)
                time.sleep(2.5)  # one more tick
                expect(following).to_contain_text("runs you picked")
                assert "rl:third" not in page.locator("#runs-select").inner_text()
        finally:
            if trainer is not None:
                trainer.stdin.close()
                trainer.wait(timeout=60)
            store.close()
    print(f"followed the new run {switched_after:.1f} s after its rows were written")
