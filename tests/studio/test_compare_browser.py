"""Compare, history rows and export in a real browser (Debian's Chromium, Playwright), on the studio test workspace:
open a group, click a row of the prompt's history and see that iteration's group, compare the prompt's sample 0 at its
first iteration with sample 2 (another solution) at its last and see both sides with marked tokens, then export the
filtered table as CSV and count the downloaded file's rows against the store's count for the filter; then open the
address in another page and see the same comparison and difficulty filter."""
from __future__ import annotations

import re

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

from k15core.store.db import TrajectoryFilter  # noqa: E402


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def test_compare_history_rows_and_csv_export(studio_data, tmp_path):
    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        run, pid = studio_data.run_id, studio_data.prompt_ids[0]
        last = min(r["id"] for r in store.find_trajectories(TrajectoryFilter(run_id=run, iteration_min=2, iteration_max=2, prompt_id=pid)))
        first = min(r["id"] for r in store.find_trajectories(TrajectoryFilter(run_id=run, iteration_min=0, iteration_max=0, prompt_id=pid)))
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            page.get_by_role("tab", name="Rollouts").click()
            _box(page, "rollouts-open-id").fill(str(last))
            head = page.locator("#rollouts-group .k15-group-head")
            expect(head).to_contain_text(f"run #{run}, iteration 2", timeout=30_000)

            # a history row opens that iteration's group
            history = page.locator("#rollouts-history")
            expect(history.get_by_test_id("cell-2-0")).to_contain_text("2", timeout=30_000)
            history.get_by_test_id("cell-0-0").click()
            expect(head).to_contain_text(f"run #{run}, iteration 0", timeout=30_000)
            expect(_box(page, "rollouts-open-id")).to_have_value(str(first))
            expect(page.locator("#rollouts-group .k15-card")).to_have_count(4)

            # compare: the defaults are filled from the open prompt (first and last iteration); B on sample 2
            page.locator("#compare").get_by_text("Compare this prompt").click()
            expect(_box(page, "compare-prompt")).to_have_value(pid, timeout=30_000)
            expect(_box(page, "compare-a-it")).to_have_value("0")
            expect(_box(page, "compare-b-it")).to_have_value("2")
            _box(page, "compare-b-sample").fill("2")
            page.locator("#compare-go").click()
            sides = page.locator("#compare-view .k15-compare-side")
            expect(sides).to_have_count(2, timeout=30_000)
            expect(sides.nth(0)).to_contain_text(f"A: run #{run}, iteration 0, sample 0")
            expect(sides.nth(1)).to_contain_text(f"B: run #{run}, iteration 2, sample 2")
            marked = page.locator("#compare-view .k15-tok.k15-diff-ins, #compare-view .k15-tok.k15-diff-del, #compare-view .k15-tok.k15-diff-rep")
            assert marked.count() >= 1 and marked.first.is_visible()
            assert sides.nth(0).locator(".k15-tok").count() > 10 and sides.nth(1).locator(".k15-tok").count() > 5

            # export: the filter (iterations 1.., difficulty >= 2) as CSV, every row of it
            _box(page, "rollouts-it-min").fill("1")
            _box(page, "rollouts-diff-min").fill("2")
            page.locator("#rollouts-export-format").get_by_text("csv").click()
            page.locator("#rollouts-export").click()
            want = store.count_matching(TrajectoryFilter(run_id=run, iteration_min=1, difficulty_min=2, tag="rl"))  # the tab's run is set
            assert 0 < want < store.count_matching(TrajectoryFilter(tag="rl"))
            expect(page.locator("#rollouts-export-said")).to_contain_text(f"exported {want:,} rows (csv", timeout=30_000)
            with page.expect_download(timeout=30_000) as download:
                page.locator("#rollouts-export-file a").first.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            frame = pd.read_csv(saved)
            assert saved.suffix == ".csv" and len(frame) == want
            assert set(frame["iteration"]) == {1, 2} and frame["difficulty"].min() >= 2

            # the address holds the comparison and the difficulty range: opened in another page, it shows them again
            expect(page).to_have_url(re.compile(rf"diff=2-&group={first}&.*cmp_a={run}-0-0&cmp_b={run}-2-2"), timeout=30_000)
            other = page.context.browser.new_page()
            other.goto(page.url)
            expect(_box(other, "rollouts-diff-min")).to_have_value("2", timeout=30_000)
            other.locator("#compare").get_by_text("Compare this prompt").click()
            again = other.locator("#compare-view .k15-compare-side")
            expect(again).to_have_count(2, timeout=30_000)
            expect(again.nth(1)).to_contain_text(f"B: run #{run}, iteration 2, sample 2")
            expect(_box(other, "compare-b-sample")).to_have_value("2")
            expect(other.locator("#rollouts-group .k15-card")).to_have_count(4)  # the group, whose defaults did not replace the link's sides
            assert "cmp_b=" in other.url
