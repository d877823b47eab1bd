"""Share and come back, in a real browser (Debian's Chromium through Playwright): the view a person set up is in the
address; that address opened in another page shows the same tab, runs, filters, open group and prompt; a saved view
opens again from the list after a reload; a hostile link shows nothing but text.
"""
from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import INJECTION, chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402


def _href_when(page, *parts: str, absent: tuple[str, ...] = (), timeout_s: float = 30.0) -> str:
    """The page's address once it holds every one of `parts` and none of `absent`. (Playwright's page.url does not
    follow history.replaceState.)"""
    deadline = time.time() + timeout_s
    while True:
        href = page.evaluate("window.location.href")
        ok = all(p in href for p in parts) and not any(p in href for p in absent)
        if ok or time.time() > deadline:
            assert ok, f"the address never held {parts} without {absent}: {href}"
            return href
        time.sleep(0.2)


def _new_page(page):
    return page.context.browser.new_page(viewport={"width": 1400, "height": 1000})


def _tab(page, name: str):
    return page.get_by_role("tab", name=name)


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).click()
    page.locator("body").click(position={"x": 5, "y": 5})


def _shows_the_rollouts_view(page, group: str, head: str) -> None:
    expect(_tab(page, "Rollouts")).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.locator("#rollouts-run input")).to_have_value(re.compile(r"^#1 rl:test "))
    expect(_box(page, "rollouts-it-min")).to_have_value("1")
    expect(page.locator("#rollouts-verdict-filter").get_by_label("wrong")).to_be_checked()
    expect(page.locator("#rollouts-colour").get_by_label("entropy")).to_be_checked()
    expect(page.locator("#rollouts-results")).to_contain_text("Answer", timeout=30_000)  # the search ran
    expect(_box(page, "rollouts-open-id")).to_have_value(group)
    expect(page.locator("#rollouts-group .k15-group-head")).to_contain_text("run #1", timeout=30_000)
    assert page.locator("#rollouts-group .k15-group-head").inner_text() == head


def _follows_the_picked_runs(page) -> None:
    _tab(page, "Runs").click()
    expect(page.locator("#runs-following")).to_contain_text("runs you picked", timeout=30_000)
    expect(page.locator("#runs-follow input")).not_to_be_checked()
    expect(page.locator("#runs-select")).to_contain_text("rl:test")
    expect(page.locator("#runs-select")).to_contain_text("rl:second")


def test_a_view_is_in_the_address_and_comes_back_from_a_link_and_from_a_saved_view(studio_data, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    from k15core.store import Store

    store = Store(studio_data.root / "k15.db")
    second = store.create_run("rl:second", "rl", {"rl": {"iterations": 5}})  # the newest: what the Runs tab follows
    store.record_iteration(second, 0, {"rl/reward": 0.2})
    store.close()
    with served_studio(studio_data.root) as (app, url):
        url = url.rstrip("/") + "/"
        with chromium_page(CHROMIUM) as page:
            page.goto(url + "?__theme=light")  # a key of Gradio's own: kept as the page writes its view
            expect(page.locator("#runs-following")).to_contain_text("rl:second", timeout=30_000)

            # set a view up: the older run added on Runs (following stops); a run, iterations, a verdict, a colouring and a group in Rollouts
            _pick(page, "runs-select", "rl:test")
            expect(page.locator("#runs-following")).to_contain_text("runs you picked", timeout=30_000)
            _href_when(page, "runs=2,1")
            _tab(page, "Rollouts").click()
            _pick(page, "rollouts-run", "#1 rl:test")
            _box(page, "rollouts-it-min").fill("1")
            page.locator("#rollouts-verdict-filter").get_by_label("wrong").check()
            page.locator("#rollouts-colour").get_by_label("entropy").check()
            page.locator("#rollouts-search").click()
            expect(page.locator("#rollouts-results")).to_contain_text("Answer", timeout=30_000)
            page.locator("#rollouts-results").get_by_test_id("cell-0-1").click()
            head = page.locator("#rollouts-group .k15-group-head")
            expect(head).to_contain_text("run #1", timeout=30_000)
            group, shown = _box(page, "rollouts-open-id").input_value(), head.inner_text()
            assert group.isdigit()
            href = _href_when(page, f"group={group}", "colour=")
            view = f"tab=rollouts&runs=2,1&run=1&it=1-&verdict=wrong&group={group}&colour=entropy"
            assert href == f"{url}?{view}&__theme=light"

            # the address opened in another page (a browser context of its own: nothing shared but the link) shows the
            # same view, and restoring it rewrites nothing
            other = _new_page(page)
            other.goto(href)
            _shows_the_rollouts_view(other, group, shown)
            assert other.evaluate("window.location.href") == href
            _follows_the_picked_runs(other)

            # save it, reload without the query (the default view), and open it from the list
            _box(page, "views-name").fill("wrong answers, from 1")
            page.locator("#views-save").click()
            expect(page.locator("#views-said")).to_contain_text("saved the view 'wrong answers, from 1'", timeout=30_000)
            saved = json.loads((studio_data.root / "studio-views.json").read_text(encoding="utf-8"))
            assert saved == {"views": {"wrong answers, from 1": view}}
            page.goto(url)
            expect(page.locator("#runs-following")).to_contain_text("rl:second", timeout=30_000)  # the default view: following
            assert page.evaluate("window.location.href") == url
            _pick(page, "views-saved", "wrong answers, from 1")
            _shows_the_rollouts_view(page, group, shown)
            assert _href_when(page, f"group={group}") == f"{url}?{view}"
            _follows_the_picked_runs(page)

            # the Prompts tab's filter and focus travel too; the prompt holding a script is shown as text
            _tab(other, "Prompts").click()
            _box(other, "prompts-filter").fill("Seq 123")
            _box(other, "prompts-filter").press("Enter")
            _box(other, "prompt-id").fill(studio_data.injection_id)
            _box(other, "prompt-id").press("Enter")
            expect(other.locator("#prompt-card")).to_contain_text(INJECTION, timeout=30_000)
            prompts_href = _href_when(other, "tab=prompts", f"prompt={studio_data.injection_id}", "prompts_q=Seq%20123")
            third = _new_page(page)
            third.goto(prompts_href)
            expect(_tab(third, "Prompts")).to_have_attribute("aria-selected", "true", timeout=30_000)
            expect(_box(third, "prompt-id")).to_have_value(studio_data.injection_id, timeout=30_000)
            expect(_box(third, "prompts-filter")).to_have_value("Seq 123")
            expect(third.locator("#prompt-card")).to_contain_text(INJECTION, timeout=30_000)
            expect(third.locator("#prompts-grid")).to_contain_text(studio_data.injection_id)

            # a hostile link: the bad values are dropped, a script in a text field stays text, keys not the view's are left alone
            third.goto(url + "?tab=%3Cscript%3Ewindow.__pwned%3D3%3C%2Fscript%3E&group=99999999999999999999999&zzz=1&q=" + quote(INJECTION))
            expect(_tab(third, "Runs")).to_have_attribute("aria-selected", "true", timeout=30_000)
            assert _href_when(third, absent=("tab=", "group=")) == f"{url}?q={quote(INJECTION, safe='')}&zzz=1"
            _tab(third, "Rollouts").click()
            expect(_box(third, "rollouts-text")).to_have_value(INJECTION, timeout=30_000)
            expect(_box(third, "rollouts-open-id")).to_have_value("")
            assert all(p.evaluate("window.__pwned") is None for p in (page, other, third))
