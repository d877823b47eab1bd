"""Run under torchrun by tests/distributed/test_dist.py. `primitives OUT`: the dist helpers' answers per rank.
`optimise STRATEGY OUT`: one k1.5 optimiser step (the trainer's own `optimise`) on this rank's share of a
fixed batch; rank 0 saves the resulting full weights in OUT/optimise. `train STRATEGY OUT`: two whole RL
iterations (the trainer's `train`, store and checkpoints included) with rollouts that do not depend on the
rank, saved in OUT/train. `optimise+train STRATEGY OUT`: both, in one launch."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from k15core import dist


def primitives(out: Path) -> None:
    items = list(range(7))
    result = {
        "rank": dist.rank(), "world": dist.world_size(), "shard": dist.shard(items),
        "all_gather": dist.all_gather(dist.rank() * 10), "gathered": dist.gather_to_main({"r": dist.rank()}),
        "broadcast": dist.broadcast(f"from {dist.rank()}"), "sum": dist.all_reduce_sum(dist.rank() + 1),
        "mean": dist.all_reduce_mean(dist.rank() + 1),
    }
    (out / f"rank{dist.rank()}.json").write_text(json.dumps(result))


def fixed_batch(groups: int, k: int, vocab: int):
    """The same batch on every rank: `groups` prompts x k responses of seeded random tokens and rewards."""
    from k15core.types import Trajectory
    from k15core.tasks.problem import Problem

    g = torch.Generator().manual_seed(1234)
    trajs, rewards = [], []
    for gid in range(groups):
        problem = Problem(id=f"p{gid}", prompt="", reference="0", difficulty=1)
        prompt = torch.randint(3, vocab, (5,), generator=g).tolist()
        for j in range(k):
            n = int(torch.randint(4, 12, (1,), generator=g))
            t = Trajectory(problem, gid, j, prompt)
            t.add_segment(0, torch.randint(3, vocab, (n,), generator=g).tolist(), [0.0] * n)
            trajs.append(t)
            rewards.append(float(j % 2 == gid % 2))  # every group has a right and a wrong answer: every group has a gradient
    return trajs, torch.tensor(rewards)


def optimise_step(strategy: str, out: Path) -> None:
    from k15core.config import ModelConfig
    from k15core.models import build_tiny_model, load_model
    from k15core.config import RLConfig
    from k15core.policy_step import optimise
    from k15core.types import ScoredBatch

    torch.manual_seed(0)
    model_dir = out / "model"
    if dist.is_main():
        build_tiny_model(ModelConfig(), model_dir)
    dist.barrier()
    model, tokenizer = load_model(model_dir)
    trajs, rewards = fixed_batch(groups=4, k=2, vocab=len(tokenizer))
    mine = [t for t in trajs if t.group in dist.shard(sorted({t.group for t in trajs}))]
    sel = torch.tensor([trajs.index(t) for t in mine])
    total = rewards[sel]
    batch = ScoredBatch(mine, torch.tensor([t.group for t in mine]), correct=total, length=torch.zeros_like(total), repeat=torch.zeros_like(total), total=total)
    run = SimpleNamespace(cfg=RLConfig(minibatches=1, lr=1e-3, grad_clip=0.0), model=dist.wrap_model(model, strategy), tokenizer=tokenizer,
                          device=torch.device("cpu"), bf16=False, optimizer=None, engine=SimpleNamespace(load_weights=lambda m: None))
    stats = optimise(run, batch, it=0)
    weights = dist.full_state_dict(run.model)
    # the gradient of the step (optimise leaves it in .grad): Adam's first step is lr * sign(grad), blind to
    # the gradient's scale, so the weights alone would not catch a sum where a mean belongs
    grads = {name: (p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad).clone()
             for name, p in dist.unwrap(run.model).named_parameters() if p.grad is not None}
    if dist.is_main():
        torch.save({k: v.clone() for k, v in weights.items()}, out / "weights.pt")
        torch.save(grads, out / "grads.pt")
        (out / "stats.json").write_text(json.dumps(stats))


class ScriptedEngine:
    """Rollouts that are the same whichever rank makes them: the j-th copy of a prompt in a call answers
    "Answer: d", right or wrong by a hash of (prompt, j), so most groups mix rewards and have a gradient."""

    def __init__(self, tokenizer, references: dict[str, str]):
        self.tokenizer, self.references = tokenizer, references

    def continue_ids(self, contexts, max_new_tokens, response_starts):
        import hashlib
        from collections import Counter

        from k15core.types import Continuation

        seen, out = Counter(), []
        for context, start in zip(contexts, response_starts):
            prompt = self.tokenizer.decode(context[:start])
            j = seen[prompt]
            seen[prompt] += 1
            right = self.references[prompt]
            digit = right if hashlib.sha256(f"{prompt}|{j}".encode()).digest()[0] % 2 else str((int(right) + 1) % 10)
            ids = self.tokenizer(f"Answer: {digit}", add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Continuation(ids, [0.0] * len(ids), eos=True, repeated=False))
        return out

    def load_weights(self, model) -> None:
        pass


def train_iterations(strategy: str, out: Path) -> None:
    from k15core import stages
    from k15core.config import load_config
    from k15core.config import ModelConfig
    from k15core.models import build_tiny_model
    from k15core.trainer import train
    from k15core.workspace import Workspace

    ws = Workspace.resolve(out / "ws")
    model_dir = out / "model"
    if dist.is_main():
        build_tiny_model(ModelConfig(), model_dir)
    dist.barrier()
    cfg = load_config(None, ["rl.iterations=2", "rl.prompts_per_iter=4", "rl.k=4", "rl.minibatches=2", "rl.lr=1e-3", "rl.pool_size=40",
                             "task.eval_per_level=2", f"rl.strategy={strategy}", "rl.checkpoint_every=1"])
    store = ws.store() if dist.is_main() else None
    run, cfg = stages.prepare_rl(ws, store, cfg, model_dir)
    run.engine = ScriptedEngine(run.tokenizer, {p.prompt: p.reference for p in run.task_problems.values()})
    train(run, stages.rl_checkpoint_dir(ws, run.state.run_id), progress=False)
    weights = dist.full_state_dict(run.model)
    if dist.is_main():
        torch.save({k: v.clone() for k, v in weights.items()}, out / "weights.pt")
        import dataclasses

        rows = [dataclasses.asdict(t) for t in store.trajectories(run.state.run_id)]
        (out / "records.json").write_text(json.dumps({"trajectories": rows, "metrics": store.metrics(run.state.run_id), "run": store.run(run.state.run_id)}, default=str))


if __name__ == "__main__":
    with dist.process_group():
        if sys.argv[1] == "primitives":
            primitives(Path(sys.argv[2]))
        else:  # "optimise", "train" or "optimise+train" (one launch for both: process start-up is most of the cost)
            for job in sys.argv[1].split("+"):
                out = Path(sys.argv[3]) / job
                out.mkdir(parents=True, exist_ok=True)
                (optimise_step if job == "optimise" else train_iterations)(sys.argv[2], out)
