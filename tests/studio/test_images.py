"""studio/images.py and the image hooks of the tabs, without a browser: what reaches the page, and what never does."""
from __future__ import annotations

import base64
import io
import json
import re

from PIL import Image, PngImagePlugin

from k15core.vlm.images import ImageStore

EVIL = '<img src=x onerror="window.__pwned = 1">'


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _decoded(html_text: str) -> Image.Image:
    src = re.search(r'src="data:image/png;base64,([^"]+)"', html_text).group(1)
    return Image.open(io.BytesIO(base64.b64decode(src)))


def test_images_come_from_the_store_as_fresh_pngs_with_escaped_words(tmp_path):
    from studio.images import images_html

    store = ImageStore(tmp_path / "images")
    address = store.put(Image.new("RGB", (48, 48), (10, 200, 10)))
    shown = images_html(store, [address], EVIL)
    assert EVIL not in shown and html_escaped(EVIL) in shown  # the owner's id, in the alt text, escaped
    assert 'width="144" height="144"' in shown  # a 48 px picture drawn three times larger
    picture = _decoded(shown)
    assert picture.format == "PNG" and picture.size == (48, 48) and not picture.text
    assert images_html(store, [], "p") == ""


def test_an_address_that_is_not_one_or_is_gone_is_a_line_of_text(tmp_path):
    from studio.images import images_html

    store = ImageStore(tmp_path / "images")
    (tmp_path / "secret.png").write_bytes(b"")
    for address in ("../secret", "0" * 64, EVIL):
        shown = images_html(store, [address], "p")
        assert "cannot be shown" in shown and "<img" not in shown and EVIL not in shown


def test_a_big_picture_reaches_the_page_shrunk(tmp_path):
    from studio.images import MAX_SIDE, images_html

    store = ImageStore(tmp_path / "images")
    address = store.put(Image.new("RGB", (2000, 1000), (1, 2, 3)))
    assert _decoded(images_html(store, [address], "p")).size == (MAX_SIDE, MAX_SIDE // 2)


def test_the_focus_view_and_the_group_view_show_the_prompts_images(tmp_path):
    from k15core.store import Store
    from k15core.store.db import TrajectoryFilter
    from k15core.tasks.problem import Problem
    from k15core.types import TrajectoryRecord
    from studio import prompts_tab, rollouts_tab
    from studio.context import StudioContext

    images = ImageStore(tmp_path / "ws" / "images")
    address = images.put(Image.new("RGB", (48, 48), (200, 10, 10)))
    store = Store(tmp_path / "ws" / "k15.db")
    store.add_prompts([Problem("pic", "Seq <image>, steps: 1", "5", task="visual-recurrence", images=(address,)),
                       Problem("text", "What is 2+2?", "4", task="math")], source="test")
    run = store.create_run("rl:x", "rl", {"task": {"name": "visual-recurrence"}})
    store.record_iteration(run, 0, {}, [TrajectoryRecord("pic", 0, "Seq <image>, steps: 1", "Answer: 5", [1, 2], [-0.1, -0.2], 1.0, 1.0, 2,
                                                         tag="group:0", group=0)])
    tid = store.find_trajectories(TrajectoryFilter(run_id=run), limit=1)[0]["id"]
    store.close()
    ctx = StudioContext.open(tmp_path / "ws")
    try:
        assert 'class="k15-images"' in prompts_tab.focus_view(ctx.store, "pic", ctx.workspace.images)["card"]
        assert "k15-images" not in prompts_tab.focus_view(ctx.store, "text", ctx.workspace.images)["card"]
        page, _, pid = rollouts_tab.open_group(ctx, tid, "none")
        assert pid == "pic" and _decoded(page).size == (48, 48)
    finally:
        ctx.store.close()


def test_the_upload_preview_names_a_row_whose_image_was_not_uploaded(tmp_path):
    from studio.prompts_tab import commit_import, preview_import

    f = tmp_path / "p.jsonl"
    rows = [{"id": "a", "prompt": "Seq <image>, steps: 1", "reference": "5", "task": "visual-recurrence", "images": ["a.png"]},
            {"id": "b", "prompt": "Seq <image>, steps: 1", "reference": "5", "task": "visual-recurrence", "images": ["b.png"]}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", EVIL)
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png", pnginfo=info)
    Image.new("RGB", (4, 4), (9, 9, 9)).save(tmp_path / "b.png")
    good, bad, said, ok = preview_import([str(f), str(tmp_path / "a.png")], "visual-recurrence")  # b.png lies beside it, not uploaded
    assert not ok and bad.values.tolist() == [["line 2", "image 'b.png' is missing (upload it together with the prompt file)"]]
    assert good.values.tolist()[0][-1] == "a.png"
    assert "nothing will be imported" in said
    store = ImageStore(tmp_path / "ws-images")
    from k15core.store import Store

    db = Store(tmp_path / "k15.db")
    assert "wrong" in commit_import(db, [str(f), str(tmp_path / "a.png")], "visual-recurrence", store) and db.prompts() == []
    assert "2 new prompts" in commit_import(db, [str(f), str(tmp_path / "a.png"), str(tmp_path / "b.png")], "visual-recurrence", store)
    assert all(len(p["images"]) == 1 and p["images"][0] in store for p in db.prompts())
    assert preview_import([str(tmp_path / "a.png")], "visual-recurrence")[2].startswith("upload one prompt file")
    db.close()
