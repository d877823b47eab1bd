"""The Runs tab reads well in a real browser (Debian's Chromium through Playwright): whole-number iteration ticks,
shares on a 0-100 % axis, legends with readable names, captions in view, the smoothing slider redrawing the lines,
and a progress bar with its ETA from "starting" to "finished".

Everything is read from the page as Chromium draws it: the SVG text Vega renders and its computed visibility, the
path of each line, the element found at a caption's centre.
"""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

# One panel (the i-th .k15-plot) as drawn: the axes' visible labels and titles, the legend, the lines.
PANEL = """(i) => {
  const plot = document.querySelectorAll('.k15-plot')[i];
  if (!plot) return null;  // the page is still loading
  const shown = (el) => { const s = getComputedStyle(el); return s.display !== 'none' && parseFloat(s.opacity) > 0; };
  const texts = (sel) => [...plot.querySelectorAll(sel)].filter(shown).map((t) => t.textContent);
  const x = 'g.role-axis[aria-label^="X-axis"] ', y = 'g.role-axis[aria-label^="Y-axis"] ';
  const lines = [...plot.querySelectorAll('.mark-line path')].map((p) => ({stroke: getComputedStyle(p).stroke, d: p.getAttribute('d') || ''}));
  return {x: texts(x + '.role-axis-label text'), x_ticks: [...plot.querySelectorAll(x + '.role-axis-tick line')].filter(shown).length,
          y: texts(y + '.role-axis-label text'), y_title: texts(y + '.role-axis-title text').join(' '),
          legend: texts('.role-legend-label text'), lines};
}"""

# Whether a caption is in view: the element at its centre is the caption itself (not clipped, not covered).
CAPTION_IN_VIEW = """(el) => { el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 8));
  return r.height > 10 && el.contains(hit); }"""


def _panel_when(page, i: int, ok, timeout_s: float = 60.0) -> dict:
    """Panel i once `ok(panel)` holds (the last one read, if it never does)."""
    deadline = time.time() + timeout_s
    while True:
        panel = page.evaluate(PANEL, i)
        if (panel is not None and ok(panel)) or time.time() > deadline:
            return panel
        time.sleep(0.25)


def _rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)))


def test_axes_legends_captions_and_smoothing_read_as_a_person_expects(studio_data):
    from studio.runs_plots import PALETTE, faint

    with served_studio(studio_data.root) as (app, url):  # one run, iterations 0 to 2; reward 0.4, 0.5, 0.6; accuracy 50, 60, 70 %
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            # The script hides fractional ticks in the animation frame after Vega draws (before the frame is painted), so
            # a read between the two sees ticks never shown: wait for the frame, then check.
            reward = _panel_when(page, 0, lambda p: len(p["lines"]) == 1 and p["x"] and "0.2" not in p["x"])
            # three iterations: Vega would tick every 0.05; only the whole numbers are shown, each with its tick
            assert reward["x"] == ["0", "1", "2"] and reward["x_ticks"] == 3, reward
            assert reward["legend"] == ["reward"], reward  # the curve's name, not rl/reward

            accuracy = _panel_when(page, 1, lambda p: len(p["lines"]) == 2 and p["y"] and "0.2" not in p["x"])
            assert accuracy["y"][0] == "0" and accuracy["y"][-1] == "100" and all(v.isdigit() for v in accuracy["y"]), accuracy["y"]
            assert "%" in accuracy["y_title"], accuracy  # a share reads 0-100 %, on a fixed axis
            assert accuracy["legend"] == ["accuracy, all levels", "accuracy, level 1"], accuracy["legend"]
            assert accuracy["x"] == ["0", "1", "2"]

            caption = page.locator(".k15-caption").first
            expect(caption).to_contain_text("mean total reward")
            assert caption.evaluate(CAPTION_IN_VIEW), "the Reward caption is hidden or cut off"
            outer = page.evaluate("() => [...document.querySelectorAll('.k15-caption')].filter((c) => !c.parentElement.closest('.k15-caption')).length")
            assert outer == page.locator(".k15-plot").count()  # every plot has its caption
            expect(page.locator("#runs-learning")).to_contain_text("What learning looks like")

            # smoothing 0.5: the raw line stays, faint; over it the moving average 0.4, 0.45, 0.525 (a different path)
            page.locator("#runs-smoothing input[type=number]").fill("0.5")
            page.locator("#runs-smoothing input[type=number]").press("Enter")
            smoothed = _panel_when(page, 0, lambda p: len(p["lines"]) == 2 and faint(PALETTE[0]) and _rgb(faint(PALETTE[0])) in
                                   [line["stroke"] for line in p["lines"]])
            by_stroke = {line["stroke"]: line["d"] for line in smoothed["lines"]}
            assert set(by_stroke) == {_rgb(PALETTE[0]), _rgb(faint(PALETTE[0]))}, smoothed["lines"]
            assert by_stroke[_rgb(faint(PALETTE[0]))] == reward["lines"][0]["d"]  # the raw values, as drawn before
            assert by_stroke[_rgb(PALETTE[0])] != reward["lines"][0]["d"]  # the smoothed curve
            assert smoothed["legend"] == ["reward"], smoothed["legend"]  # the faint line has no legend entry

            page.locator("#runs-smoothing input[type=number]").fill("0")
            page.locator("#runs-smoothing input[type=number]").press("Enter")
            off = _panel_when(page, 0, lambda p: len(p["lines"]) == 1)
            assert [line["d"] for line in off["lines"]] == [reward["lines"][0]["d"]]  # off again: the raw line alone


def test_the_progress_bar_goes_from_starting_to_an_eta_to_finished(studio_data):
    from k15core.store import Store

    store = Store(studio_data.root / "k15.db")
    store.set_run_status(studio_data.run_id, "stopped")  # so that the tab follows the run started below to its end
    with served_studio(studio_data.root) as (app, url):
        try:
            with chromium_page(CHROMIUM) as page:
                page.goto(url)
                bar = page.locator("#runs-progress")
                expect(bar).to_contain_text("stopped after iteration 3 of 10", timeout=30_000)  # the fixture's run, followed

                fresh = store.create_run("rl:fresh", "rl", {"rl": {"iterations": 8}})  # started, nothing recorded yet
                expect(bar).to_contain_text("starting: no iteration recorded yet (0 of 8)", timeout=30_000)
                assert bar.locator("progress").get_attribute("value") is None  # the moving bar

                for it in range(2):  # 60 s per iteration as the trainer times it: 6 left, about 6 min
                    store.record_iteration(fresh, it, {"rl/reward": 0.5, "time/rollout_s": 45.0, "time/train_s": 15.0})
                expect(bar).to_contain_text("iteration 2 of 8", timeout=30_000)
                said = bar.inner_text()
                assert ("about 5 min left (ETA" in said or "about 6 min left (ETA" in said) and "60 s per iteration" in said, said
                assert bar.locator("progress").get_attribute("value") == "2" and bar.locator("progress").get_attribute("max") == "8"

                store.set_run_status(fresh, "finished")
                expect(bar).to_contain_text("finished: iteration 2 of 8", timeout=30_000)  # still the newest run: followed

                # both runs picked: a bar each, and the legends name the runs by name (no ids)
                page.locator("#runs-select input").click()
                page.get_by_role("option", name="rl:test").click()
                page.locator("body").click(position={"x": 5, "y": 5})
                expect(bar).to_contain_text("#1 rl:test", timeout=30_000)
                two = _panel_when(page, 0, lambda p: len(p["legend"]) == 2)
                assert sorted(two["legend"]) == ["rl:fresh · reward", "rl:test · reward"], two["legend"]
        finally:
            store.close()
