"""The iteration's metrics (k15core.records), on hand-made batches."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from k15core.records import iteration_metrics
from k15core.rewards import LengthPenaltySchedule
from k15core.tasks.problem import Problem
from k15core.types import ScoredBatch, Trajectory


def _run(mask_old: bool):
    return SimpleNamespace(buffer=[], sampler=SimpleNamespace(excluded=set()), length_schedule=LengthPenaltySchedule(),
                           state=SimpleNamespace(iteration=2), task=SimpleNamespace(extract_answer=lambda text: None),
                           cfg=SimpleNamespace(mask_old_segments=mask_old))


@pytest.mark.parametrize("mask_old, share", [(True, 4 / 7), (False, 0.0)])
def test_the_share_of_context_only_response_tokens_is_logged(mask_old, share):
    # a long response written in iterations 0, 1, 2 (2 + 2 + 1 tokens) and a short one that ended in iteration 0
    # (2 tokens): 4 of the 7 response tokens are context only (the long one's iterations 0 and 1)
    long, short = (Trajectory(Problem(id="p", prompt="", reference="0"), 0, j, [1]) for j in range(2))
    for iteration, n in ((0, 2), (1, 2), (2, 1)):
        long.add_segment(iteration, [5] * n, [0.0] * n)
    short.add_segment(0, [6, 7], [0.0, 0.0])
    long.eos = short.eos = True
    zeros = torch.zeros(2)
    batch = ScoredBatch([long, short], torch.zeros(2, dtype=torch.long), correct=zeros, length=zeros, repeat=zeros, total=zeros, texts=["", ""])
    m = iteration_metrics(_run(mask_old), batch, {}, generated=0, phase_seconds={})
    assert m["rl/masked_token_share"] == pytest.approx(share)
