"""What one RL iteration leaves in the run store: its metrics (documented in `k15core.metrics.METRICS`)
and every response as a `TrajectoryRecord`, written by rank 0 in one transaction."""
from __future__ import annotations

import time

import numpy as np

from k15core import dist
from k15core.judge.model import malformed_share
from k15core.rollout.partial import masked_token_share
from k15core.types import REWARD_PARTS, ScoredBatch, TrajectoryRecord


def record(run, batch: ScoredBatch, train: dict, generated: int, phase_seconds: dict[str, float]) -> dict[str, float]:
    """The iteration's metrics over all ranks' groups, and every trajectory, written to the store by rank 0
    (timings are rank 0's). Returns the metrics on every rank, `time/store_s` included."""
    batches = dist.gather_to_main(batch)
    generated, buffered = int(dist.all_reduce_sum(generated)), int(dist.all_reduce_sum(len(run.buffer)))

    def write() -> dict[str, float]:
        t0 = time.perf_counter()
        whole = ScoredBatch.concat(batches)
        metrics = iteration_metrics(run, whole, train, generated, phase_seconds, buffered)
        run.store.record_iteration(run.state.run_id, run.state.iteration, metrics, to_records(whole))
        # The write's own time is known only once it is done: stored after it, in a one-row transaction.
        metrics["time/store_s"] = time.perf_counter() - t0
        run.store.log_metrics(run.state.run_id, run.state.iteration, {"time/store_s": metrics["time/store_s"]})
        return metrics

    return dist.on_main(write)


def iteration_metrics(run, batch: ScoredBatch, train: dict, generated: int, phase_seconds: dict[str, float],
                      buffered: int | None = None) -> dict[str, float]:
    """The per-iteration metrics documented in `k15core.metrics.METRICS` (rl/..., time/...). `buffered`: groups
    waiting in the replay buffers of all ranks (default: this process's)."""
    buffered = len(run.buffer) if buffered is None else buffered
    m: dict[str, float] = {"rl/groups": len(set(batch.group.tolist())), "rl/buffered_groups": buffered, "rl/excluded_prompts": len(run.sampler.excluded)}
    m["rl/length_penalty_weight"] = run.length_schedule.weight_at(run.state.iteration)
    m["time/rollout_tokens_per_s"] = generated / max(phase_seconds.get("rollout", 0.0), 1e-9)
    for phase, s in phase_seconds.items():
        m[f"time/{phase}_s"] = s
    if not batch.trajectories:
        return m
    correct = batch.correct.numpy()
    lengths = np.array([len(t.token_ids) for t in batch.trajectories], dtype=float)
    m["rl/reward"] = float(batch.total.mean())
    m["rl/accuracy"] = float(correct.mean())
    levels = np.array([t.problem.difficulty for t in batch.trajectories])
    for d in sorted(set(levels.tolist())):
        m[f"rl/accuracy/d{d}"] = float(correct[levels == d].mean())
        m[f"rl/len_mean/d{d}"] = float(lengths[levels == d].mean())
    m["rl/len_mean"] = float(lengths.mean())
    for q in (10, 50, 90):
        m[f"rl/len_p{q}"] = float(np.percentile(lengths, q))
    for name, sel in (("correct", correct == 1), ("wrong", correct == 0)):
        if sel.any():
            m[f"rl/len_mean_{name}"] = float(lengths[sel].mean())
    m["rl/truncated"] = float(np.mean([t.truncated for t in batch.trajectories]))
    m["rl/finished"] = float(np.mean([t.eos for t in batch.trajectories]))
    # Format failures among the responses that ended by themselves only: a cut one is truncation's to explain.
    ended = [x for t, x in zip(batch.trajectories, batch.texts) if t.eos]
    if ended:
        m["rl/unparsed"] = float(np.mean([run.task.extract_answer(x) is None for x in ended]))
    m["rl/repeated"] = float(np.mean([t.repeated for t in batch.trajectories]))
    m["rl/segments_mean"] = float(np.mean([t.segments for t in batch.trajectories]))
    m["rl/masked_token_share"] = masked_token_share(batch.trajectories, run.cfg.mask_old_segments)
    m["rl/length_reward"] = float(batch.length.mean())
    judged = [v for v in batch.verdicts if v.by == "judge"]
    if judged:  # only when rl.verifier asks the judge: a rule-only run logs nothing here
        m["judge/judged_share"] = len(judged) / len(batch.verdicts)
        m["judge/malformed_share"] = malformed_share(judged)
    same = [bool((batch.total[batch.group == g] == batch.total[batch.group == g][0]).all()) for g in batch.group.unique()]
    m["rl/same_reward_groups"] = float(np.mean(same))
    for key in ("loss", "kl", "entropy", "logratio_abs", "tau_share"):
        if key in train:
            m[f"rl/{key}"] = train[key]
    if "train_tokens_per_s" in train:
        m["time/train_tokens_per_s"] = train["train_tokens_per_s"]
    return m


def to_records(batch: ScoredBatch) -> list[TrajectoryRecord]:
    """Every response of the batch as the store keeps it (its text as decoded for the verifier)."""
    out = []
    for i, t in enumerate(batch.trajectories):
        out.append(
            TrajectoryRecord(
                prompt_id=t.problem.id, sample_index=t.sample_index, prompt=t.problem.prompt,
                response=batch.texts[i], token_ids=t.token_ids, logprobs=t.logprobs, entropies=t.entropies,
                reward=float(batch.total[i]), correct=float(batch.correct[i]), length=len(t.token_ids),
                reward_parts={k: float(getattr(batch, k)[i]) for k in REWARD_PARTS},
                finished=t.eos, truncated=t.truncated, repeated=t.repeated, segments=t.segments, difficulty=t.problem.difficulty,
                tag=f"group:{t.group}", group=t.group, verdict=batch.verdicts[i] if batch.verdicts else None,
            )
        )
    return out
