"""Screenshots of every studio tab on a workspace, for the README (headless Debian Chromium + Playwright).

    python tools/studio_screenshots.py WORKSPACE [OUT_DIR]   (default OUT_DIR: assets/screenshots)

It serves the studio on a free loopback port, opens each tab as a user would (a search and one group
in Rollouts, the first prompt in focus in Prompts) and saves studio-<tab>.png. Nothing is written to
the workspace's store (no labels are given).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from studio.app import build_app, serve

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main(workspace: str, out_dir: str = "assets/screenshots") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = build_app(workspace)
    url = serve(app, block=False, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            expect(page.locator("#runs-table")).to_contain_text("rl:", timeout=60_000)
            page.wait_for_timeout(3000)
            page.screenshot(path=str(out / "studio-runs.png"))
            page.get_by_role("tab", name="Rollouts").click()
            page.locator("#rollouts-search").click()
            expect(page.locator("#rollouts-results")).to_contain_text("Answer", timeout=60_000)
            page.get_by_test_id("cell-3-1").click()
            expect(page.locator("#rollouts-group .k15-card").first).to_be_visible(timeout=60_000)
            page.locator("#rollouts-group").scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "studio-rollouts.png"))
            page.get_by_role("tab", name="Prompts").click()
            expect(page.locator("#prompt-id textarea, #prompt-id input").first).not_to_have_value("", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "studio-prompts.png"))
            page.get_by_role("tab", name="Launch").click()
            expect(page.locator("#launch-start")).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / "studio-launch.png"))
            browser.close()
    finally:
        app.close()
    for name in ("runs", "rollouts", "prompts", "launch"):
        print(out / f"studio-{name}.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
