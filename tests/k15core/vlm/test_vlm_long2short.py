"""`k15 long2short` with a vision-language long model and image prompts: merge averages two VLMs (tower included)
and keeps the processor; rejection sampling and DPO sample with each prompt's picture and train with it; long2short
RL is the VLM's RL run. Tiny budgets: the code paths, not the quality."""
from __future__ import annotations

import pytest
import torch

from k15core.cli import main
from k15core.config import Long2ShortConfig, ModelConfig
from k15core.long2short.selection import Sample
from k15core.long2short.train import sequence_logprobs, train_dpo
from k15core.tasks.visual_recurrence import VisualRecurrenceTask
from k15core.tokens import right_pad, token_logprobs
from k15core.vlm.inputs import encode_prompt, pixel_inputs
from k15core.vlm.model import build_tiny_vlm, load_vlm

pytestmark = pytest.mark.slow
TINY = dict(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)
VISUAL = ["task.name=visual-recurrence", "task.levels=[1,2]", "task.eval_per_level=2", "long2short.prompts=4", "long2short.samples=6",
          "long2short.max_new_tokens=24", "long2short.rs_epochs=1", "long2short.rs_batch_size=8", "long2short.dpo_epochs=1",
          "long2short.dpo_batch_size=4", "long2short.max_pairs=2", "rl.iterations=1", "rl.prompts_per_iter=2", "rl.k=2", "rl.pool_size=4"]
TASK = VisualRecurrenceTask(levels=(1, 2), eval_per_level=2)


def _k15(ws, *argv):
    return main([*argv, "--workspace", str(ws.root), "--quiet", *[x for kv in VISUAL for x in ("--set", kv)]])


def _weights(path):
    model, _ = load_vlm(path)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_merge_averages_two_vlms_and_keeps_the_processor(workspace, capsys):
    build_tiny_vlm(ModelConfig(**TINY, init_seed=0), workspace.model_dir("long"))
    build_tiny_vlm(ModelConfig(**TINY, init_seed=1), workspace.model_dir("short"))
    assert _k15(workspace, "long2short", "merge", "--long", "long", "--short", "short", "--alpha", "0.25", "--out", "merged") == 0
    a, b, merged = (_weights(workspace.model_dir(n)) for n in ("long", "short", "merged"))
    tower = next(k for k in merged if "vision_tower" in k and k.endswith("weight"))
    for name in (tower, next(k for k in merged if "language_model" in k and k.endswith("weight"))):
        assert not torch.equal(a[name], b[name])
        assert torch.allclose(merged[name], 0.25 * a[name] + 0.75 * b[name], atol=1e-6)
    _, processor = load_vlm(workspace.model_dir("merged"))
    assert type(processor).__name__ == "LlavaProcessor"


def test_the_short_baseline_of_a_vlm_is_a_vlm_that_merges_with_the_long_one(workspace, capsys):
    """`k15 long2short short --model tiny-vlm`: the short-CoT model merging needs, warmed up from the VLM on short
    solutions to image prompts (without --model it is the tiny text model, as before)."""
    build_tiny_vlm(ModelConfig(**TINY), workspace.model_dir("tiny-vlm"))
    budget = ["--set", "sft.examples=16", "--set", "sft.batch_size=16", "--set", "sft.warmup_steps=1"]
    assert _k15(workspace, "long2short", "short", "--model", "tiny-vlm", "--out", "short-vlm", *budget) == 0
    assert "1 steps" in capsys.readouterr().out
    assert type(load_vlm(workspace.model_dir("short-vlm"))[1]).__name__ == "LlavaProcessor"
    sft = workspace.store().runs(kind="sft")[-1]
    assert sft["config"]["sft"]["style_mix"] == {"short": 1.0} and sft["config"]["base_model"] == str(workspace.model_dir("tiny-vlm"))
    assert _k15(workspace, "long2short", "merge", "--long", "tiny-vlm", "--short", "short-vlm") == 0


def test_merge_refuses_a_vlm_with_a_text_model(workspace, capsys):
    from k15core.models import build_tiny_model

    build_tiny_vlm(ModelConfig(**TINY), workspace.model_dir("long"))
    build_tiny_model(ModelConfig(**TINY), workspace.model_dir("short"))
    assert _k15(workspace, "long2short", "merge", "--long", "long", "--short", "short") == 2
    assert "cannot merge a vision-language model and a text model" in capsys.readouterr().err
    assert not workspace.has_model("l2s-merge")


@pytest.fixture
def every_finished_answer_right(monkeypatch):
    """The untrained model never answers right; call every answer that ended by itself right, so that rejection
    sampling keeps its shortest finished answers and DPO pairs them with the cut-off ones."""
    monkeypatch.setattr(VisualRecurrenceTask, "verify", lambda self, text, reference: 1.0)


def test_rejection_and_dpo_sample_and_train_with_the_pictures(workspace, capsys, monkeypatch, every_finished_answer_right):
    import k15core.rollout.compact as compact

    seen = []
    real = compact.compact_continue

    def spy(model, contexts, *args, pixel_values=None, **kwargs):
        seen.append(pixel_values)
        return real(model, contexts, *args, pixel_values=pixel_values, **kwargs)

    monkeypatch.setattr(compact, "compact_continue", spy)
    build_tiny_vlm(ModelConfig(**TINY), workspace.model_dir("long"))
    before = _weights(workspace.model_dir("long"))
    assert _k15(workspace, "long2short", "rejection", "--long", "long", "--out", "rs") == 0
    out = capsys.readouterr().out
    assert int(out.split("rejection sampling: ")[1].split(" of ")[0]) > 0
    # the long model was sampled on image prompts: every context came with its picture's pixel values
    assert seen and all(p is not None and all(x is not None and x.shape[0] == 1 for x in p) for p in seen)
    assert _k15(workspace, "long2short", "dpo", "--long", "long", "--out", "dpo") == 0
    assert "pairs from 4 prompts" in capsys.readouterr().out
    for name in ("rs", "dpo"):
        after = _weights(workspace.model_dir(name))
        assert any(not torch.equal(before[k], after[k]) for k in before)  # trained, tower and all saved
        assert type(load_vlm(workspace.model_dir(name))[1]).__name__ == "LlavaProcessor"
    runs = {r["name"] for r in workspace.store().runs(kind="long2short")}
    assert {"long2short:rejection:rs", "long2short:dpo:dpo"} <= runs


def _marked_image_groups(workspace, tokenizer, prompts: int = 2) -> list[list[int]]:
    """`prompts` stored groups of image prompts (one picture each, in the image store; 3 answers written by the task's
    own solutions; the prompts share one text), each marked in the studio's way: sample 0 chosen, the others rejected. Their trajectory ids."""
    from k15core.types import TrajectoryRecord
    from k15core.vlm.inputs import store_pictures

    pool = TASK.train_problems(20, seed=5)
    problems = [p for p in pool if p.prompt == pool[0].prompt][:prompts]  # one level's prompts: one text, other pictures
    store = workspace.store()
    store_pictures(TASK, problems, workspace.images)
    store.add_prompts(problems, source="test")
    run = store.create_run("rl:test", "rl", {})
    records = []
    for g, p in enumerate(problems):
        for s, style in enumerate(("short", "medium", "long")):
            ids = tokenizer(TASK.solution(p, style), add_special_tokens=False)["input_ids"]
            records.append(TrajectoryRecord(prompt_id=p.id, sample_index=s, prompt=p.prompt, response=tokenizer.decode(ids), token_ids=ids,
                                            logprobs=[-1.0] * len(ids), reward=1.0, correct=1.0, length=len(ids), reward_parts={},
                                            difficulty=p.difficulty, tag=f"group:{g}", group=g))
    store.record_iteration(run, 0, {}, records)
    groups = [[t["id"] for t in store.trajectory_group(first)] for first in range(1, 3 * prompts + 1, 3)]
    for ids in groups:
        for i, tid in enumerate(ids):
            store.set_label(problems[groups.index(ids)].id, "preference", {"trajectory": tid, "run": run, "group": ids[0],
                            "mark": "rejected" if i else "chosen"}, author="ann", source="studio")
    return groups


def test_dpo_on_human_pairs_of_image_prompts_scores_each_pair_with_its_own_picture(workspace, capsys, monkeypatch):
    """`--pairs human` and `both` on a VLM: every pair people marked is trained on, each with the picture of the
    prompt its answers were written for (the two prompts share one text and differ only by picture)."""
    import k15core.long2short.stages as l2s_stages

    build_tiny_vlm(ModelConfig(**TINY), workspace.model_dir("long"))
    _, processor = load_vlm(workspace.model_dir("long"))
    groups = _marked_image_groups(workspace, processor.tokenizer)
    store = workspace.store()
    seen = []
    real = l2s_stages.train_dpo

    def spy(model, tokenizer, pairs, cfg, **kwargs):
        seen.append((pairs, kwargs["encoded"]))
        return real(model, tokenizer, pairs, cfg, **kwargs)

    monkeypatch.setattr(l2s_stages, "train_dpo", spy)
    assert _k15(workspace, "long2short", "dpo", "--long", "long", "--pairs", "human", "--out", "dpo-h") == 0
    pairs, encoded = seen[-1]
    assert len(pairs) == len(encoded) == 4  # two groups, one chosen and two rejected each
    for ids, enc_pair in zip(groups, (encoded[:2], encoded[2:])):
        row = store.trajectory_group(ids[0])[0]
        want = encode_prompt(processor, row["prompt"], [workspace.images.load(a) for a in store.prompt(row["prompt_id"])["images"]])
        assert all(e.ids == want.ids and torch.equal(e.pixel_values, want.pixel_values) for e in enc_pair)
    assert not torch.equal(encoded[0].pixel_values, encoded[2].pixel_values) and encoded[0].ids == encoded[2].ids  # same text, other picture
    assert type(load_vlm(workspace.model_dir("dpo-h"))[1]).__name__ == "LlavaProcessor"
    assert "4 pairs marked by people on 2 prompts" in capsys.readouterr().out
    assert _k15(workspace, "long2short", "dpo", "--long", "long", "--pairs", "both", "--out", "dpo-b") == 0
    pairs, encoded = seen[-1]
    assert len(pairs) == len(encoded) and len(pairs) >= 4  # the model's own pairs (the untrained model may have none), then people's
    assert [(e.ids, e.images) for e in encoded[-4:]] == [(e.ids, e.images) for e in seen[0][1]]
    runs = {r["name"]: r for r in store.runs(kind="long2short")}
    assert {"long2short:dpo:dpo-h", "long2short:dpo:dpo-b"} <= set(runs)


def test_long2short_rl_runs_on_image_prompts_and_compare_evaluates_on_them(workspace, capsys, tmp_path):
    import json

    build_tiny_vlm(ModelConfig(**TINY), workspace.model_dir("long"))
    assert _k15(workspace, "long2short", "rl", "--long", "long", "--out", "l2s-rl") == 0
    run = workspace.store().runs(kind="rl")[-1]
    assert run["status"] == "finished" and run["config"]["rl"]["length_penalty"] == 0.5  # the preset, layered on
    records = workspace.store().trajectories(run["id"])
    assert records and all(r.prompt.startswith("Seq <image>") for r in records)
    assert type(load_vlm(workspace.model_dir("l2s-rl"))[1]).__name__ == "LlavaProcessor"
    rows_file = tmp_path / "rows.json"
    assert _k15(workspace, "long2short", "compare", "long=long", "rl=l2s-rl", "--json", str(rows_file), "--set", "eval.max_new_tokens=8") == 0
    rows = json.loads(rows_file.read_text())
    assert {r["model"] for r in rows} == {"long", "rl"} and all(r["len_mean"] > 0 for r in rows)
    evals = [r for r in workspace.store().runs(kind="eval") if r["name"] in ("eval:l2s:long", "eval:l2s:rl")]
    assert len(evals) == 2 and all(t.prompt.startswith("Seq <image>") for r in evals for t in workspace.store().trajectories(r["id"]))


def test_dpo_log_probs_see_each_rows_picture(tiny_vlm_dir):
    """`sequence_logprobs` with pixel values: each pair's two rows are scored with their prompt's picture, as a
    forward of that row alone with it scores them; and a DPO step on image prompts trains."""
    model, processor = load_vlm(tiny_vlm_dir)
    model.eval()
    problems = TASK.train_problems(2, seed=0)
    encoded = [encode_prompt(processor, p.prompt, TASK.images(p)) for p in problems]
    responses = [[5, 6, 7], [8, 9, 10, 11, 12]]
    rows = [(e.ids, r) for e in encoded for r in responses]
    pixels = [e.pixel_values for e in encoded for _ in responses]
    with torch.no_grad():
        batch = sequence_logprobs(model, rows, processor.tokenizer.pad_token_id, "cpu", pixels)
        for i, ((prompt, response), pix) in enumerate(zip(rows, pixels)):
            ids, mask = right_pad([prompt + response], processor.tokenizer.pad_token_id)
            logp, _ = token_logprobs(model, ids, mask, extra=pixel_inputs([pix]))
            assert float(batch[i]) == pytest.approx(float(logp[0, len(prompt) - 1:].sum()), abs=1e-4)
        swapped = sequence_logprobs(model, rows, processor.tokenizer.pad_token_id, "cpu", pixels[::-1])
    assert not torch.allclose(batch, swapped)  # another picture, other log-probs
    pairs = [(p.prompt, Sample("a", 3, True, 0, tuple(responses[0])), Sample("b", 5, False, 1, tuple(responses[1]))) for p in problems]
    result = train_dpo(model, processor.tokenizer, pairs, Long2ShortConfig(dpo_epochs=3, dpo_batch_size=2, dpo_lr=1e-3), progress=False,
                       encoded=encoded)
    with torch.no_grad():
        after = sequence_logprobs(model, rows, processor.tokenizer.pad_token_id, "cpu", pixels).view(2, 2)
    margin = lambda lp: (lp[:, 0] - lp[:, 1])
    assert result.steps == 3 and bool((margin(after) > margin(batch.view(2, 2))).all())  # the chosen answers gained on the rejected
