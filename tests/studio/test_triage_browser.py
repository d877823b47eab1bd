"""Triage in a real browser (Debian's Chromium, Playwright): build a run's queue in the Rollouts tab, filter it to one
reason, open an item (its group, with the flagged sample outlined), confirm "exclude", and check the store: the
prompt's label, the review under the person's name, and the item gone from the unreviewed queue."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

from k15core import triage  # noqa: E402
from k15core.store import Store  # noqa: E402


def test_filter_open_and_exclude_an_item_of_the_queue(studio_data, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    store = Store(studio_data.root / "k15.db")
    store.record_iteration(studio_data.run_id, -1, {"doctor/chat_template": 1.0})  # the doctor's fatal alarm before the run
    queue = triage.run_queue(store, studio_data.run_id)
    store.close()
    identical = [x for x in queue.items if x.reason == "identical samples"]  # the fixture's group 1, in each of 3 iterations
    assert len(identical) == 3 and queue.items[0].reason == "chat_template"
    first = identical[0]

    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            page.get_by_role("tab", name="Rollouts").click()
            expect(page.locator("#rollouts-run input")).to_have_value(re.compile("rl:test"), timeout=30_000)  # the tab picked the run
            page.get_by_text("Triage: suspicious groups and the doctor's alarms").click()
            page.locator("#triage-build").click()
            summary = page.locator("#triage-summary")
            expect(summary).to_contain_text(f"0 of {len(queue.items)} reviewed · 1 fatal alarm not reviewed", timeout=30_000)
            grid = page.locator("#triage-queue")
            expect(grid).to_contain_text("chat_template")
            reasons = page.locator("#triage-reasons")
            expect(reasons).to_contain_text("identical samples (3 of 3 to review)")

            for reason in queue.counts():  # keep only "identical samples"
                if reason != "identical samples":
                    reasons.locator("label", has_text=f"{reason} (").locator("input").uncheck()
            # each uncheck is its own change event, and the table is drawn again after each: wait for the last one's
            for gone in ("chat_template", "same reward", "odd length"):
                expect(grid).not_to_contain_text(gone, timeout=30_000)
            expect(grid.get_by_test_id("cell-2-1")).to_contain_text("identical samples", timeout=30_000)

            grid.get_by_test_id("cell-0-1").click()  # the first item: the newest iteration's identical group
            flagged = page.locator(f'#rollouts-group .k15-card.k15-flagged[data-trajectory="{first.open_id}"]')
            expect(flagged).to_have_count(1, timeout=30_000)
            expect(flagged.locator(".k15-flag")).to_contain_text("identical samples: all 4 responses identical")
            expect(page.locator("#rollouts-group .k15-card")).to_have_count(4)
            expect(page.locator("#triage-detail")).to_contain_text(f"prompt {first.prompt_id}, sample id {first.open_id}")

            page.locator("#triage-exclude").click()
            expect(page.locator("#triage-said")).to_contain_text(f"exclude: prompt {first.prompt_id} (1 label event)", timeout=30_000)
            expect(summary).to_contain_text(f"1 of {len(queue.items)} reviewed", timeout=30_000)
            expect(grid.get_by_test_id("cell-1-1")).to_contain_text("identical samples", timeout=30_000)  # the other two are left, still filtered
            expect(grid.get_by_test_id("cell-2-1")).to_have_count(0, timeout=30_000)
            expect(grid).not_to_contain_text(first.key, timeout=30_000)
            expect(reasons).to_contain_text("identical samples (2 of 3 to review)", timeout=30_000)

        assert store.prompt_labels([first.prompt_id])[first.prompt_id].status == "excluded"
        assert [(e["field"], e["value"], e["author"]) for e in store.label_events()] == [("status", "excluded", "browser-user")]
        assert [(r.author, r.outcome) for r in store.reviews(studio_data.run_id)[first.key]] == [("browser-user", "exclude")]
        assert first.key not in [x.key for x in triage.run_queue(store, studio_data.run_id).visible()]
