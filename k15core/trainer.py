"""The k1.5 RL trainer: one iteration reads like the report (§2.3, §2.6); `train` loops, checkpoints, resumes.

One iteration (`rl_iteration`):
    1. steer     read the studio's prompt labels (exclusions, edited references) from the store
    2. rollout   buffered partial rollouts first, then new prompts (k samples each), within the
                 per-iteration token budget; loops are stopped by the repeat detector
    3. reward    verifier correctness (rl.verifier: the task's rule, the CoT judge, or both) + length penalty
                 (after its warm-up) + repeat penalty
    4. train     π_θi := the current policy (its log-probs computed once, no gradient); a fresh
                 optimiser (the report resets it every iteration); rl.epochs passes of a few
                 mini-batch steps on the chosen loss (k1.5 by default)          -> k15core.policy_step
    5. sync      the new weights into the rollout engine (the hybrid deployment of §2.6.3)
    6. record    success rates to the sampler; metrics and every trajectory to the store -> k15core.records

After each iteration `train` asks the doctor (`k15core.doctor`): alarms for a run that cannot learn, a fatal one
stops the run (checkpointed, resumable) unless rl.doctor_go_on.
Checkpoints and resume: `k15core.checkpoint`; stopping (SIGTERM finishes the iteration first): `k15core.stopping`.
Choices the report leaves open (spec §13) are made in `k15core.config.RLConfig`, each documented there: τ, k,
prompts per iteration, optimiser (AdamW) and learning rate, mini-batches and passes per iteration, rollout
temperature and top-p, and the length-penalty schedule.
"""
from __future__ import annotations

import math
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from k15core import dist, labels
from k15core.checkpoint import save_checkpoint
from k15core.config import RLConfig
from k15core.doctor import Doctor, DoctorStop
from k15core.judge.model import VerifyItem
from k15core.judge.verifiers import RuleVerifier, Verifier, verify_finished
from k15core.policy_step import optimise
from k15core.precision import use_bf16
from k15core.prompting import prompt_ids
from k15core.vlm.inputs import ImagePromptEncoder
from k15core.records import record
from k15core.rewards import LengthPenaltySchedule, correctness, total_reward
from k15core.rollout.engine import make_engine
from k15core.rollout.partial import ReplayBuffer, rollout_step
from k15core.rollout.repeat import RepeatRule
from k15core.sampling import CurriculumPhase, PromptSampler, SuccessTracker
from k15core.stopping import StopRequest, StopTraining
from k15core.tasks.base import Task
from k15core.tasks.problem import Problem
from k15core.types import Group, ScoredBatch, TrainState, Trajectory

if TYPE_CHECKING:
    from k15core.runlock import RunLock


@dataclass
class PhaseTimer:
    """Seconds per phase of one iteration (the `time/{phase}_s` metrics); the phases are the loop's skeleton."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


class RLRun:
    """The state of one RL run: policy, optimiser, sampler, replay buffer, store handle."""

    def __init__(self, cfg: RLConfig, task: Task, model, tokenizer, store, run_id: int, pool: list[Problem], rollout_model=None, model_path=None,
                 verifier: Verifier | None = None, processor=None, images=None):
        """`model` is the policy to train (possibly DDP/FSDP2-wrapped: `dist.prepare_model`), `rollout_model`
        the one the HF engine samples from (default: the policy itself), `model_path` the folder it was
        loaded from (the vLLM engine starts from it). `store` is None on ranks other than 0. `verifier` decides
        correctness (default: the task's own rule; `stages.prepare_rl` builds the one `rl.verifier` names).
        A vision-language policy comes with its `processor` (whose tokenizer is `tokenizer`) and the workspace's
        image store `images`: each drawn prompt is then encoded with its pictures, and saved policies keep the processor."""
        self.cfg, self.task, self.model, self.tokenizer, self.store = cfg, task, model, tokenizer, store
        self.processor = processor
        self.encode = ImagePromptEncoder(processor, images, task.instruction) if processor is not None else None
        self.verifier = verifier or RuleVerifier(task)
        self.device = next(model.parameters()).device
        self.bf16 = use_bf16(cfg.bf16, self.device)
        phases = [CurriculumPhase(p.start_iteration, list(p.levels)) for p in cfg.curriculum]
        self.sampler = PromptSampler(pool, cfg.sampler, phases, cfg.priority_floor, SuccessTracker(prior=cfg.success_prior), cfg.seed)
        self.task_problems = {p.id: p for p in pool}  # as the task made them, before any label
        self.problems = dict(self.task_problems)  # with the labels applied
        self.buffer = ReplayBuffer()
        self.state = TrainState(run_id=run_id)
        self.optimizer: torch.optim.Optimizer | None = None
        self.length_schedule = LengthPenaltySchedule(cfg.length_penalty_warmup, cfg.length_penalty)
        self.repeat_rule = RepeatRule(max_ngram=cfg.repeat_ngram, min_repeats=cfg.repeat_min_repeats)
        self.engine = make_engine(cfg, model, rollout_model or dist.unwrap(model), tokenizer, model_path, self.repeat_rule,
                                  images if processor is not None else None)
        self.lock: RunLock | None = None  # rank 0's ownership of the run (set by stages.prepare_rl), let go by `train`


# -- one iteration ---------------------------------------------------------------------------------

def rl_iteration(run: RLRun) -> dict[str, float]:
    """One RL iteration, in the report's order. Returns its metrics (also written to the store).

    Under torchrun every rank runs this same function on its share of the prompts; the helpers it calls
    exchange what must be shared (label events, group counts, success rates, metrics) through `dist`.
    """
    it, timer = run.state.iteration, PhaseTimer()
    with timer("steer"):
        apply_labels(run)  # the studio's exclusions and edits take effect now
    with timer("rollout"):
        groups, generated = rollout(run, it)  # buffered continuations first, then new prompts
    done = [g for g in groups if g.done]
    run.buffer.push([g for g in groups if not g.done])
    with timer("reward"):
        batch = score(run, done, it)
    with timer("train"):
        train_stats = optimise(run, batch, it)  # θ_i -> θ_{i+1}
    with timer("sync"):
        sync_weights(run, stepped=bool(train_stats))  # the next rollout samples from θ_{i+1}
    update_sampler(run, done, batch)  # success rates for prioritised sampling
    metrics = record(run, batch, train_stats, generated, timer.seconds)
    run.state.iteration += 1
    return metrics


def apply_labels(run: RLRun) -> None:
    """Fold the label events written since the last iteration into the sampler's pool.

    Each prompt that got an event is re-derived from its whole history (k15core.labels): status
    "excluded" removes it, any other status restores it; a labelled `reference` or `difficulty`
    replaces the task's (`labels.overlay`), and resetting the label (an undo) brings the task's value back.
    """
    new_events, states = dist.on_main(read_label_changes, run.store, run.state.label_seq)
    if not new_events:
        return
    for pid in sorted({ev["prompt_id"] for ev in new_events}):
        state = states.get(pid, labels.DEFAULT)
        (run.sampler.excluded.add if state.excluded else run.sampler.excluded.discard)(pid)
        if pid in run.task_problems:
            run.problems[pid] = labels.overlay(run.task_problems[pid], state)
    run.sampler.pool = [run.problems.get(p.id, p) for p in run.sampler.pool]
    run.state.label_seq = max(ev["seq"] for ev in new_events)


def read_label_changes(store, since_seq: int) -> tuple[list[dict], dict]:
    """The label events after `since_seq`, and the current label of every prompt they touch."""
    events = store.label_events(since_seq=since_seq)
    return events, store.prompt_labels(sorted({ev["prompt_id"] for ev in events})) if events else {}


def rollout(run: RLRun, it: int) -> tuple[list[Group], int]:
    """Continue the buffered groups, draw new prompts for the rest, and generate one segment each.

    `prompts_per_iter` counts the groups of all ranks together. Every rank draws the same prompts (its
    sampler is the same) and keeps its block of them (`dist.split_new_groups`); group ids are global.
    """
    cfg = run.cfg
    groups = run.buffer.pop_all()
    groups = [g for g in groups if g.problem.id not in run.sampler.excluded]  # an exclusion also drops its partial work
    counts = dist.split_new_groups(cfg.prompts_per_iter, dist.all_gather(len(groups)))
    drawn = run.sampler.draw(sum(counts), it)
    start = sum(counts[: dist.rank()])
    for offset, problem in enumerate(drawn[start : start + counts[dist.rank()]], start):
        encoded = run.encode(problem) if run.encode is not None else None  # an image prompt: ids with image tokens + pixels
        ids = encoded.ids if encoded is not None else prompt_ids(run.tokenizer, problem.prompt, run.task.instruction)
        pixels = encoded.pixel_values if encoded is not None else None
        gid = run.state.next_group + offset
        groups.append(Group(gid, problem, [Trajectory(problem, gid, j, list(ids), pixel_values=pixels) for j in range(cfg.k)], started=it))
    run.state.next_group += len(drawn)

    generated = rollout_step(groups, it, run.engine.continue_ids, cfg.segment_tokens, cfg.max_response_tokens)
    return groups, generated


def score(run: RLRun, groups: list[Group], it: int) -> ScoredBatch:
    """Correctness (the verifier's verdict where the response ended by itself, else 0: `rewards.correctness`),
    plus the length and repeat terms (each response decoded once). The verdicts, with the judge's reasoning, go
    with the batch to the store."""
    trajs = [t for g in groups for t in g.members]
    texts = [run.tokenizer.decode(t.token_ids, skip_special_tokens=True) for t in trajs]
    items = [VerifyItem(t.problem.prompt, t.problem.reference, x) for x, t in zip(texts, trajs)]
    verdicts = verify_finished(run.verifier, items, [not (t.truncated or t.repeated) for t in trajs])
    verdict = torch.tensor([float(v.correct) for v in verdicts], dtype=torch.float32)
    group = torch.tensor([t.group for t in trajs], dtype=torch.long)
    if not trajs:
        return ScoredBatch([], group, *(torch.zeros(0) for _ in range(4)), texts=[])
    repeated = torch.tensor([t.repeated for t in trajs], dtype=torch.bool)
    correct = correctness(verdict, torch.tensor([t.truncated for t in trajs], dtype=torch.bool), repeated)
    parts = total_reward(
        correct,
        torch.tensor([len(t.token_ids) for t in trajs]),
        repeated,
        group,
        run.length_schedule.weight_at(it),
        run.cfg.repeat_penalty,
    )
    return ScoredBatch(trajs, group, **parts, texts=texts, verdicts=verdicts)


def sync_weights(run: RLRun, stepped: bool) -> None:
    """Push the policy's new weights into the rollout engine (report §2.6.3: generate, train, push). Nothing to
    push when no step was taken; the HF engine sampling from the policy itself has nothing to copy."""
    if stepped:
        run.engine.load_weights(run.model)


def update_sampler(run: RLRun, done: list[Group], batch: ScoredBatch) -> None:
    """Each finished group's success rate to the sampler: every rank's groups, in rank order, on every
    rank, so all ranks' samplers stay the same (and draw the same prompts next iteration)."""
    rates = [(g.problem.id, float(batch.correct[batch.group == g.id].mean())) for g in done]
    for ranks_rates in dist.all_gather(rates):
        for prompt_id, rate in ranks_rates:
            run.sampler.update(prompt_id, rate)


# -- the loop ----------------------------------------------------------------------------------------

def train(run: RLRun, checkpoint_dir: Path, on_iteration=None, progress: bool = True) -> dict[str, float]:
    """Run iterations until `cfg.iterations`; checkpoint every N, at the end, and when stopped between two
    iterations: asked by SIGTERM (the iteration in progress finishes first, `k15core.stopping`), by an
    exception from `on_iteration`, or by a fatal alarm of the doctor (`DoctorStop`, before the first iteration
    or after any). An interrupt inside an iteration (a second SIGTERM, Ctrl-C) discards it.

    Returns the last iteration's metrics. The store's run status ends as 'finished' or 'stopped'.
    """
    from tqdm.auto import tqdm

    cfg = run.cfg
    if run.state.iteration == 0:
        torch.manual_seed(dist.rank_seed(cfg.seed))
        random.seed(cfg.seed)
    bar = tqdm(total=cfg.iterations, initial=run.state.iteration, desc="RL", unit="it", disable=not (progress and dist.is_main()))
    metrics: dict[str, float] = {}
    saved = run.state.iteration or None  # the iteration the newest checkpoint holds (a resumed run starts from one)
    inside = agreed = False
    try:
        with StopRequest() as stop:
            try:
                doctor = Doctor(run) if cfg.doctor else None
                if doctor is not None:
                    doctor.before_run()
                while run.state.iteration < cfg.iterations:
                    inside = True
                    metrics = rl_iteration(run)
                    inside = False
                    bar.update(1)
                    bar.set_postfix(acc=f"{metrics.get('rl/accuracy', math.nan):.2f}", len=f"{metrics.get('rl/len_mean', math.nan):.0f}")
                    if on_iteration is not None and dist.is_main():
                        on_iteration(run.state.iteration - 1, metrics)
                    if cfg.checkpoint_every and run.state.iteration % cfg.checkpoint_every == 0:
                        save_checkpoint(run, checkpoint_dir)
                        saved = run.state.iteration
                    if doctor is not None:
                        doctor.after_iteration(metrics)  # the same metrics on every rank: all stop, or none
                    if stop.agreed():
                        agreed = True
                        raise StopTraining()
            except KeyboardInterrupt:
                on_stop(run, checkpoint_dir, inside, agreed, saved)
                raise
            except DoctorStop:
                on_stop(run, checkpoint_dir, False, True, saved)  # between iterations, on every rank alike
                raise
        save_checkpoint(run, checkpoint_dir)
        dist.on_main(lambda: run.store.set_run_status(run.state.run_id, "finished"))
    finally:
        bar.close()
        if run.lock is not None:  # whatever ended the loop: this process trains the run no more, a resume may take it
            run.lock.release()
    return metrics


def on_stop(run: RLRun, checkpoint_dir: Path, inside: bool, agreed: bool, saved: int | None) -> None:
    """End a stopped run: checkpoint it if it stopped between iterations and no checkpoint holds this state yet,
    else say which checkpoint stands; mark it 'stopped'. Inside an iteration the weights may already be a step
    ahead of the store, so that state is never saved. Under torchrun a checkpoint is a collective: only a stop
    all ranks agreed on (SIGTERM) finds them all between the same two iterations; after any other the last
    periodic checkpoint (every `checkpoint_every`) is the one to resume from."""
    it = run.state.iteration
    if not inside and saved != it and (agreed or not dist.active()):
        save_checkpoint(run, checkpoint_dir)
    elif inside or saved != it:
        where = f"inside iteration {it}: it is discarded" if inside else f"after iteration {it - 1}"
        stands = f"the checkpoint at iteration {saved} stands (a resume rolls the store back to it)" if saved else "no checkpoint was written yet"
        dist.print0(f"interrupted {where}; {stands}", file=sys.stderr)
    if dist.is_main():
        run.store.set_run_status(run.state.run_id, "stopped")
