"""One process trains a run: a second `k15 train --resume` of a run that is still training is refused and
writes nothing; a trainer killed with SIGKILL leaves a run that reads as gone and resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

SETS = ["rl.prompts_per_iter=3", "rl.k=2", "rl.max_response_tokens=20", "rl.minibatches=2", "rl.pool_size=30", "rl.checkpoint_every=1",
        "task.eval_per_level=2", "eval.max_new_tokens=20", "rl.doctor=false"]  # the untrained model cannot learn: the doctor would stop it
PER_ITERATION = 3 * 2


def _k15(ws, *args: str) -> list[str]:
    return [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet", *args]


def _counts(store, run_id: int) -> Counter:
    return Counter(m["iteration"] for m in store.metrics(run_id, names=["rl/groups"]))


@pytest.mark.slow
def test_a_second_resume_of_a_training_run_is_refused_and_a_killed_owner_lets_a_resume_take_over(tmp_path, tiny_model_dir):
    from k15core import stages
    from k15core.store import Store

    ws = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    sets = [a for s in [*SETS, "rl.iterations=500"] for a in ("--set", s)]
    first = subprocess.Popen(_k15(ws, "--model", str(tiny_model_dir), *sets), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:  # until the run has a checkpoint and a stored iteration
            runs = Store(ws / "k15.db").runs(kind="rl") if (ws / "k15.db").exists() else []
            if runs and (ws / "runs" / f"rl-{runs[0]['id']}" / "trainer_state.pt").exists() and Store(ws / "k15.db").last_iteration(runs[0]["id"]) is not None:
                break
            assert first.poll() is None, first.stderr.read()[-2000:]
            time.sleep(0.5)
        store = Store(ws / "k15.db")
        run_id = runs[0]["id"]
        before = _counts(store, run_id)

        second = subprocess.run(_k15(ws, "--resume", "--set", f"rl.iterations={max(before) + 2}"), env=env, capture_output=True, text=True, timeout=180)
        assert second.returncode == 2, second.stderr[-2000:]
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and f"pid {first.pid}" in errors[0] and "Traceback" not in second.stderr, second.stderr
        assert first.poll() is None  # the first trainer goes on ...
        run = store.run(run_id)
        assert run["status"] == "running" and run["owner"]["pid"] == first.pid  # ... owning its run
        after = _counts(store, run_id)
        assert all(after[it] == 1 for it in before), after  # nothing rolled back or stored twice by the refused resume
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)

    # Killed: nobody trains the run, and it reads so; a resume takes it over and says so.
    assert store.run(run_id)["status"] == "running (owner gone)"
    assert stages.latest_rl_run(store)["id"] == run_id
    last = store.last_iteration(run_id)
    resumed = subprocess.run(_k15(ws, "--resume", "--set", f"rl.iterations={last + 3}"), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"pid {first.pid}" in resumed.stdout and "gone" in resumed.stdout
    assert store.run(run_id)["status"] == "finished" and store.run(run_id)["owner"] is None
    assert store.last_iteration(run_id) == last + 2
    assert _counts(store, run_id) == {it: 1 for it in range(last + 3)}  # every iteration once
    assert [store.count_trajectories(run_id, it) for it in range(last + 3)] == [PER_ITERATION] * (last + 3)
    assert store.count_trajectories(run_id) == PER_ITERATION * (last + 3)
