"""`k15 train --progress-lines`: one plain line per iteration naming the run, what the studio's Launch log shows."""
from __future__ import annotations

import re

from k15core.cli import main

TINY_RL = ["rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8", "rl.minibatches=1", "rl.pool_size=10",
           "task.eval_per_level=2", "rl.doctor=false"]  # the doctor would stop the untrained model's run


def test_train_prints_one_line_per_iteration_with_the_run_id(capsys, workspace, tiny_model_dir):
    argv = ["train", "--workspace", str(workspace.root), "--model", str(tiny_model_dir), "--out", "rl-lines", "--quiet", "--progress-lines"]
    assert main(argv + [a for kv in TINY_RL for a in ("--set", kv)]) == 0
    out = capsys.readouterr().out.splitlines()
    run_id = workspace.store().runs(kind="rl")[-1]["id"]
    assert out[0] == f"RL run {run_id}: iterations 1 to 2; the policy will be saved as rl-lines"
    for n in (1, 2):
        assert sum(bool(re.fullmatch(rf"RL run {run_id} iteration {n}/2: reward -?[0-9.]+, accuracy [0-9.]+, mean length \d+, "
                                     r"truncated \d+%, [0-9.]+ s", line)) for line in out) == 1, out
