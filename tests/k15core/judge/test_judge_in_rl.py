"""The judge inside an RL iteration: its verdicts become the correctness reward, are stored with each trajectory (the
reasoning too), and are counted in judge/* metrics; a run that asks for a judge it cannot have stops before it starts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from k15core import stages
from k15core.config import load_config
from k15core.errors import K15Error
from k15core.judge import CoTJudge
from k15core.judge.verifiers import JudgeVerifier, RuleThenJudge
from k15core.metrics import describe_metric
from k15core.records import iteration_metrics, to_records
from k15core.rewards import LengthPenaltySchedule
from k15core.tasks.problem import Problem
from k15core.tasks.recurrence import RecurrenceTask
from k15core.trainer import score
from k15core.types import Group, Trajectory, Verdict

# the judge's answers, by response text: one right, one wrong, one it cannot write properly
JUDGE_SAYS = {"four": 'four is 4.\n{"correct": true}', "Answer: 5": '5 is not 4.\n{"correct": false}', "it is 4": "yes it is 4 <b>!</b>"}


def _scored(verifier_name: str):
    task = RecurrenceTask(eval_per_level=1)
    completer = lambda prompts: [next(v for k, v in JUDGE_SAYS.items() if f"<<<\n{k}\n>>>" in p) for p in prompts]  # noqa: E731
    verifier = {"judge": JudgeVerifier, "rule_then_judge": RuleThenJudge}[verifier_name](task, CoTJudge(completer))
    p = Problem(id="p", prompt="Seq 123, steps: 1", reference="4")
    texts = ["four", "Answer: 5", "it is 4", "Answer: 4"]
    members = [Trajectory(p, 0, j, [1]) for j in range(4)]
    for j, t in enumerate(members):
        t.add_segment(0, [10 + j], [0.0])
        t.eos = j < 3
    members[3].truncated = True  # cut: never shown to the judge
    run = SimpleNamespace(tokenizer=SimpleNamespace(decode=lambda ids, skip_special_tokens: texts[ids[-1] - 10]), task=task, verifier=verifier,
                          length_schedule=LengthPenaltySchedule(), cfg=SimpleNamespace(repeat_penalty=0.5, mask_old_segments=True),
                          buffer=[], sampler=SimpleNamespace(excluded=set()), state=SimpleNamespace(iteration=0))
    return run, score(run, [Group(0, p, members, started=0)], it=0)


def test_the_judge_decides_correctness_and_a_malformed_verdict_scores_0():
    run, batch = _scored("judge")
    assert batch.correct.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert [(v.by, v.malformed) for v in batch.verdicts] == [("judge", False), ("judge", False), ("judge", True), ("unfinished", False)]
    m = iteration_metrics(run, batch, {}, generated=0, phase_seconds={})
    assert m["judge/judged_share"] == 0.75 and m["judge/malformed_share"] == pytest.approx(1 / 3)
    assert describe_metric("judge/judged_share") and describe_metric("judge/malformed_share")


def test_rule_then_judge_in_a_batch():
    run, batch = _scored("rule_then_judge")
    # "Answer: 5" has the recurrence rule's marker: the rule says wrong; the two without one go to the judge
    assert [v.by for v in batch.verdicts] == ["judge", "rule", "judge", "unfinished"]
    assert batch.correct.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert iteration_metrics(run, batch, {}, generated=0, phase_seconds={})["judge/judged_share"] == 0.5


def test_a_rule_only_batch_logs_no_judge_metrics():
    from k15core.judge.verifiers import RuleVerifier

    run, batch = _scored("judge")
    batch.verdicts = [Verdict(False, "rule")] * 4
    m = iteration_metrics(run, batch, {}, generated=0, phase_seconds={})
    assert not any(k.startswith("judge/") for k in m) and RuleVerifier.uses_judge is False


def test_verdicts_and_reasoning_are_stored_with_each_trajectory(tmp_path):
    from k15core.store import Store

    _, batch = _scored("judge")
    store = Store(tmp_path / "k15.db")
    run_id = store.create_run("r", "rl", {})
    store.record_iteration(run_id, 0, {}, to_records(batch))
    back = store.trajectories(run_id)
    assert [t.verdict for t in back] == batch.verdicts
    assert back[0].verdict.reasoning == "four is 4." and back[2].verdict.reasoning == "yes it is 4 <b>!</b>"  # as written, escaped only on display
    group = store.trajectory_group(1)
    assert [g["verdict"].by for g in group] == ["judge", "judge", "judge", "unfinished"]
    store.close()


def _cfg(*extra):
    return load_config("assets/configs/demo.yaml", ["rl.prompts_per_iter=2", "rl.k=2", "rl.pool_size=10", "task.eval_per_level=1", *extra])


def test_a_judge_verifier_without_a_judge_model_stops_before_anything_is_recorded(workspace, tiny_model_dir):
    store = workspace.store()
    with pytest.raises(K15Error, match="judge.model is empty"):
        stages.prepare_rl(workspace, store, _cfg("rl.verifier=judge"), tiny_model_dir)
    with pytest.raises(K15Error, match="cannot grade it"):
        stages.prepare_rl(workspace, store, _cfg("rl.verifier=rule_then_judge", f"judge.model={tiny_model_dir}", "task.name=code"), tiny_model_dir)
    assert store.runs() == []
    store.close()


@pytest.mark.slow
def test_prepare_rl_loads_the_judge_model_rl_verifier_asks_for(workspace, tiny_model_dir):
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg("rl.verifier=rule_then_judge", f"judge.model={tiny_model_dir}", "judge.max_new_tokens=5"),
                               tiny_model_dir)
    assert isinstance(run.verifier, RuleThenJudge) and run.verifier.judge.complete.cfg.max_new_tokens == 5
    assert run.verifier.judge.complete.model is not run.model  # its own frozen copy, never the policy being trained
    run.lock.release()
    store.close()
