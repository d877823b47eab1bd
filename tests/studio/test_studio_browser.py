"""The studio in a real browser: Debian's Chromium driven by Playwright (never `playwright install`).

Opens every tab, watches a live update written by another process, labels a prompt by keyboard and
checks the database row, checks that keys do nothing while typing, that an HTML/script injection in a
prompt renders as text, and saves a screenshot of each tab (to $K15_SCREENSHOTS too, when set).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import INJECTION, chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402


def _shot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / f"studio-{name}.png"), full_page=False)
    target = os.environ.get("K15_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / f"studio-{name}.png", Path(target) / f"studio-{name}.png")


def _write_iteration_from_another_process(db: Path, run_id: int, iteration: int) -> None:
    code = ("import sys; from k15core.store import Store; s = Store(sys.argv[1]); "
            "s.record_iteration(int(sys.argv[2]), int(sys.argv[3]), {'rl/reward': 0.95, 'rl/accuracy': 0.9, 'doctor/truncated': 0.95}); s.close()")
    subprocess.run([sys.executable, "-c", code, str(db), str(run_id), str(iteration)], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_every_tab_in_chromium(studio_data, tmp_path, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        with chromium_page(CHROMIUM) as page:
            page.goto(url)

            # Runs: the run is listed; an iteration written by another process appears without a reload
            table = page.locator("#runs-table")
            expect(table).to_contain_text("rl:test", timeout=30_000)
            _write_iteration_from_another_process(studio_data.root / "k15.db", studio_data.run_id, 3)
            expect(table.get_by_test_id("cell-0-3")).to_have_text("4", timeout=30_000)  # iterations: 3 -> 4
            expect(table.get_by_test_id("cell-0-5")).to_have_text("0.9")  # the new iteration's accuracy
            expect(page.locator("#runs-alarms")).to_contain_text("95% of responses were cut", timeout=30_000)  # and its alarm
            _shot(page, "runs", tmp_path)

            # Prompts: label the prompt in focus with one key, then check the row in the store
            page.get_by_role("tab", name="Prompts").click()
            focus_id = page.locator("#prompt-id textarea, #prompt-id input").first
            expect(focus_id).not_to_have_value("", timeout=30_000)
            pid = focus_id.input_value()
            page.locator("body").click(position={"x": 5, "y": 5})  # focus outside any text box
            page.keyboard.press("x")
            deadline = time.time() + 30
            while time.time() < deadline and not store.label_events():
                time.sleep(0.2)
            events = store.label_events()
            assert [(e["prompt_id"], e["field"], e["value"], e["author"]) for e in events] == [(pid, "status", "excluded", "browser-user")]
            expect(page.locator("#prompt-keys")).to_contain_text("all saved · " + f"{pid}: status = excluded", timeout=30_000)

            # keys typed into a text box are text, not decisions
            tags = page.locator("#prompt-tags textarea, #prompt-tags input").first
            tags.click()
            tags.type("xaf12")
            time.sleep(1.0)
            assert len(store.label_events()) == 1
            expect(tags).to_have_value("xaf12")

            # a prompt holding HTML and a script renders as text, and the script never runs
            focus_id.fill("evil")
            focus_id.press("Enter")
            card = page.locator("#prompt-card")
            expect(card).to_contain_text(INJECTION, timeout=30_000)
            assert page.evaluate("window.__pwned") is None
            assert card.locator("script, img").count() == 0
            _shot(page, "prompts", tmp_path)

            # Rollouts: search, open a group, tokens are coloured spans with their values on hover
            page.get_by_role("tab", name="Rollouts").click()
            page.locator("#rollouts-search").click()
            expect(page.locator("#rollouts-results")).to_contain_text("Answer", timeout=30_000)
            page.get_by_test_id("cell-0-1").click()
            expect(page.locator("#rollouts-group .k15-card").first).to_be_visible(timeout=30_000)
            assert page.locator("#rollouts-group .k15-tok").count() > 10
            assert "log-prob" in page.locator("#rollouts-group .k15-tok").first.get_attribute("title")
            # the newest group was judged: each sample says who decided; the judge's reasoning (holding a script) is inert text
            verdict = page.locator("#rollouts-group .k15-verdict").first
            expect(verdict).to_contain_text("the CoT judge: correct")
            verdict.locator("summary").click()
            expect(verdict.locator(".k15-reasoning pre")).to_contain_text(INJECTION)
            assert page.locator("#rollouts-group script, #rollouts-group img").count() == 0 and page.evaluate("window.__pwned") is None
            # and a person overrules it: one label event under their name, shown on the card
            before = len(store.label_events())
            page.locator("#rollouts-verdict-sample input").click()
            page.get_by_role("option", name="sample 0 ·").click()
            page.locator("#rollouts-verdict-wrong").click()
            expect(verdict).to_contain_text("person: wrong (overrules), browser-user", timeout=30_000)
            expect(page.locator("#rollouts-verdict-sample input")).to_have_value(re.compile(r"^sample 0 · id \d+$"))  # still on that sample
            assert [(e["field"], e["value"]["correct"], e["author"]) for e in store.label_events()[before:]] == [("verdict", False, "browser-user")]
            _shot(page, "rollouts", tmp_path)

            # Launch: the form generated from the config, with its documentation
            page.get_by_role("tab", name="Launch").click()
            expect(page.locator("#launch-start")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Groups (prompts) per iteration", exact=False).first).to_be_visible()
            _shot(page, "launch", tmp_path)
            assert page.evaluate("window.__pwned") is None
    for name in ("runs", "prompts", "rollouts", "launch"):
        assert (tmp_path / f"studio-{name}.png").stat().st_size > 10_000
