"""Keyboard labelling in a real browser: every key lands on the prompt the person was looking at.

A person who knows the keys types ahead of the screen: `a` keeps the prompt in focus and moves on, so a
`3` typed 50 ms later is meant for the next prompt, whether or not the server has answered yet. The
tests type 30 keys at 50 ms intervals (labels, Next, Previous, mixed) and compare the label events in
the store with what a person walking the prompt list by hand would have recorded: the same prompts,
fields and values, in the same order, none lost and none extra. The second test types the same keys
while another process holds the store's write lock most of the time, as a training run committing its
iterations does (each label write then waits up to a second and a half). A click on a decision button takes
the keys' path too, so it cannot overtake keys still waiting.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

# 30 keys over 13 prompts: a/x/f label and move on, n/p move, 1-5 set the difficulty and stay.
# Chosen so that every key changes a label (no key is a legitimate no-op) and the walk never reaches
# the last prompt (where a move would stay put): then "none lost" is simply one event per label key.
KEYS = list("3an" "x" "125f" "42n" "a" "p" "f" "53x" "n" "234f" "1a" "4x" "3125")
LABELS = {"a": ("status", "kept"), "x": ("status", "excluded"), "f": ("status", "flagged"), **{str(d): ("difficulty", d) for d in range(1, 6)}}
MOVES = {"a": 1, "x": 1, "f": 1, "n": 1, "p": -1}


def intended(ids: list[str], keys: list[str]) -> tuple[list[tuple[str, str, object]], str]:
    """The (prompt id, field, value) events a person walking `ids` from the first with these keys means, and where they end."""
    i, events = 0, []
    for key in keys:
        if key in LABELS:
            events.append((ids[i], *LABELS[key]))
        i = max(0, min(len(ids) - 1, i + MOVES.get(key, 0)))
    return events, ids[i]


def test_the_walk_is_what_the_test_says():
    ids = [f"p{i}" for i in range(13)]
    events, end = intended(ids, KEYS)
    assert len(KEYS) == 30 and len(events) == 26  # 4 of the 30 keys only move (n, n, p, n)
    assert events[:3] == [("p0", "difficulty", 3), ("p0", "status", "kept"), ("p2", "status", "excluded")]
    assert events[9:11] == [("p5", "status", "kept"), ("p5", "status", "flagged")]  # `a` moved on to p6, `p` came back to p5
    assert end == "p11"
    assert len(set(events)) == len(events)  # no key repeats a label: every one must write a row


def _settled(store, want: int, timeout: float, quiet: float = 3.0) -> list[dict]:
    """The label events once `want` of them are in and nothing new came for 1 s, or nothing new for `quiet` s (lost keys)."""
    deadline, seen, changed = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        events = store.label_events()
        if len(events) != seen:
            seen, changed = len(events), time.time()
        if time.time() - changed > (1.0 if seen >= want else quiet):
            return events
        time.sleep(0.1)
    return store.label_events()


LOCK_HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
while True:  # like a trainer committing an iteration: the write lock held 1.5 s, free for 0.2 s
    con.execute("BEGIN IMMEDIATE"); print("locked", flush=True); time.sleep(1.5); con.execute("COMMIT"); time.sleep(0.2)
"""


WATCH_WAITING = """() => {  // the most keys the panel ever said were waiting to be saved
  window.__mostWaiting = 0;
  setInterval(() => {
    const m = /^(\\d+) key/.exec(document.querySelector("#prompt-keys .k15-keys-state").textContent.trim());
    if (m) window.__mostWaiting = Math.max(window.__mostWaiting, +m[1]);
  }, 20);
}"""


def _type_keys_and_check(studio_data, monkeypatch, timeout: float, slow_store: bool = False) -> None:
    monkeypatch.setenv("K15_USER", "browser-user")
    with served_studio(studio_data.root) as (app, url):
        store = app.k15_context.store
        ids = [p["id"] for p in store.prompts()]  # the grid's order with no filter
        want, end = intended(ids, KEYS)
        holder = None
        try:
            with chromium_page(CHROMIUM) as page:
                page.goto(url)
                page.get_by_role("tab", name="Prompts").click()
                focus_id = page.locator("#prompt-id textarea, #prompt-id input").first
                expect(focus_id).to_have_value(ids[0], timeout=30_000)
                page.locator("body").click(position={"x": 5, "y": 5})  # focus outside any text box
                if slow_store:
                    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(studio_data.root / "k15.db")], stdout=subprocess.PIPE, text=True)
                    assert holder.stdout.readline().strip() == "locked"
                page.evaluate(WATCH_WAITING)
                t0 = time.time()
                for key in KEYS:
                    page.keyboard.press(key)
                    page.wait_for_timeout(50)
                typed = time.time() - t0
                events = _settled(store, len(want), timeout)
                print(f"typed {len(KEYS)} keys in {typed:.1f} s; the store settled {time.time() - t0:.1f} s after the first key")
                got = [(e["prompt_id"], e["field"], e["value"]) for e in events]
                assert got == want, f"typed in {typed:.1f} s; {len(got)} events, {len(want)} meant\n" + _diff(got, want)
                assert {e["author"] for e in events} == {"browser-user"}
                expect(focus_id).to_have_value(end, timeout=10_000)  # the focus stayed where the keys left it: no jump back
                expect(page.locator("#prompt-keys")).to_contain_text("all saved", timeout=10_000)
                expect(page.locator(f'#prompt-card [data-prompt-id="{end}"]')).to_contain_text("labelled difficulty 5", timeout=10_000)  # the card followed, labels included
                most_waiting = page.evaluate("window.__mostWaiting")
                if slow_store:  # the keys really were typed while label writes were pending, and queued
                    assert most_waiting >= 5, most_waiting
                else:  # a click on a button takes the keys' path: it labels the prompt on screen and moves on
                    page.locator("#prompt-keep").click()
                    expect(focus_id).to_have_value(ids[ids.index(end) + 1], timeout=10_000)
                    expect(page.locator("#prompt-keys")).to_contain_text(f"{end}: status = kept", timeout=10_000)  # answered in the queue's panel
                    deadline = time.time() + 30
                    while time.time() < deadline and len(store.label_events()) == len(want):
                        time.sleep(0.1)
                    assert [(e["prompt_id"], e["field"], e["value"]) for e in store.label_events()][len(want):] == [(end, "status", "kept")]
        finally:
            if holder is not None:
                holder.kill()
                holder.wait(timeout=30)


def _diff(got: list, want: list) -> str:
    rows = [f"{n:2d} {'  ' if g == w else '!!'} got {g}  meant {w}" for n, (g, w) in enumerate(zip(got + [None] * len(want), want + [None] * len(got)))
            if g is not None or w is not None]
    return "\n".join(rows)


def test_thirty_keys_at_50ms_land_on_the_prompts_they_were_meant_for(studio_data, monkeypatch):
    _type_keys_and_check(studio_data, monkeypatch, timeout=60)


def test_keys_typed_while_a_training_run_holds_the_store_are_queued_not_lost(studio_data, monkeypatch):
    _type_keys_and_check(studio_data, monkeypatch, timeout=120, slow_store=True)
