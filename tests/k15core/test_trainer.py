"""The RL trainer: partial rollouts, loss masks, the iteration loop, resume, live steering."""
from __future__ import annotations

import math
import multiprocessing as mp

import pytest
import torch

from k15core import stages
from k15core.config import load_config
from k15core.models import load_model
from k15core.rollout.hf import continue_ids
from k15core.rollout.partial import rollout_step
from k15core.policy_step import optimise
from k15core.trainer import rl_iteration, score
from k15core.types import Group, Trajectory
from k15core.tasks.recurrence import RecurrenceTask

SMALL_RL = [
    "rl.prompts_per_iter=3", "rl.k=2", "rl.max_response_tokens=20", "rl.minibatches=2", "rl.pool_size=30",
    "rl.checkpoint_every=1", "task.eval_per_level=2",
]


def _groups(tok, problems, k):
    out = []
    for g, p in enumerate(problems):
        ids = tok(p.prompt, add_special_tokens=False)["input_ids"]
        out.append(Group(g, p, [Trajectory(p, g, j, list(ids)) for j in range(k)], started=0))
    return out


def _greedy(model, tok):
    def fn(contexts, allowances, starts):
        return continue_ids(model, tok, contexts, max_new_tokens=allowances, greedy=True, response_starts=starts)
    return fn


def test_segments_concatenate_to_the_uninterrupted_response(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    problems = RecurrenceTask(eval_per_level=1).eval_problems()[:3]
    whole = _groups(tok, problems, 1)
    rollout_step(whole, 0, _greedy(model, tok), segment_tokens=0, max_response_tokens=23)
    pieces = _groups(tok, problems, 1)
    budget, iterations, per_iteration = 5, 0, []
    while not all(g.done for g in pieces):
        before = [len(t.token_ids) for g in pieces for t in g.members]
        rollout_step(pieces, iterations, _greedy(model, tok), segment_tokens=budget, max_response_tokens=23)
        per_iteration.append([len(t.token_ids) - b for t, b in zip([t for g in pieces for t in g.members], before)])
        iterations += 1
    for a, b in zip(whole, pieces):
        assert a.members[0].token_ids == b.members[0].token_ids  # same tokens, generated in segments
        assert a.members[0].truncated == b.members[0].truncated
    assert max(max(x) for x in per_iteration) <= budget  # never more than the budget in one iteration
    longest = max(len(t.token_ids) for g in pieces for t in g.members)
    assert iterations == math.ceil(longest / budget)
    # the untrained tiny model rarely stops: at least one response needed several segments
    assert max(t.segments for g in pieces for t in g.members) > 1


def _cfg(extra=()):
    return load_config("assets/configs/demo.yaml", ["eval.max_new_tokens=20", *SMALL_RL, *extra])


def test_iterations_write_metrics_and_every_trajectory(workspace, tiny_model_dir):
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg(), tiny_model_dir)
    m = rl_iteration(run)
    assert store.count_trajectories(run.state.run_id, 0) == 3 * 2
    names = {r["name"] for r in store.metrics(run.state.run_id)}
    for key in ("rl/reward", "rl/accuracy", "rl/len_mean", "rl/len_p90", "rl/entropy", "rl/kl", "rl/logratio_abs", "rl/tau_share", "rl/same_reward_groups", "rl/masked_token_share", "time/rollout_s", "time/train_s",
                "time/sync_s", "time/store_s"):
        assert key in names, key
    from k15core.metrics import describe_metric

    assert all(describe_metric(n) for n in names), [n for n in names if not describe_metric(n)]
    traj = store.trajectories(run.state.run_id, 0)[0]
    assert len(traj.token_ids) == traj.length == len(traj.logprobs) == len(traj.entropies) and traj.length > 0
    assert all(e >= 0 for e in traj.entropies)  # per-token entropy is stored for the studio's token view
    assert m["rl/entropy"] > 0


def test_optimise_changes_the_policy_only_with_a_learning_signal(workspace, tiny_model_dir):
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg(), tiny_model_dir)
    from k15core.trainer import rollout

    groups, _ = rollout(run, 0)
    batch = score(run, [g for g in groups if g.done] or groups, 0)
    before = [p.detach().clone() for p in run.model.parameters()]
    batch.total = torch.zeros_like(batch.total)  # every reward equal: no signal
    optimise(run, batch, 0)
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    batch.total = torch.tensor([1.0, 0.0] * (len(batch.trajectories) // 2))
    optimise(run, batch, 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))


def test_score_gives_a_cut_or_looping_response_no_correctness():
    """`score` verifies the texts that ended by themselves, then applies `rewards.correctness`: of three responses whose
    text is the right answer, only the one that ended with EOS is correct; the repeat-stopped one also gets −repeat_penalty."""
    from types import SimpleNamespace

    from k15core.judge.verifiers import RuleVerifier
    from k15core.rewards import LengthPenaltySchedule
    from k15core.tasks.problem import Problem

    p = Problem(id="p", prompt="", reference="4")
    members = [Trajectory(p, 0, j, [1]) for j in range(3)]
    for t in members:
        t.add_segment(0, [5, 6], [0.0, 0.0])
    members[0].eos, members[1].truncated, members[2].repeated = True, True, True
    task = RecurrenceTask(eval_per_level=1)
    run = SimpleNamespace(tokenizer=SimpleNamespace(decode=lambda ids, skip_special_tokens: "Answer: 4"), task=task, verifier=RuleVerifier(task),
                          length_schedule=LengthPenaltySchedule(), cfg=SimpleNamespace(repeat_penalty=0.5))
    batch = score(run, [Group(0, p, members, started=0)], it=0)
    assert batch.correct.tolist() == [1.0, 0.0, 0.0]
    assert [v.by for v in batch.verdicts] == ["rule", "unfinished", "unfinished"]
    assert batch.total.tolist() == [1.0, 0.0, -0.5]


def test_resume_continues_exactly(tmp_path, tiny_model_dir, monkeypatch):
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    straight_ws = Workspace.resolve(str(tmp_path / "a"))
    run, _ = stages.run_rl(straight_ws, straight_ws.store(), _cfg(["rl.iterations=4"]), tiny_model_dir, progress=False)
    straight = [p.detach().clone() for p in run.model.parameters()]

    ws = Workspace.resolve(str(tmp_path / "b"))
    store = ws.store()
    first, _ = stages.prepare_rl(ws, store, _cfg(["rl.iterations=4"]), tiny_model_dir)
    from k15core.trainer import StopTraining, train

    def stop_after_two(it, metrics):
        if it == 1:
            raise StopTraining()  # what SIGTERM raises: checkpoint, status 'stopped'

    with pytest.raises(StopTraining):
        train(first, stages.rl_checkpoint_dir(ws, first.state.run_id), on_iteration=stop_after_two, progress=False)
    assert store.run(first.state.run_id)["status"] == "stopped"
    resumed, _ = stages.run_rl(ws, store, _cfg(), tiny_model_dir, resume=True, progress=False)
    assert resumed.state.run_id == first.state.run_id and resumed.state.iteration == 4
    for a, b in zip(straight, resumed.model.parameters()):
        assert torch.equal(a, b)
    assert store.run(first.state.run_id)["status"] == "finished"
    assert store.last_iteration(first.state.run_id) == 3


def _exclude_from_another_process(db_path, prompt_ids):
    from k15core.store import Store

    store = Store(db_path)
    for pid in prompt_ids:
        store.add_label_event(pid, "excluded", True, author="annotator", source="studio")


def test_an_exclusion_written_by_another_process_applies_at_the_next_iteration(workspace, tiny_model_dir):
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg(["rl.pool_size=4", "rl.prompts_per_iter=8", "rl.sampler=uniform"]), tiny_model_dir)
    rl_iteration(run)
    first = {t.prompt_id for t in store.trajectories(run.state.run_id, 0)}
    assert len(first) >= 3  # 8 uniform draws from 4 prompts
    banned = sorted(first)[:2]
    proc = mp.get_context("spawn").Process(target=_exclude_from_another_process, args=(str(workspace.db_path), banned))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    rl_iteration(run)
    second = {t.prompt_id for t in store.trajectories(run.state.run_id, 1)}
    assert second and not second & set(banned)


def test_the_engine_stops_a_looping_response_early_and_marks_it(tiny_model_dir):
    from k15core.rollout.repeat import RepeatRule, detect_repeat

    model, tok = load_model(tiny_model_dir)
    # Zero every layer's output: the residual stream is the input embedding, and with tied embeddings
    # the next token is (almost always) the current one again: a model stuck in a loop.
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    ids = tok("Seq 123, steps: 4\n", add_special_tokens=False)["input_ids"]
    rule = RepeatRule(max_ngram=4, min_repeats=4, min_tokens=12)
    [looped] = continue_ids(model, tok, [ids], max_new_tokens=[60], greedy=True, repeat_rule=rule, response_starts=[len(ids)])
    assert looped.repeated and not looped.eos
    assert len(looped.token_ids) < 60  # stopped early
    assert detect_repeat(looped.token_ids, rule) and not detect_repeat(looped.token_ids[:-1], rule)  # at the first token it could
    [plain] = continue_ids(model, tok, [ids], max_new_tokens=[60], greedy=True, response_starts=[len(ids)])
    assert not plain.repeated and len(plain.token_ids) == 60  # without the detector it runs to the limit


@pytest.mark.slow
def test_sigterm_checkpoints_and_train_resume_finishes(tmp_path, tiny_model_dir):
    import os
    import signal
    import subprocess
    import sys
    import time

    from k15core.store import Store

    ws = tmp_path / "ws"
    # the doctor off: the untrained model cannot learn, and the doctor would stop it on its own
    sets = [a for o in SMALL_RL + ["rl.iterations=200", "eval.max_new_tokens=20", "rl.doctor=false"] for a in ("--set", o)]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet", "--model", str(tiny_model_dir), *sets]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until at least one iteration is stored
        if (ws / "k15.db").exists():
            runs = Store(ws / "k15.db").runs(kind="rl")
            if runs and Store(ws / "k15.db").last_iteration(runs[0]["id"]) is not None:
                break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "k15 train --resume" in err
    store = Store(ws / "k15.db")
    run = store.runs(kind="rl")[0]
    assert run["status"] == "stopped"
    done = store.last_iteration(run["id"])
    assert (ws / "runs" / f"rl-{run['id']}" / "trainer_state.pt").exists()
    # the resumed run keeps its config (200 iterations) except what --set changes: two more iterations, then it finishes
    resume = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet", "--resume", "--set", f"rl.iterations={done + 3}"]
    proc = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert store.last_iteration(run["id"]) == done + 2
    assert store.runs(kind="rl")[0]["status"] == "finished"
    assert store.runs(kind="rl")[0]["config"]["rl"]["iterations"] == 200  # the store keeps the config the run started with
    assert len(store.runs(kind="rl")) == 1  # resumed the same run, not a new one


def test_the_sync_phase_pushes_the_stepped_weights_to_the_engine_once(workspace, tiny_model_dir, monkeypatch):
    """Report §2.6.3: generate, train, push. The push comes after the optimiser step, with its weights."""
    from k15core import trainer

    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg(), tiny_model_dir)
    events, pushed = [], []

    def train_then_log(*args):
        stats = optimise(*args)
        events.append("train")
        return stats

    monkeypatch.setattr(trainer, "optimise", train_then_log)
    run.engine.load_weights = lambda model: (events.append("sync"), pushed.append([p.detach().clone() for p in model.parameters()]))
    rl_iteration(run)
    assert events == ["train", "sync"]
    assert all(torch.equal(a, b) for a, b in zip(pushed[0], run.model.parameters()))  # θ_{i+1}, as trained


@pytest.mark.parametrize("task, pool", [("math", 2000), ("recurrence", 5)])
def test_a_pool_larger_than_the_task_or_with_repeats_trains_on_each_prompt_once(workspace, tiny_model_dir, task, pool):
    """The math sample holds 40 problems (30 for training): a pool of 2000 draws each many times. That crashed the
    store (UNIQUE constraint failed: prompts.id); now the pool and the store hold each prompt once."""
    store = workspace.store()
    cfg = _cfg([f"task.name={task}", f"rl.pool_size={pool}", "rl.max_response_tokens=8", "rl.iterations=1"])
    run, _ = stages.prepare_rl(workspace, store, cfg, tiny_model_dir)
    ids = [p.id for p in run.sampler.pool]
    assert len(ids) == len(set(ids)) and len(ids) <= pool
    assert {p["id"] for p in store.prompts()} == set(ids)
    if task == "math":  # every problem of the 40-problem sample that is not held out, once
        assert len(ids) == 40 - len(run.task.eval_problems()) and not set(ids) & {p.id for p in run.task.eval_problems()}
    rl_iteration(run)
    assert store.count_trajectories(run.state.run_id, 0) == 3 * 2

