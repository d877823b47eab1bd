"""DPO marks by keyboard in a real browser (Debian's Chromium, Playwright): open a group in the Rollouts tab, walk its
samples and mark them with the keys typed ahead of the screen, then check that the label events in the store name
the samples the keys were typed on, under the person's name, and that the cards show the marks."""
from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

from k15core.long2short.stages import stored_human_pairs  # noqa: E402
from k15core.store.db import TrajectoryFilter  # noqa: E402

# Over the 4 samples of a group, starting on sample 0: c and r mark and move on, j/k move, e clears, z undoes.
KEYS = list("crrkejrz")
MEANT = [(0, "chosen"), (1, "rejected"), (2, "rejected"), (2, None), (3, "rejected"), (3, None)]  # (sample, mark) per event; z: 3's taken back
FOCUS = re.compile(r"\bk15-focus\b")


def _settled(store, want: int, timeout: float = 60) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline and len(store.label_events()) < want:
        time.sleep(0.1)
    time.sleep(1.0)  # and nothing more comes
    return store.label_events()


def test_keys_mark_the_samples_they_were_typed_on_and_the_cards_show_it(studio_data, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        rows = store.find_trajectories(TrajectoryFilter(run_id=studio_data.run_id, iteration_min=2), limit=100)
        ids = [t["id"] for t in store.trajectory_group(min(r["id"] for r in rows if r["prompt_id"] == studio_data.prompt_ids[0]))]
        with chromium_page(CHROMIUM) as page:
            page.goto(url)
            page.get_by_role("tab", name="Rollouts").click()
            expect(page.locator("#rollouts-keys-help")).to_contain_text("c chosen", timeout=30_000)
            opener = page.locator("#rollouts-open-id textarea, #rollouts-open-id input").first
            opener.fill(str(ids[0]))
            cards = page.locator("#rollouts-group .k15-card")
            expect(cards).to_have_count(4, timeout=30_000)
            card = {tid: page.locator(f'#rollouts-group .k15-card[data-trajectory="{tid}"]') for tid in ids}
            page.locator("body").click(position={"x": 5, "y": 5})  # out of the text box: keys are keys again
            expect(card[ids[0]]).to_have_class(FOCUS, timeout=10_000)  # the focus starts on the sample opened

            opener.click()
            opener.press("End")
            opener.type("cr")  # typed into a text box: text, not marks
            time.sleep(1.0)
            assert store.label_events() == []
            opener.fill(str(ids[0]))
            page.locator("body").click(position={"x": 5, "y": 5})

            for key in KEYS:  # 50 ms apart: faster than the store answers, so the keys queue
                page.keyboard.press(key)
                page.wait_for_timeout(50)
            events = _settled(store, len(MEANT))
            got = [(e["value"]["trajectory"], e["value"]["mark"], e["author"], e["field"]) for e in events]
            assert got == [(ids[s], m, "browser-user", "preference") for s, m in MEANT]
            assert {(e["value"]["run"], e["value"]["group"]) for e in events} == {(studio_data.run_id, ids[0])}
            expect(page.locator("#rollouts-keys")).to_contain_text("all saved · undone: the mark on sample id", timeout=10_000)
            expect(card[ids[0]].locator(".k15-mark")).to_contain_text("chosen for DPO · browser-user", timeout=10_000)
            expect(card[ids[1]].locator(".k15-mark")).to_contain_text("rejected for DPO · browser-user")
            assert card[ids[2]].locator(".k15-mark").count() == 0 and card[ids[3]].locator(".k15-mark").count() == 0
            expect(page.locator("#rollouts-group .k15-pairs")).to_contain_text("1 chosen, 1 rejected: 1 pair")
            expect(card[ids[3]]).to_have_class(FOCUS)  # the focus stayed where the keys left it

            # a click on a sample moves the focus there, and a click on a button takes the keys' path
            card[ids[2]].locator(".k15-card-head").click()
            expect(card[ids[2]]).to_have_class(FOCUS)
            page.locator("#rollouts-mark-rejected").click()
            expect(page.locator("#rollouts-group .k15-pairs")).to_contain_text("1 chosen, 2 rejected: 2 pairs", timeout=30_000)
            assert [(p.chosen, p.rejected, p.author) for p in stored_human_pairs(store)] == [(ids[0], ids[1], "browser-user"),
                                                                                            (ids[0], ids[2], "browser-user")]

        # the same marks through the API (/mark_pair), under the same user
        from gradio_client import Client

        client = Client(url, verbose=False)
        assert client.predict(ids[3], "chosen", api_name="/mark_pair") == f"sample 3 (id {ids[3]}): chosen"
        assert client.predict(ids[3], "best", api_name="/mark_pair") == "mark must be one of chosen, rejected, clear"
        assert [(e["value"], e["author"]) for e in store.label_events()[-1:]] == [
            ({"trajectory": ids[3], "run": studio_data.run_id, "group": ids[0], "mark": "chosen"}, "browser-user")]

