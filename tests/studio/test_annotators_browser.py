"""Two annotators in two signed-in browser sessions on one studio: "next for me" shares the prompts out (overlap 1:
different prompts; overlap 2: the same first prompt), the counter moves as each person labels, and the workspace's
guidelines render without running the HTML in them."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import INJECTION, chromium_or_skip  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from studio_fixtures import BROWSER_ARGS  # noqa: E402

USERS = {"ann": "secret", "bob": "hunter2"}


def _signed_in_page(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    assert context.request.post(url + "login", form={"username": user, "password": USERS[user]}).status == 200  # the cookie stays in the context
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Prompts").click()
    expect(page.locator("#prompt-id textarea, #prompt-id input").first).not_to_have_value("", timeout=30_000)
    return page


def _focus(page):
    return page.locator("#prompt-id textarea, #prompt-id input").first


def test_two_annotators_overlap_and_counters(studio_data):
    from studio import annotation_files as F
    from studio.app import build_app, serve

    app = build_app(studio_data.root)
    F.write_guidelines(studio_data.root, f"# Keep\nwhen the answer can be checked. {INJECTION}")  # after the build: read at page load
    url = serve(app, auth=list(USERS.items()), block=False, quiet=True)
    store = app.k15_context.store
    ids = sorted(p["id"] for p in store.prompts())
    total = len(ids)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                ann, bob = _signed_in_page(browser, url, "ann"), _signed_in_page(browser, url, "bob")
                expect(ann.locator("#prompt-progress")).to_contain_text(f"0 of {total} reviewed", timeout=15_000)

                # overlap 1: ann asks first (by key), bob next (by button): different prompts
                ann.locator("body").click(position={"x": 5, "y": 5})
                ann.keyboard.press("m")
                expect(_focus(ann)).to_have_value(ids[0], timeout=15_000)
                bob.locator("#prompt-next-mine").click()
                expect(_focus(bob)).to_have_value(ids[1], timeout=15_000)
                expect(bob.locator(f'#prompt-card [data-prompt-id="{ids[1]}"]')).to_be_visible(timeout=15_000)

                # ann keeps hers, then asks again at once: the key waits for the keep to be saved, so she gets a new one
                ann.keyboard.press("a")
                ann.keyboard.press("m")
                expect(_focus(ann)).to_have_value(ids[2], timeout=15_000)  # ids[0] hers and done, ids[1] bob's
                expect(ann.locator("#prompt-progress")).to_contain_text(f"1 of {total} reviewed", timeout=15_000)
                expect(bob.locator("#prompt-progress")).to_contain_text(f"0 of {total} reviewed", timeout=15_000)
                expect(bob.locator("#prompt-progress")).to_contain_text(f"1 of {total} by anyone", timeout=15_000)  # ann's, seen by bob's timer

                # overlap 2, saved in bob's panel: the prompt ann reviewed is bob's first too
                bob.get_by_text("Annotators: overlap, assignments, agreement").click()
                overlap = bob.locator("#prompt-overlap input")
                expect(overlap).to_have_value("1", timeout=15_000)  # the page's load filled it in (typed before it, a late load undoes it)
                overlap.fill("2")
                overlap.press("Tab")  # the number is committed (its change event) before the click reads it
                expect(overlap).to_have_value("2")
                bob.locator("#prompt-queue-save").click()
                expect(bob.locator("#prompt-queue-message")).to_contain_text("saved: overlap 2", timeout=15_000)
                bob.locator("#prompt-next-mine").click()
                expect(_focus(bob)).to_have_value(ids[0], timeout=15_000)
                bob.locator("body").click(position={"x": 5, "y": 5})
                bob.keyboard.press("x")  # bob disagrees
                expect(bob.locator("#prompt-progress")).to_contain_text(f"1 of {total} reviewed", timeout=15_000)
                events = [(e["author"], e["prompt_id"], e["value"]) for e in store.label_events()]
                assert events == [("ann", ids[0], "kept"), ("bob", ids[0], "excluded")]

                bob.locator("#prompt-agreement-refresh").click()
                expect(bob.locator("#prompt-conflicts")).to_contain_text("ann: kept; bob: excluded", timeout=15_000)

                # the guidelines: Markdown rendered, the HTML in them inert
                ann.get_by_text("Guidelines for this workspace").click()
                expect(ann.locator("#prompt-guidelines h1")).to_have_text("Keep", timeout=15_000)
                assert ann.evaluate("window.__pwned") is None
            finally:
                browser.close()
    finally:
        app.close()
        store.close()
