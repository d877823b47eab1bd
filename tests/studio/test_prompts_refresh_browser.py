"""The Prompts grid in a real browser (Debian's Chromium through Playwright) keeps up with the labels without
"Apply filter": a decision made on the page, a label written by someone else, and an undo (whose history row
says what it took back)."""
from __future__ import annotations


import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

STATUS = 11  # the grid's status column (prompts_tab.GRID_COLUMNS)


def test_the_grid_follows_labels_without_apply_filter(studio_data, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    from studio.prompts_tab import GRID_COLUMNS

    assert GRID_COLUMNS[STATUS] == "status"
    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            page.get_by_role("tab", name="Prompts").click()
            grid = page.locator("#prompts-grid")
            expect(grid.get_by_test_id(f"cell-0-{STATUS}")).to_have_text("not reviewed", timeout=30_000)
            first, second = grid.get_by_test_id("cell-0-0").inner_text(), grid.get_by_test_id("cell-1-0").inner_text()
            expect(page.locator("#prompt-id textarea, #prompt-id input").first).to_have_value(first)

            # a decision on the page lands in the grid
            page.locator("#prompt-exclude").click()
            expect(grid.get_by_test_id(f"cell-0-{STATUS}")).to_have_text("excluded", timeout=15_000)

            # so does a label someone else writes (another studio, a script) while the page is open
            store.set_label(second, "status", "flagged", author="someone-else", source="studio")
            expect(grid.get_by_test_id(f"cell-1-{STATUS}")).to_have_text("flagged", timeout=15_000)

            # and an undo; the prompt's history says what the undo took back, not `null`
            page.locator("#prompt-undo").click()
            expect(grid.get_by_test_id(f"cell-0-{STATUS}")).to_have_text("not reviewed", timeout=15_000)
            history = page.locator("#prompt-history")
            expect(history).to_contain_text('undid status = "excluded"', timeout=15_000)
            expect(history).not_to_contain_text("null")
