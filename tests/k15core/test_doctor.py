"""The doctor: each check on hand-made metric histories, then tiny-model runs that trigger each alarm, and a
healthy one that triggers none."""
from __future__ import annotations

import shutil

import pytest
import torch

from k15core import doctor, stages
from k15core.config import RLConfig, load_config
from k15core.errors import K15Error
from k15core.doctor import CHECKS, FATAL, WARNING, DoctorStop, Evidence, alarms_from_metrics, examine

CFG = RLConfig(doctor_patience=3)


def _fires(name: str, history: list[dict], cfg: RLConfig = CFG, **evidence) -> float | None:
    return CHECKS.get(name).finds(Evidence(history, **evidence), cfg)


# -- the checks, on hand-made histories -------------------------------------------------------------

def test_no_signal_needs_every_group_equal_for_patience_iterations_in_a_row():
    equal, mixed = {"rl/same_reward_groups": 1.0}, {"rl/same_reward_groups": 0.9}
    assert _fires("no_signal", [mixed, equal, equal, equal]) == 3
    assert _fires("no_signal", [equal, equal]) is None  # not yet patience iterations
    assert _fires("no_signal", [equal, mixed, equal, equal]) is None
    assert _fires("no_signal", [equal, {}, equal, equal]) == 3  # an iteration without finished groups does not count


def test_truncated_fires_at_the_threshold_share_in_each_of_the_last_iterations():
    assert _fires("truncated", [{"rl/truncated": x} for x in (0.9, 0.95, 1.0)]) == 1.0
    assert _fires("truncated", [{"rl/truncated": x} for x in (0.89, 0.95, 1.0)]) is None
    assert _fires("truncated", [{"rl/truncated": x} for x in (0.1, 0.89, 0.95, 1.0)]) is None


def test_no_eos_is_about_the_whole_run():
    assert _fires("no_eos", [{"rl/finished": 0.0}] * 4) == 4
    assert _fires("no_eos", [{"rl/finished": 0.1}] + [{"rl/finished": 0.0}] * 4) is None  # it once stopped by itself
    assert _fires("no_eos", [{"rl/finished": 0.0}] * 2) is None


def test_format_failures_fire_on_a_high_unparsed_share_of_ended_responses():
    assert _fires("format", [{"rl/unparsed": 1.0}] * 3) == 1.0
    assert _fires("format", [{"rl/unparsed": 1.0}, {"rl/unparsed": 0.5}, {"rl/unparsed": 1.0}]) is None


def test_chat_template_is_missing_only_for_a_chat_vocabulary_without_a_template():
    assert _fires("chat_template", [], chat_markers=("<|im_start|>",), chat_template=False) == 1.0
    assert _fires("chat_template", [], chat_markers=("<|im_start|>",), chat_template=True) is None
    assert _fires("chat_template", [], chat_markers=(), chat_template=False) is None  # a base model


def test_chat_evidence_reads_the_vocabulary_and_the_template():
    class Tok:
        chat_template = None

        def get_vocab(self):
            return {"a": 0, "<|im_start|>": 1, "<|im_end|>": 2}

    assert doctor.chat_evidence(Tok()) == (("<|im_start|>", "<|im_end|>"), False)


def test_kl_and_entropy_warnings():
    assert _fires("kl_exploding", [{"rl/kl": 0.5}]) == 0.5
    assert _fires("kl_exploding", [{"rl/kl": 0.5}, {"rl/kl": 0.01}]) is None  # the latest iteration counts
    entropy = lambda *xs: [{"rl/entropy": x} for x in xs]  # noqa: E731
    assert _fires("entropy_collapsing", entropy(3.0, 2.0, 0.29)) == 0.29  # under 3.0 / 10
    assert _fires("entropy_collapsing", entropy(3.0, 0.31)) is None  # a healthy SmolLM2 run fell up to 6.4x
    assert _fires("entropy_exploding", entropy(1.0, 10.5)) == 10.5
    assert _fires("entropy_exploding", entropy(1.0, 9.9)) is None
    assert _fires("entropy_collapsing", entropy(3.0)) is None and _fires("entropy_exploding", entropy(1.0)) is None


def test_hacking_compares_the_spans_before_the_last_two_heldout_measurements():
    def run(rewards, heldout):  # heldout: {index: accuracy}
        return [{"rl/reward": r, **({"rl/heldout_accuracy": heldout[i]} if i in heldout else {})} for i, r in enumerate(rewards)]

    # rewards 0.2, 0.2 then 0.5, 0.5; held-out 0.6 -> 0.4: reward +0.3, held-out -0.2
    assert _fires("hacking", run([0.2, 0.2, 0.5, 0.5], {1: 0.6, 3: 0.4})) == pytest.approx(0.2)
    assert _fires("hacking", run([0.2, 0.2, 0.5, 0.5], {1: 0.6, 3: 0.55})) is None  # held-out about the same
    assert _fires("hacking", run([0.5, 0.5, 0.2, 0.2], {1: 0.6, 3: 0.4})) is None  # reward fell too: no hacking
    assert _fires("hacking", run([0.2, 0.2, 0.5, 0.5], {3: 0.4})) is None  # one measurement
    # three measurements: only the span since the first one counts as "before"
    assert _fires("hacking", run([0.9, 0.2, 0.2, 0.5], {0: 0.9, 2: 0.6, 3: 0.4})) == pytest.approx(0.2)


def test_examine_puts_fatal_first_and_each_alarm_names_cause_and_fix():
    history = [{"rl/same_reward_groups": 1.0, "rl/kl": 1.0}] * 3
    alarms = examine(Evidence(history), CFG, iteration=2)
    assert [(a.check, a.severity) for a in alarms] == [("no_signal", FATAL), ("kl_exploding", WARNING)]
    assert "no learning signal" in alarms[0].message and "fix: " in alarms[0].message and "\n" not in alarms[0].message
    assert "last 3 iterations" in alarms[0].cause  # the run's own config in the message
    assert examine(Evidence(history), CFG, 2, before_run=True) == []  # only the template check runs before


def test_alarms_come_back_from_their_metric_rows_with_the_runs_config():
    rows = [{"iteration": 4, "name": "doctor/truncated", "value": 0.95}, {"iteration": 4, "name": "rl/truncated", "value": 0.95},
            {"iteration": 4, "name": "doctor/unknown_check", "value": 1.0}]
    [a] = alarms_from_metrics(rows, {"max_response_tokens": 33})
    assert (a.check, a.iteration, a.severity) == ("truncated", 4, FATAL)
    assert "95%" in a.cause and "rl.max_response_tokens=33" in a.cause


# -- tiny-model runs -----------------------------------------------------------------------------------

TINY = ["rl.prompts_per_iter=3", "rl.k=2", "rl.max_response_tokens=20", "rl.minibatches=2", "rl.pool_size=30", "rl.checkpoint_every=0",
        "task.eval_per_level=2", "rl.doctor_patience=2", "rl.iterations=2"]


def _alarms(store, run_id: int) -> set[str]:
    return {r["name"][7:] for r in store.metrics(run_id, since_iteration=-2) if r["name"].startswith("doctor/")}


def _train(workspace, extra=(), model_dir=None, edit=None, on_iteration=None):
    """A tiny RL run; `edit(run)` changes it before training. Returns (store, run, the DoctorStop or None)."""
    from k15core.trainer import train

    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, load_config(overrides=[*TINY, *extra]), model_dir)
    if edit is not None:
        edit(run)
    try:
        train(run, stages.rl_checkpoint_dir(workspace, run.state.run_id), on_iteration=on_iteration, progress=False)
    except DoctorStop as err:
        return store, run, err
    return store, run, None


def test_a_run_without_signal_stops_checkpointed_and_resumes_when_told_to_go_on(workspace, tiny_model_dir):
    """The untrained model never writes "Answer: ...": every reward is 0 (no signal) and no ended response parses."""
    store, run, stop = _train(workspace, ["rl.max_response_tokens=60"], model_dir=tiny_model_dir)
    rid = run.state.run_id
    fired = _alarms(store, rid)
    assert {"no_signal", "format"} <= fired and "truncated" not in fired
    assert stop is not None and stop.alarm.check == "format" and "fix:" in str(stop) and "doctor_go_on" in stop.fix  # the first fatal, by name
    assert isinstance(stop, K15Error) and "\n" not in stop.problem  # k15 train prints it as one line and its fix, status 2
    assert store.run(rid)["status"] == "stopped" and store.last_iteration(rid) == 1
    assert (stages.rl_checkpoint_dir(workspace, rid) / "trainer_state.pt").exists()
    resumed, _ = stages.run_rl(workspace, store, load_config(), None, resume=True, progress=False,
                               overrides=["rl.doctor_go_on=true", "rl.iterations=3"])
    assert resumed.state.run_id == rid and resumed.state.iteration == 3 and store.run(rid)["status"] == "finished"
    assert {"no_signal", "format"} <= {r["name"][7:] for r in store.metrics(rid, since_iteration=1) if r["name"].startswith("doctor/")}


def test_a_response_limit_too_short_stops_the_run(workspace, tiny_model_dir):
    store, run, stop = _train(workspace, ["rl.max_response_tokens=2"], tiny_model_dir)
    assert stop is not None and "truncated" in _alarms(store, run.state.run_id)
    assert "raise rl.max_response_tokens" in str(stop) or stop.alarm.check != "truncated"


def test_a_model_that_never_samples_eos_stops_the_run(workspace, tiny_model_dir):
    def loop_forever(run):
        """Every layer's output zeroed: the next token is most likely the current one; the final norm scaled up makes
        it (almost) certain even when sampled. A loop, which the repeat detector stops: neither EOS nor truncated."""
        with torch.no_grad():
            for layer in run.model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            run.model.model.norm.weight.mul_(100)

    store, run, stop = _train(workspace, ["rl.lr=0"], tiny_model_dir, edit=loop_forever)
    fired = _alarms(store, run.state.run_id)
    assert stop is not None and "no_eos" in fired and "truncated" not in fired


def test_a_chat_vocabulary_without_its_template_stops_the_run_before_it_starts(workspace, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    model_dir = tmp_path / "chatty"
    shutil.copytree(tiny_model_dir, model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.save_pretrained(model_dir)
    store, run, stop = _train(workspace, model_dir=model_dir)
    assert stop is not None and stop.alarm.check == "chat_template" and "before its first iteration" in str(stop)
    assert _alarms(store, run.state.run_id) == {"chat_template"}
    assert store.last_iteration(run.state.run_id) == doctor.BEFORE_RUN and run.state.iteration == 0


def test_a_learning_rate_far_too_high_warns_of_kl_and_the_run_goes_on(workspace, tiny_model_dir):
    store, run, stop = _train(workspace, ["rl.lr=0.05", "rl.length_penalty=1", "rl.max_response_tokens=60", "rl.doctor_go_on=true"], tiny_model_dir)
    assert stop is None and "kl_exploding" in _alarms(store, run.state.run_id)
    assert store.run(run.state.run_id)["status"] == "finished"


@pytest.mark.parametrize("first, then, expected", [(1.0, 20.0, "entropy_collapsing"), (20.0, 1.0, "entropy_exploding")])
def test_entropy_moving_far_from_its_first_value_warns(workspace, tiny_model_dir, first, then, expected):
    """The final norm's scale sets how peaked the policy is: changed after the first iteration, entropy follows."""
    def scale(factor):
        def edit(run, *_):
            with torch.no_grad():
                run.model.model.norm.weight.mul_(factor)
        return edit

    holder = {}
    store, run, stop = _train(workspace, ["rl.lr=0", "rl.doctor_go_on=true"], tiny_model_dir,
                              edit=lambda run: (holder.setdefault("run", run), scale(first)(run)),
                              on_iteration=lambda it, m: scale(then / first)(holder["run"]) if it == 0 else None)
    fired = _alarms(store, run.state.run_id)
    assert expected in fired and ({"entropy_collapsing", "entropy_exploding"} - {expected}).isdisjoint(fired)


def test_reward_rising_while_heldout_accuracy_falls_warns_of_hacking(workspace, ending_model_dir, monkeypatch):
    """Simulated: the verifier accepts every answer from the second iteration on (the reward jumps) while the
    held-out measurement falls (it is replaced: the tiny model's real one stays at 0)."""
    heldout = iter([0.5, 0.0])
    monkeypatch.setattr(doctor, "heldout_accuracy", lambda run: {"rl/heldout_accuracy": next(heldout)})

    def hackable(run):
        calls = {"n": 0}
        verify = run.task.verify

        def lenient(text, reference):
            calls["n"] += 1
            return 1.0 if calls["n"] > 6 else verify(text, reference)  # 6 responses per iteration
        run.task.verify = lenient

    store, run, stop = _train(workspace, ["rl.doctor_eval_every=1", "rl.doctor_go_on=true"], ending_model_dir, edit=hackable)
    assert "hacking" in _alarms(store, run.state.run_id)
    assert [r["value"] for r in store.metrics(run.state.run_id, names=["rl/heldout_accuracy"])] == [0.5, 0.0]


def test_a_healthy_run_triggers_no_alarm(workspace, ending_model_dir):
    """The digit task's easiest level and a model that ends its answers ("Answer: d") with digits that are
    sometimes right: groups differ, answers parse, and responses end; the held-out measurement runs every iteration."""
    store, run, stop = _train(workspace, ["task.levels=[1]", "rl.k=4", "rl.max_response_tokens=30", "rl.doctor_patience=3",
                                          "rl.iterations=3", "rl.doctor_eval_every=1", "rl.doctor_eval_problems=4"], ending_model_dir)
    assert stop is None and _alarms(store, run.state.run_id) == set()
    assert len(store.metrics(run.state.run_id, names=["rl/heldout_accuracy"])) == 3
    assert store.run(run.state.run_id)["status"] == "finished"
