"""The Launch tab in a real browser (Debian's Chromium through Playwright): fixed choices are drop-downs, a launch
the trainer would refuse (or that would overwrite a model unasked) starts nothing and says why, and a launched run's
progress lines, run id, exit status and last error line show on the page.

The real launch is the tiny model for at most two iterations; the doctor stops it after the first (an untrained
model's answers are all cut at 8 tokens), which is the dead process whose error the table must show.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import BROWSER_ARGS, chromium_or_skip  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

TINY_RUN = {"rl.iterations": 2, "rl.prompts_per_iter": 2, "rl.k": 2, "rl.max_response_tokens": 8, "rl.minibatches": 1, "rl.pool_size": 10,
            "rl.doctor_patience": 1}


class LaunchPage:
    """The studio served on the test workspace, its Launch tab open in Chromium."""

    def __init__(self, studio_data):
        self.root = studio_data.root
        self.studio_data = studio_data

    def __enter__(self):
        from studio.app import build_app, serve

        self.app = build_app(self.root)
        url = serve(self.app, block=False, quiet=True)
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.goto(url)
        self.page.get_by_role("tab", name="Launch").click()
        expect(self.page.locator("#launch-start")).to_be_visible(timeout=30_000)
        # the output name is filled in when the page has loaded (a fresh name per visit); typing before that is overwritten
        expect(self.out_name()).not_to_have_value("", timeout=30_000)
        return self

    def __exit__(self, *exc):
        for r in _launch_pids(self.root):  # nothing a test started outlives it
            try:
                os.killpg(r, 9)
            except ProcessLookupError:
                pass
        self.browser.close()
        self.pw.stop()
        self.app.close()
        self.app.k15_context.store.close()

    # the locators below are the labels a person reads, so they find the same fields in the old and the new form
    def number(self, key: str):
        return self.page.get_by_label(f"{key} (int)", exact=True)

    def out_name(self):
        return self.page.get_by_label("save the final policy as").first

    def start(self, answer: str) -> str:
        """Click Start and wait for the message to begin with `answer` (a regex matching the new answer only, so the
        previous message under the pending timer never passes for it); returns the message."""
        message = self.page.locator("#launch-message")
        self.page.locator("#launch-start").click()
        expect(message).to_have_text(re.compile(r"^\s*" + answer), timeout=30_000)
        return message.inner_text()


def _launch_pids(root) -> list[int]:
    import json

    return [json.loads(p.read_text())["pid"] for p in (root / "launches").glob("*/launch.json")] if (root / "launches").exists() else []


def test_fixed_choices_are_dropdowns_of_the_registries_and_the_output_name_is_new(studio_data):
    from k15core.losses import LOGZ_ESTIMATES, LOSSES
    from k15core.rollout.engine import ENGINES
    from k15core.sampling import SAMPLERS

    registries = {"rl.loss": LOSSES, "rl.sampler": SAMPLERS, "rl.engine": ENGINES, "rl.logz": LOGZ_ESTIMATES}  # the form's open section
    with LaunchPage(studio_data) as lp:
        page = lp.page
        for key, registry in registries.items():
            box = page.get_by_role("combobox", name=key, exact=True)
            expect(box).to_be_visible(timeout=10_000)
            box.click()
            options = page.locator(f"[id='{box.get_attribute('aria-controls')}']").get_by_role("option")  # this box's list only
            expect(options.first).to_be_visible()
            shown = [t.replace("✓", "").strip() for t in options.all_inner_texts()]
            assert shown == registry.names(), key
            box.press("Escape")
        page.get_by_role("combobox", name="rl.loss", exact=True).click()
        page.get_by_role("option", name="grpo").click()
        expect(page.get_by_role("combobox", name="rl.loss", exact=True)).to_have_value("grpo")
        expect(lp.out_name()).to_have_value(re.compile(r"^rl-\d{8}-1$"))  # not "rl": that would replace the demo's model


def test_a_launch_the_trainer_would_refuse_or_that_overwrites_unasked_starts_nothing(studio_data):
    with LaunchPage(studio_data) as lp:
        page = lp.page
        # the name of an existing model: the form asks first, naming what would be lost
        lp.out_name().fill("warmup")
        said = lp.start(r"not started: saving the policy as 'warmup' would overwrite the model \S*/models/warmup \(saved ")
        assert "tick 'overwrite it'" in said and not (lp.root / "launches").exists()
        # a starting model that is not there (typed in the model box)
        model = page.get_by_role("combobox", name="starting model")
        model.fill("nosuch")
        model.press("Enter")
        lp.out_name().fill("rl-fresh")
        lp.start(r"not started: model 'nosuch' not found")
        # a number out of its range, as the config's own check says it
        model.fill("warmup")
        model.press("Enter")
        lp.number("rl.iterations").fill("-3")
        said = lp.start(r"not started: rl.iterations is -3, which is below its least value 1")
        assert "--set" not in said
        assert not (lp.root / "launches").exists()  # nothing started, nothing written
        # confirmed, the overwrite starts, and the next launch must confirm again under a fresh name
        lp.number("rl.iterations").fill("2")
        lp.out_name().fill("warmup")
        page.get_by_label("overwrite it").check()
        lp.start(r"started \S+ \(pid \d+\), saving the policy as warmup \(it will overwrite the model \S*/models/warmup")
        expect(page.get_by_label("overwrite it")).not_to_be_checked()
        expect(lp.out_name()).to_have_value(re.compile(r"^rl-\d{8}-1$"))
        assert len(_launch_pids(lp.root)) == 1


def test_a_launch_shows_its_progress_lines_run_id_exit_status_and_last_error(studio_data, tmp_path):
    from k15core.store import Store

    with LaunchPage(studio_data) as lp:
        page = lp.page
        for key, value in TINY_RUN.items():
            lp.number(key).fill(str(value))
        lp.start(r"started \S+ \(pid \d+\)")
        log = page.get_by_label("log of that launch (last 30 lines)")
        expect(log).to_have_value(re.compile(r"^RL run \d+ iteration 1/2: reward -?[0-9.]+, accuracy", re.MULTILINE), timeout=180_000)
        table = page.locator("#launch-table")
        expect(table.get_by_test_id("cell-0-5")).to_have_text("2 (error)", timeout=180_000)  # the doctor stopped it: a K15Error
        run_id = Store(lp.root / "k15.db").runs(kind="rl")[-1]["id"]
        assert run_id != studio_data.run_id
        expect(table.get_by_test_id("cell-0-1")).to_have_text(str(run_id))
        expect(table.get_by_test_id("cell-0-6")).to_contain_text("error: the doctor stopped the run")
        expect(log).to_have_value(re.compile(rf"^RL run {run_id}: iterations 1 to 2", re.MULTILINE))
        page.screenshot(path=str(tmp_path / "studio-launch-ended.png"))  # for a person to look at ($K15_SCREENSHOTS)
        if os.environ.get("K15_SCREENSHOTS"):
            Path(os.environ["K15_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "studio-launch-ended.png", Path(os.environ["K15_SCREENSHOTS"]) / "studio-launch-ended.png")
