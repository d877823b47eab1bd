"""Everything that knows about ranks: one process, or N under `torchrun`. Nothing else in k15core does.

Every helper works unchanged in a single process (world size 1, no process group): `shard` returns
everything, `gather_to_main` a one-item list, `all_reduce_mean` its input. So the same trainer code runs
on a laptop and under `torchrun --nproc-per-node N`:

- `init()` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and starts the process group:
  gloo on CPU, NCCL on GPUs. Without those variables it does nothing.
- `is_main()` / `print0()`: only rank 0 writes the store and prints.
- `shard(items)`: this rank's contiguous share of a list every rank computed the same way.
- `gather_to_main(obj)` / `all_gather(obj)` / `broadcast(obj)`: picklable objects between ranks.
- `on_main(fn)`: run `fn` on rank 0 only (the store, files) and hand its result, or its error, to all.
- `wrap_model(model, strategy)`: DDP or FSDP2 (`fully_shard`) for training; `prepare_model` also gives
  the model the rollout engine samples from; `full_state_dict(model)` the plain weights to push into
  it or save (FSDP2 holds only a shard of each tensor).
- `split_new_groups(total, held)`: how many new prompts each rank takes so every rank holds about the same.

Choices (spec §13 leaves the distribution to us):
- Contiguous shards (rank r gets items [r·n/N, (r+1)·n/N)), so concatenating the ranks' shards in rank
  order gives back the list: gathered results line up with a single process's.
- The gradient of a loss that each rank averages over its own prompts is averaged over ranks (DDP's
  all-reduce; FSDP2's reduce-scatter): equal to one process's mean over all prompts when the ranks hold
  equally many prompts, which `shard` guarantees when N divides the count.
"""
from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.distributed as td

from k15core.registry import Registry

T = TypeVar("T")


def launched() -> bool:
    """True when this process was started by torchrun (or anything that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun); valid before `init` and after `cleanup`."""
    return int(os.environ.get("RANK", "0"))


def init(backend: str | None = None) -> None:
    """Start the process group from torchrun's environment; a no-op in a single process or if started."""
    if not launched() or td.is_initialized():
        return
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    td.init_process_group(backend=backend)


def cleanup() -> None:
    if td.is_initialized():
        td.destroy_process_group()


def active() -> bool:
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def rank() -> int:
    return td.get_rank() if active() else 0


def world_size() -> int:
    return td.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def print0(*args, **kwargs) -> None:
    if is_main():
        print(*args, **kwargs)


def device() -> torch.device:
    """This rank's device: its GPU under NCCL, else the CPU."""
    if torch.cuda.is_available() and (not active() or td.get_backend() == "nccl"):
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def shard_bounds(n: int, ranks: int, r: int) -> tuple[int, int]:
    """[start, end) of rank r's contiguous share of n items; the first n % ranks ranks get one more."""
    base, extra = divmod(n, ranks)
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


def shard(items: list[T]) -> list[T]:
    """This rank's contiguous share of `items` (all of them in a single process)."""
    start, end = shard_bounds(len(items), world_size(), rank())
    return items[start:end]


def all_gather(obj: T) -> list[T]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    td.all_gather_object(out, obj)
    return out


def gather_to_main(obj: T) -> list[T] | None:
    """Every rank's `obj` in rank order on rank 0; None on the others."""
    if not active():
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    td.gather_object(obj, out, dst=0)
    return out


def broadcast(obj: T) -> T:
    """Rank 0's `obj` on every rank."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    td.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(value: float) -> float:
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device())  # NCCL reduces on the GPU, gloo on the CPU
    td.all_reduce(t)
    return float(t.item())


def all_reduce_mean(value: float) -> float:
    return all_reduce_sum(value) / world_size()


def on_main(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on rank 0 only; its result on every rank. If it raises on rank 0, every rank
    raises the same error (instead of the others waiting forever in the next collective)."""
    if not active():
        return fn(*args, **kwargs)
    result, error = None, None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - handed to every rank, then raised
            error = err
    result, error = broadcast((result, error))
    if error is not None:
        raise error
    return result


def split_new_groups(total: int, held: list[int]) -> list[int]:
    """How many new prompts each rank draws so that the ranks hold `total` groups between them, as evenly
    as possible: `held[r]` is what rank r already holds (partial rollouts waiting in its replay buffer).
    Each new prompt goes to the rank holding fewest, the lower rank on a tie; with nothing held that is
    `shard_bounds`'s split, so rank r's prompts are the r-th contiguous block of one process's draw."""
    counts = [0] * len(held)
    for _ in range(max(0, total - sum(held))):
        r = min(range(len(held)), key=lambda i: (held[i] + counts[i], i))
        counts[r] += 1
    return counts


def rank_seed(seed: int) -> int:
    """This rank's sampling seed: `seed` on rank 0 (a one-process run's stream), a different one elsewhere."""
    return seed + 1_000_003 * rank()


def barrier() -> None:
    if active():
        td.barrier()


STRATEGIES: Registry = Registry("distribution strategy")
"""How the policy is spread over the ranks under torchrun: name -> wrap(model) -> the model to train."""


@STRATEGIES.register("none")
def _no_wrap(model: torch.nn.Module) -> torch.nn.Module:
    return model


@STRATEGIES.register("ddp")
def _ddp(model: torch.nn.Module) -> torch.nn.Module:
    """Each rank holds all the weights; gradients are averaged in the backward pass."""
    from torch.nn.parallel import DistributedDataParallel

    dev = device()
    return DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)


@STRATEGIES.register("fsdp2")
def _fsdp2(model: torch.nn.Module) -> torch.nn.Module:
    """Each decoder layer and then the whole model `fully_shard`ed: parameters as DTensors, one shard per rank."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device().type, (world_size(),))
    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def wrap_model(model: torch.nn.Module, strategy: str) -> torch.nn.Module:
    """The model to train: wrapped by the `STRATEGIES` entry `strategy`; unchanged in a single process."""
    wrap = STRATEGIES.get(strategy)
    return wrap(model) if active() else model


def prepare_model(model: torch.nn.Module, strategy: str, plain_copy: bool = True) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the model to train, the model to sample rollouts from). Unsharded, both are the same module, so an
    optimiser step is seen by the next rollout at no cost. Under FSDP2 each rank holds a shard only, and a
    sharded forward is a collective every rank must join, while ranks generate different numbers of
    tokens: the rollout model is a plain copy, refreshed from `full_state_dict` after each step.
    `plain_copy=False` skips that copy for an engine that keeps its own weights (vLLM)."""
    rollout_model = copy.deepcopy(model) if strategy == "fsdp2" and active() and plain_copy else model
    return wrap_model(model, strategy), rollout_model


def _decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a Hugging Face causal LM (model.model.layers), or none."""
    inner = getattr(model, "model", None)
    return list(getattr(inner, "layers", []) or [])


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters an optimiser should own. Under FSDP2 these must be the sharded ones: after a
    forward the root module holds its parameters (embedding, final norm) unsharded, and an optimiser
    built then would step on those temporary copies and leave the real, sharded weights untouched."""
    if hasattr(model, "reshard"):
        model.reshard()
    return [p for p in model.parameters() if p.requires_grad]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The Hugging Face model inside a DDP wrapper (FSDP2 wraps in place: the model itself)."""
    return getattr(model, "module", model)


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Plain (unsharded) weights of a possibly DDP- or FSDP2-wrapped model, on every rank: what a
    rollout engine loads after an optimiser step."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    inner = unwrap(model)
    if not active():
        return {k: v.detach() for k, v in inner.state_dict().items()}
    if hasattr(inner, "reshard"):
        # FSDP2 keeps the root's parameters unsharded after a forward (reshard_after_forward is off for the
        # root): without this the state dict would read the embedding and final norm from before the step
        inner.reshard()
    return get_model_state_dict(inner, options=StateDictOptions(full_state_dict=True, cpu_offload=False))


def optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimiser's full state keyed by parameter name (on every rank): loadable at any world size."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(unwrap(model), optimizer, options=StateDictOptions(full_state_dict=True))


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load `optimizer_state`'s output; each rank keeps the share of it that its parameters hold."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(unwrap(model), optimizer, state, options=StateDictOptions(full_state_dict=active()))


@contextmanager
def process_group(backend: str | None = None):
    """`init()` ... `cleanup()` around a block (scripts and tests)."""
    init(backend)
    try:
        yield
    finally:
        cleanup()
