"""Image prompts in a real browser (Debian's Chromium through Playwright): the Rollouts group view shows the prompt's
picture beside its samples; the Prompts tab imports an image prompt (a prompt file and its picture, uploaded together)
and labels it with one key, its picture in the focus view. The picture is visible (laid out, decoded), and an image
file named like an HTML tag, with a script in its PNG text chunk, renders as inert text: no script runs.

The workspace is made here without a model or training: a store, an image store and a few trajectories.
"""
from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

from studio_fixtures import chromium_or_skip, chromium_page, served_studio  # noqa: E402

CHROMIUM = chromium_or_skip()

from playwright.sync_api import expect  # noqa: E402

EVIL_NAME = "<img src=x onerror=window.__pwned=1>.png"
EVIL_TEXT = "<script>window.__pwned = 3</script><img src=x onerror=\"window.__pwned = 4\">"
PROMPT = "Seq <image>, steps: 1\n"


def _picture(digits: str, seed: int):
    from k15core.tasks.visual_recurrence import render_digits

    return render_digits(digits, seed)


def _workspace(root: Path) -> tuple[int, Path]:
    """A store with one image prompt ('pic-a') and one RL iteration of 4 samples on it; and a folder holding a second
    image prompt's file and its evilly named picture (for the upload). Returns (a trajectory id of the group, folder)."""
    from PIL import PngImagePlugin

    from k15core.store.db import TrajectoryFilter
    from k15core.tasks.problem import Problem
    from k15core.types import TrajectoryRecord
    from k15core.workspace import Workspace

    ws = Workspace.resolve(str(root))
    address = ws.images.put(_picture("372", 1))
    store = ws.store()
    store.add_prompts([Problem("pic-a", PROMPT, "5", difficulty=1, task="visual-recurrence", images=(address,))], source="test")
    run = store.create_run("rl:pictures", "rl", {"task": {"name": "visual-recurrence"}, "rl": {"iterations": 1}})
    records = [TrajectoryRecord(prompt_id="pic-a", sample_index=s, prompt=PROMPT, response=f"Answer: {5 + s % 2}", token_ids=[65 + s, 66, 67],
                                logprobs=[-0.1, -0.2, -0.3], reward=float(s % 2 == 0), correct=float(s % 2 == 0), length=3, difficulty=1,
                                tag="group:0", group=0) for s in range(4)]
    store.record_iteration(run, 0, {"rl/reward": 0.5}, records)
    tid = store.find_trajectories(TrajectoryFilter(run_id=run), limit=1)[0]["id"]
    store.close()

    upload = root.parent / "upload"
    upload.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", EVIL_TEXT)
    _picture("815", 2).save(upload / EVIL_NAME, format="PNG", pnginfo=info)
    (upload / "pictures.jsonl").write_text(json.dumps({"id": "pic-b", "prompt": PROMPT, "reference": "9", "task": "visual-recurrence",
                                                       "images": [EVIL_NAME]}) + "\n")
    return int(tid), upload


def _check_visible_png(img, shot: Path) -> None:
    """The image is laid out and decoded by the browser, shows in a screenshot (`shot`: the page, and beside it the
    picture alone, which must not be one flat colour), and its bytes are a plain PNG without the file's text chunk."""
    from PIL import Image, ImageStat

    img.evaluate("el => el.scrollIntoView({block: 'center'})")
    time.sleep(0.5)  # let a progress overlay fade
    img.page.screenshot(path=str(shot))
    img.screenshot(path=str(shot.with_name(shot.stem + "-picture.png")))
    with Image.open(shot.with_name(shot.stem + "-picture.png")) as seen:
        assert max(ImageStat.Stat(seen.convert("L")).stddev) > 5  # digits and noise, not an empty box
    box = img.bounding_box()
    assert box is not None and box["width"] >= 48 and box["height"] >= 48, box
    assert img.evaluate("el => el.complete && el.naturalWidth") > 0
    src = img.get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as decoded:
        assert decoded.format == "PNG" and not decoded.text


def test_image_prompts_in_rollouts_and_prompts(tmp_path, monkeypatch):
    monkeypatch.setenv("K15_USER", "browser-user")
    tid, upload = _workspace(tmp_path / "ws")
    with served_studio(tmp_path / "ws") as (app, url):
        store = app.k15_context.store
        with chromium_page(CHROMIUM) as page:
            page.goto(url)

            # Rollouts: the group of an image prompt shows its picture above the samples
            page.get_by_role("tab", name="Rollouts").click()
            page.locator("#rollouts-open-id textarea, #rollouts-open-id input").first.fill(str(tid))
            page.locator("#rollouts-open-id textarea, #rollouts-open-id input").first.press("Enter")
            picture = page.locator("#rollouts-group .k15-images img")
            expect(picture).to_be_visible(timeout=30_000)
            expect(page.locator("#rollouts-group .k15-card")).to_have_count(4)
            _check_visible_png(picture, tmp_path / "rollouts-image.png")

            # Prompts: import a prompt file with its picture (named like a tag, a script in its metadata)
            page.get_by_role("tab", name="Prompts").click()
            page.get_by_text("Import and export").click()
            page.locator("#prompts-upload input[type=file]").set_input_files([str(upload / "pictures.jsonl"), str(upload / EVIL_NAME)])
            expect(page.get_by_text("1 prompts read, all valid")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("onerror=window.__pwned=1").first).to_be_visible()  # the file name, as text
            page.locator("#prompts-import").click()
            expect(page.get_by_text("1 new prompts imported")).to_be_visible(timeout=30_000)
            assert store.prompt("pic-b")["images"] and store.prompt("pic-b")["images"] != store.prompt("pic-a")["images"]

            # ... and label it with one key, its picture in the focus view
            focus_id = page.locator("#prompt-id textarea, #prompt-id input").first
            focus_id.fill("pic-b")
            focus_id.press("Enter")
            card = page.locator("#prompt-card")
            expect(card.locator('.k15-focus[data-prompt-id="pic-b"] .k15-images img')).to_be_visible(timeout=30_000)
            _check_visible_png(card.locator(".k15-images img"), tmp_path / "prompts-image.png")
            page.locator("body").click(position={"x": 5, "y": 5})  # focus outside any text box
            page.keyboard.press("a")
            deadline = time.time() + 30
            while time.time() < deadline and not store.label_events():
                time.sleep(0.2)
            assert [(e["prompt_id"], e["field"], e["value"], e["author"]) for e in store.label_events()] == [("pic-b", "status", "kept", "browser-user")]

            # nothing the file carried ran or was drawn as markup
            assert page.evaluate("window.__pwned") is None
            assert page.locator('img[src="x"], script:has-text("__pwned")').count() == 0
