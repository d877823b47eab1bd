"""Shared by the studio tests: a small workspace with a real store and tokenizer, prompts, one RL run with 3 iterations.

The data is made here (no training): recurrence prompts, responses written by the task's own
solutions in three styles, tokenized by the tiny model's tokenizer so the token view decodes them.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

INJECTION = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


JUDGE_SAYS = f"The final answer matches the reference. {INJECTION}"
"""The CoT judge's reasoning on group 3's first sample, and its whole (malformed) output on the third: model text to escape."""


def _judged():
    from k15core.types import Verdict

    return [Verdict(True, "judge", JUDGE_SAYS), Verdict(True, "rule"), Verdict(False, "judge", JUDGE_SAYS + ' {"correct": maybe}', malformed=True),
            Verdict(False, "rule")]


def chromium_or_skip() -> str:
    """Debian's Chromium for a browser test module; the module is skipped without it, unless K15_REQUIRE_BROWSER=1
    (CI), where a missing browser is an error: the studio's browser tests must run there."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("K15_REQUIRE_BROWSER") == "1":
            raise RuntimeError("K15_REQUIRE_BROWSER=1 but no chromium on PATH (make test installs Debian's chromium)")
        import pytest

        pytest.skip("no chromium on PATH (tools/install_chromium.sh installs it)", allow_module_level=True)
    return path


@contextmanager
def chromium_page(chromium: str, width: int = 1400, height: int = 1000):
    """A page in a fresh headless Chromium, closed (with its browser) on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


@contextmanager
def served_studio(root, **serve_options):
    """(app, url) of the studio on workspace `root`, served in this process (`serve_options`: e.g. auth); closed with
    its store on the way out."""
    from studio.app import build_app, serve

    app = build_app(root)
    url = serve(app, block=False, quiet=True, **serve_options)
    try:
        yield app, url
    finally:
        app.close()
        app.k15_context.store.close()


@dataclass
class StudioData:
    root: Path
    run_id: int
    prompt_ids: list[str]
    injection_id: str


def fill_workspace(root: Path, tiny_model_dir: Path, iterations: int = 3) -> StudioData:
    from k15core.models import load_tokenizer
    from k15core.store import Store
    from k15core.tasks import RecurrenceTask
    from k15core.tasks.problem import Problem
    from k15core.types import TrajectoryRecord

    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_model_dir, models / "warmup", dirs_exist_ok=True)
    tok = load_tokenizer(models / "warmup")
    task = RecurrenceTask()
    problems = task.train_problems(12, seed=3)
    judged = _judged()
    injection = Problem(id="evil", prompt=f"Seq 123, steps: 1 {INJECTION}", reference="5", difficulty=1, task="recurrence")
    store = Store(root / "k15.db")
    store.add_prompts(problems + [injection], source="test")
    run_id = store.create_run("rl:test", "rl", {"base_model": str(models / "warmup"), "task": {"name": "recurrence"}, "rl": {"iterations": 10}})
    for it in range(iterations):
        records = []
        for g, p in enumerate(problems[:4]):
            styles = ["long", "long", "short", "short"] if g != 1 else ["short"] * 4  # group 1: identical samples
            for s, style in enumerate(styles):
                text = task.solution(p, style)
                ids = tok(text, add_special_tokens=False)["input_ids"]
                correct = 1.0 if style == "long" or g == 1 else 0.0
                records.append(TrajectoryRecord(
                    prompt_id=p.id, sample_index=s, prompt=p.prompt, response=text, token_ids=ids, logprobs=[-0.1 * (k % 7) for k in range(len(ids))],
                    entropies=[0.05 * (k % 5) for k in range(len(ids))],
                    reward=correct, correct=correct, length=len(ids), reward_parts={"correct": correct, "length": 0.0},
                    truncated=(s == 3 and g == 2), repeated=False, difficulty=p.difficulty, tag=f"group:{g}", group=g,
                    verdict=judged[s] if g == 3 else None,  # group 3 was judged: the CoT judge's verdicts, model text in its reasoning
                ))
        metrics = {"rl/reward": 0.4 + 0.1 * it, "rl/accuracy": 0.5 + 0.1 * it, "rl/accuracy/d1": 0.6, "rl/len_p50": 20 + it, "rl/kl": 0.01}
        store.record_iteration(run_id, it, metrics, records)
    store.close()
    return StudioData(root, run_id, [p.id for p in problems], injection.id)
