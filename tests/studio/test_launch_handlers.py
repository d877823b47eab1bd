"""The Launch tab's pure parts, no browser: the form's fields and drop-downs, what is checked before a launch starts,
output names and overwrites, and how a launch's process ended (studio.launch_child, studio.launch_procs)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k15core.choices import CHOICES
from k15core.errors import K15Error
from k15core.losses import LOSSES
from studio import launch_form, launch_procs
from studio.launch_plan import LaunchPlan, next_free_name, plan_launch, what_would_be_overwritten

ROOT = Path(__file__).resolve().parents[2]


def _workspace(tmp_path: Path, *models: str) -> Path:
    for name in models:
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "config.json").write_text("{}")
    return tmp_path


# -- the form ---------------------------------------------------------------------------------------

def test_launch_form_covers_every_config_key_and_sends_only_changes():
    from k15core.config import describe

    fields = launch_form.config_fields()
    assert [f.key for f in fields] == [k for k, _, _ in describe()]
    assert all(f.help for f in fields if f.key.startswith("rl."))
    values = [f.value if f.type in (bool, int, float) or f.choices else launch_form.as_text(f.value) for f in fields]
    assert launch_form.overrides_from_form(fields, values) == []
    i = [f.key for f in fields].index("rl.iterations")
    j = [f.key for f in fields].index("rl.loss")
    values[i], values[j] = 7, "grpo"
    assert launch_form.overrides_from_form(fields, values) == ["rl.iterations=7", "rl.loss=grpo"]


def test_every_registry_choice_is_a_dropdown_of_its_registered_names(monkeypatch):
    from studio.launch_tab import field_component

    monkeypatch.setitem(LOSSES._items, "mine", LOSSES.get("k15"))  # a loss plugged in later is offered too
    fields = {f.key: f for f in launch_form.config_fields()}
    assert {k for k, f in fields.items() if f.choices} == set(CHOICES)
    for key, registry in CHOICES.items():
        assert list(fields[key].choices) == registry.names(), key
        box = field_component(fields[key])
        assert type(box).__name__ == "Dropdown" and [c[1] for c in box.choices] == registry.names() and not box.allow_custom_value
    assert "mine" in fields["rl.loss"].choices
    assert type(field_component(fields["rl.iterations"])).__name__ == "Number"


# -- checked before anything starts -------------------------------------------------------------------

@pytest.mark.parametrize("override, says", [
    ("rl.loss=grop", "rl.loss is 'grop', which is not one of: grpo, k15, reinforce, rest"),
    ("rl.iterations=-3", "rl.iterations is -3, which is below its least value 1"),
    ("rl.iterations=many", "config key 'rl.iterations' must be int"),
    ("rl.lossy=1", "unknown config key 'rl.lossy'"),
])
def test_a_config_the_trainer_refuses_starts_nothing(tmp_path, override, says):
    ws = _workspace(tmp_path, "warmup")
    with pytest.raises(K15Error) as err:
        plan_launch(ws, [override], "warmup", "rl-new")
    said = launch_form.form_message(err.value)
    assert said.startswith("not started: ") and says in said and "--set" not in said
    assert not (ws / "launches").exists()


def test_a_missing_starting_model_starts_nothing(tmp_path):
    ws = _workspace(tmp_path, "warmup")
    for model, says in [("nosuch", "model 'nosuch' not found"), ("", "no starting model chosen")]:
        with pytest.raises(K15Error, match=says):
            plan_launch(ws, [], model, "rl-new")
    assert plan_launch(ws, [], str(tmp_path / "models" / "warmup"), "rl-new").args[:2] == ["--model", str(tmp_path / "models" / "warmup")]
    assert not (ws / "launches").exists()


@pytest.mark.parametrize("out", ["../../x", "/tmp/elsewhere", "models/rl", "..", ""])
def test_launch_refuses_an_output_name_outside_the_workspace(tmp_path, out):
    with pytest.raises(K15Error, match="output model name .* is not a plain name"):
        plan_launch(_workspace(tmp_path, "warmup"), [], "warmup", out)


def test_a_resume_is_checked_as_the_trainer_checks_it(tmp_path):
    from k15core.store import Store

    ws = _workspace(tmp_path, "warmup")
    store = Store(ws / "k15.db")
    with pytest.raises(K15Error, match="there is no stopped RL run"):
        plan_launch(ws, [], "", "rl-new", resume=True, store=store)
    run = store.create_run("rl:rl-old", "rl", {"rl": {"iterations": 3, "k": 2}})
    with pytest.raises(K15Error, match=f"RL run {run} is still training"):  # this process owns it, alive
        plan_launch(ws, [], "", "rl-new", resume=True, store=store)
    store.set_run_status(run, "stopped")
    with pytest.raises(K15Error, match=f"RL run {run} has no checkpoint"):
        plan_launch(ws, [], "", "rl-new", resume=True, store=store)
    (ws / "runs" / f"rl-{run}").mkdir(parents=True)
    (ws / "runs" / f"rl-{run}" / "trainer_state.pt").write_bytes(b"")
    with pytest.raises(K15Error, match="rl.iterations is 0"):  # the form's overrides go on the stored config, checked
        plan_launch(ws, ["rl.iterations=0"], "", "rl-new", resume=True, store=store)
    plan = plan_launch(ws, ["rl.iterations=6"], "", "rl-new", resume=True, store=store)
    assert plan.args == ["--resume", "--set", "rl.iterations=6"]
    store.close()


# -- output names ---------------------------------------------------------------------------------------

def test_output_names_are_new_by_default(tmp_path):
    import datetime

    day = datetime.date(2026, 11, 20)
    ws = _workspace(tmp_path, "rl", "warmup")
    assert next_free_name(ws, today=day) == "rl-20261120-1"
    (ws / "models" / "rl-20261120-1").mkdir()  # a folder, even one without a model yet, is taken
    assert next_free_name(ws, {"rl-20261120-2"}, today=day) == "rl-20261120-3"  # as is a running launch's output


def test_an_existing_name_needs_an_explicit_overwrite(tmp_path):
    from k15core.store import Store

    ws = _workspace(tmp_path, "warmup", "rl")
    store = Store(ws / "k15.db")
    run = store.create_run("rl:rl", "rl", {})
    with pytest.raises(K15Error) as err:
        plan_launch(ws, [], "warmup", "rl", store=store)
    said = launch_form.form_message(err.value)
    assert f"would overwrite the model {ws / 'models' / 'rl'} (saved " in said and f", by RL run {run})" in said
    assert "tick 'overwrite it'" in said and "rl-" in said.split("such as ")[1]
    plan = plan_launch(ws, [], "warmup", "rl", overwrite=True, store=store)
    assert plan.out_name == "rl" and str(ws / "models" / "rl") in plan.overwrites
    # a running launch's output counts before its policy exists
    assert what_would_be_overwritten(ws, "rl-x", {"rl-x": "20261120-101010"}) == \
        "the policy the running launch 20261120-101010 will save as rl-x"
    with pytest.raises(K15Error, match="running launch 20261120-101010"):
        plan_launch(ws, [], "warmup", "rl-x", running={"rl-x": "20261120-101010"})
    assert plan_launch(ws, [], "warmup", "rl-y").overwrites is None
    store.close()


# -- how a launch ended --------------------------------------------------------------------------------------

def _child(tmp_path: Path, code: str) -> tuple[subprocess.Popen, Path]:
    status = tmp_path / "exit.json"
    proc = subprocess.Popen([sys.executable, "-m", "studio.launch_child", str(status), sys.executable, "-c", code],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, status


def test_launch_child_records_the_exit_code_and_survives_a_stop(tmp_path):
    proc, status = _child(tmp_path, "import sys; print('error: boom'); sys.exit(2)")
    assert proc.wait(timeout=60) == 0 and "error: boom" in proc.stdout.read()
    assert json.loads(status.read_text())["exit_code"] == 2
    # Stop gracefully signals the whole group: the trainer dies of it (no handler yet), its parent records that
    proc, status = _child(tmp_path, "import sys, time; print('ready', flush=True); time.sleep(60)")
    assert proc.stdout.readline().strip() == "ready"
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0 and json.loads(status.read_text())["exit_code"] == -signal.SIGTERM


def test_last_error_line_and_exit_text():
    assert launch_procs.last_error_line(["RL run 3 iteration 1/2: reward 0.1", "error: the doctor stopped the run", "  fix: warm up"]) == \
        "error: the doctor stopped the run — fix: warm up"
    assert launch_procs.last_error_line(["Traceback (most recent call last):", '  File "x.py"', "RuntimeError: CUDA out of memory"]) == \
        "RuntimeError: CUDA out of memory"
    assert launch_procs.last_error_line(["loading", "Killed"]) == "Killed"  # no error line: the last one
    assert [launch_procs.exit_text(c) for c in (0, 2, 130, -9, None)] == \
        ["0 (finished)", "2 (error)", "130 (stopped)", "-9 (killed by SIGKILL)", "unknown"]


def test_the_launches_table_shows_run_id_exit_status_and_the_last_error_line(tmp_path):
    from studio.launch_tab import table_frame

    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that has ended
    dead.wait()
    rows = [("20261120-100000", "rl-a", "RL run 4: iterations 1 to 2\nRL run 4 iteration 1/2: reward 0.2\nerror: the doctor stopped the run\n"
             "  fix: warm up first, or k15 train --resume --set rl.doctor_go_on=true\n", 2),
            ("20261120-110000", "rl-b", "RL run 5: iterations 1 to 2\nRL run 5 iteration 2/2: reward 0.4\nRL run 5: 2 iterations\n", 0),
            ("20261120-120000", "rl-c", "Traceback (most recent call last):\nValueError: bad\n", None)]
    for i, (name, out, log, code) in enumerate(rows):
        folder = tmp_path / "launches" / name
        folder.mkdir(parents=True)
        (folder / "launch.json").write_text(json.dumps({"name": name, "pid": dead.pid, "cmd": [], "out": out, "started_at": 1000.0 + i}))
        (folder / "train.log").write_text(log)
        if code is not None:
            (folder / "exit.json").write_text(json.dumps({"exit_code": code, "ended_at": 0}))
    frame = table_frame(tmp_path)
    assert frame.columns[:2].tolist() == ["launch", "run"]
    assert frame.values.tolist() == [
        ["20261120-120000", "", "rl-c", dead.pid, "ended", "unknown", "ValueError: bad"],
        ["20261120-110000", "5", "rl-b", dead.pid, "ended", "0 (finished)", "RL run 5: 2 iterations"],
        ["20261120-100000", "4", "rl-a", dead.pid, "ended", "2 (error)",
         "error: the doctor stopped the run — fix: warm up first, or resume with rl.doctor_go_on set to true in the settings below"],
    ]


def test_launch_log_reads_only_launch_folders(tmp_path):
    secret = tmp_path / "secret" / "train.log"
    secret.parent.mkdir()
    secret.write_text("password=hunter2\n")
    (tmp_path / "ws" / "launches" / "20260101-000000").mkdir(parents=True)
    (tmp_path / "ws" / "launches" / "20260101-000000" / "train.log").write_text("iteration 1\n")
    assert launch_procs.read_log(tmp_path / "ws", "20260101-000000") == "iteration 1"
    for name in ("../../secret", "../secret", str(secret.parent)):
        shown = launch_procs.read_log(tmp_path / "ws", name)
        assert "hunter2" not in shown and "not a plain name" in shown
    assert launch_procs.read_log(tmp_path / "ws", "") == ""


# -- a real run --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_launch_start_stop_and_resume_a_real_run(tmp_path, tiny_model_dir):
    """Start `k15 train` as the Launch tab does, see its progress lines, stop it gracefully (it checkpoints), resume it."""
    from k15core.store import Store

    small = ["rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8", "rl.minibatches=1", "rl.pool_size=10", "rl.iterations=500",
             "rl.checkpoint_every=1000", "task.eval_per_level=2", "rl.doctor=false"]  # else the doctor stops the untrained model's run
    record = launch_procs.start_run(tmp_path, plan_launch(tmp_path, small, str(tiny_model_dir), "rl-test"))
    assert (tmp_path / "launches" / record["name"] / "config.yaml").exists()

    def wait_for(check, what, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; log:\n" + (tmp_path / "launches" / record["name"] / "train.log").read_text()[-2000:])

    def last_iteration():
        if not (tmp_path / "k15.db").exists():
            return None
        store = Store(tmp_path / "k15.db")
        runs = store.runs(kind="rl")
        return store.last_iteration(runs[-1]["id"]) if runs else None

    wait_for(lambda: (last_iteration() or 0) >= 1, "two iterations")
    row = launch_procs.launches(tmp_path)[0]
    assert row["running"] and row["exit"] == "" and row["run_id"] == Store(tmp_path / "k15.db").runs(kind="rl")[-1]["id"]
    assert f"RL run {row['run_id']} iteration 1/500: reward" in launch_procs.read_log(tmp_path, record["name"])
    assert "asked to stop" in launch_procs.stop_run(tmp_path, record["name"])
    wait_for(lambda: not launch_procs.launches(tmp_path)[0]["running"], "the run to stop")
    assert launch_procs.launches(tmp_path)[0]["exit"] == "130 (stopped)"
    store = Store(tmp_path / "k15.db")
    run = store.runs(kind="rl")[-1]
    assert run["status"] == "stopped" and (tmp_path / "runs" / f"rl-{run['id']}" / "trainer_state.pt").exists()
    stopped_at = store.last_iteration(run["id"])
    again = launch_procs.start_run(tmp_path, plan_launch(tmp_path, small, "", "rl-test", resume=True, store=store))
    assert "--resume" in again["cmd"]
    wait_for(lambda: (store.last_iteration(run["id"]) or 0) > stopped_at, "the resumed run to go on")
    assert launch_procs.launches(tmp_path)[0]["run_id"] == run["id"]
    launch_procs.stop_run(tmp_path, again["name"])
    wait_for(lambda: not launch_procs.launches(tmp_path)[0]["running"], "the resumed run to stop")
    assert store.runs(kind="rl")[-1]["id"] == run["id"]  # the same run went on, no new one
    assert launch_procs.stop_run(tmp_path, again["name"]).endswith("is not running")


def test_a_launch_trains_on_the_studios_store_passed_in_its_environment(tmp_path, monkeypatch):
    """A studio on a shared store (--store) starts `k15 train` on that store: K15_STORE in the child's environment, so
    the URL's password is on no command line and in no launch.json."""
    seen = {}

    class FakePopen:
        def __init__(self, cmd, **kw):
            seen.update(cmd=cmd, env=kw["env"])
            self.pid = 12345

    monkeypatch.setattr(launch_procs.subprocess, "Popen", FakePopen)
    url = "postgresql://ann:s3cret@db.lab/k15"
    record = launch_procs.start_run(tmp_path, LaunchPlan(config_yaml="{}\n", args=[], out_name="rl-x", overwrites=None), url)
    assert seen["env"]["K15_STORE"] == url
    assert "s3cret" not in " ".join(seen["cmd"]) and "s3cret" not in (tmp_path / "launches" / record["name"] / "launch.json").read_text()
