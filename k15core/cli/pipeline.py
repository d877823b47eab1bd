"""The recipe's stages one command each, for running them apart from `k15 demo`:
`k15 train`, `k15 build-model`, `k15 warmup-data`, `k15 sft` and `k15 eval`."""
from __future__ import annotations

from k15core.cli.common import add_common, add_report_to, console, setup
from k15core.errors import K15Error


def register(sub) -> None:
    p = sub.add_parser("train", help="k1.5 RL on the task (checkpoints in the workspace; SIGTERM stops after the current iteration, Ctrl-C at once)")
    add_common(p)
    p.add_argument("--model", default="warmup", help="starting model: folder or workspace model name (default: warmup)")
    p.add_argument("--out", default="rl", help="name of the final policy in the workspace (default: rl)")
    p.add_argument("--resume", action="store_true", help="continue the latest stopped RL run (or one whose trainer was killed) from its "
                   "checkpoint, with the config it started with (--set changes keys of it, e.g. rl.iterations=60; --config is ignored); "
                   "refused while another process trains it")
    p.add_argument("--progress-lines", action="store_true", help="print one plain line per iteration (run id, reward, accuracy, "
                   "length, time), for logs: the studio's Launch tab shows them")
    add_report_to(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("build-model", help="build the tiny default model in the workspace")
    add_common(p)
    p.add_argument("--force", action="store_true", help="rebuild even if it exists")
    p.add_argument("--kind", default="text", choices=["text", "vlm"],
                   help="text: the tiny causal LM (models/tiny, the default); vlm: the tiny vision-language model (models/tiny-vlm)")
    p.set_defaults(func=cmd_build_model)

    p = sub.add_parser("warmup-data", help="a real model's warm-up set: its own step-by-step answers that the verifier accepts (report §2.3.1)")
    add_common(p)
    p.add_argument("--model", default="smollm2", help="the model that answers: folder or workspace model name (default: smollm2)")
    p.add_argument("--problems", type=int, default=400, help="training problems to ask (default: 400)")
    p.add_argument("--samples", type=int, default=4, help="answers sampled per problem (default: 4)")
    p.add_argument("--per-problem", type=int, default=1, help="correct answers kept per problem at most (default: 1)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="longest answer in tokens (default: 128)")
    p.add_argument("--out", default="warmup-data", help="saved as data/<out>.jsonl in the workspace (default: warmup-data)")
    p.set_defaults(func=cmd_warmup_data)

    p = sub.add_parser("sft", help="long-CoT warm-up (supervised fine-tuning) on the task")
    add_common(p)
    p.add_argument("--model", help="model folder or workspace model name (default: model.path or the tiny model)")
    p.add_argument("--out", default="warmup", help="name of the saved model in the workspace (default: warmup)")
    p.add_argument("--data", help="train on this warm-up file (k15 warmup-data writes one) instead of the task's written solutions")
    add_report_to(p)
    p.set_defaults(func=cmd_sft)

    p = sub.add_parser("eval", help="evaluate a model: accuracy by difficulty, response lengths")
    add_common(p)
    p.add_argument("--model", default="warmup", help="model folder or workspace model name (default: warmup)")
    p.add_argument("--prompts", help="evaluate on this JSONL/CSV prompt file instead of the held-out set")
    add_report_to(p)
    p.set_defaults(func=cmd_eval)


def cmd_train(args) -> int:
    """Also runs under `torchrun --nproc-per-node N -m k15core.cli train ...`: every process runs this,
    rank 0 alone opens the store and prints (see k15core/dist.py)."""
    from k15core import dist, stages
    from k15core.progress_lines import ProgressLines

    with dist.process_group():
        cfg, ws = setup(args)
        store = ws.store() if dist.is_main() else None
        model_dir = None if args.resume else dist.on_main(stages.resolve_model, ws, args.model)
        hooks = {}
        if args.progress_lines:
            lines = ProgressLines(args.out, echo=lambda line: print(line, flush=True))
            hooks = dict(on_start=lambda run: lines.start(run.state.run_id, run.state.iteration, run.cfg.iterations), on_iteration=lines.iteration)
        run, metrics = stages.run_rl(ws, store, cfg, model_dir, resume=args.resume, out_name=args.out, progress=not args.quiet,
                                     overrides=args.overrides if args.resume else (), **hooks)
        where = f" on {dist.world_size()} processes ({cfg.rl.strategy})" if dist.active() else ""
        dist.print0(
            f"RL run {run.state.run_id}{where}: {run.state.iteration} iterations, last accuracy {metrics.get('rl/accuracy', float('nan')):.2f}, "
            f"mean length {metrics.get('rl/len_mean', float('nan')):.0f}; policy saved as {ws.model_dir(args.out)}"
        )
    return 0


def cmd_build_model(args) -> int:
    from k15core.model_kinds import MODEL_KINDS
    from k15core.models import count_parameters

    cfg, ws = setup(args)
    kind = MODEL_KINDS.get(args.kind)
    target = ws.model_dir(kind.tiny_name)
    label = "tiny model" if args.kind == "text" else f"tiny {args.kind} model"
    if ws.has_model(kind.tiny_name) and not args.force:
        print(f"the {label} already exists in {target} (--force rebuilds it)")
    else:
        kind.build(cfg.model, target)
    model, _ = kind.load(target)
    print(f"{label}: {count_parameters(model) / 1e6:.2f} M parameters in {target}")
    return 0


def cmd_sft(args) -> int:
    from k15core import stages

    cfg, ws = setup(args)
    base = stages.resolve_model(ws, args.model) if args.model else stages.base_model(ws, cfg, progress=not args.quiet)
    examples = None
    if args.data:
        from k15core.warmup_data import read_examples

        examples = read_examples(args.data)
    result = stages.run_sft(ws, ws.store(), cfg, base, out_name=args.out, progress=not args.quiet, examples=examples)
    print(f"saved {ws.model_dir(args.out)}: {result.steps} steps, {result.tokens_per_second:,.0f} tokens/s, final loss {result.final_loss:.3f}")
    return 0


def cmd_warmup_data(args) -> int:
    from k15core import stages
    from k15core.models import load_model, pick_device
    from k15core.tasks import make_task
    from k15core.warmup_data import rejection_sample, write_examples

    cfg, ws = setup(args)
    for name in ("problems", "samples", "per_problem", "max_new_tokens"):
        if getattr(args, name) < 1:
            raise K15Error(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})", "nothing was sampled or written")
    task = make_task(cfg.task)
    model, tokenizer = load_model(stages.resolve_model(ws, args.model), device=pick_device())
    problems = task.train_problems(args.problems, seed=cfg.sft.seed)
    from tqdm import tqdm

    bar = tqdm(total=len(problems) * args.samples, desc="warmup-data", unit="answer", disable=args.quiet)
    data = rejection_sample(model, tokenizer, task, problems, samples=args.samples, per_problem=args.per_problem, temperature=cfg.rl.temperature,
                            max_new_tokens=args.max_new_tokens, batch_size=cfg.eval.batch_size, seed=cfg.sft.seed, progress=bar.update)
    bar.close()
    path = write_examples(data.examples, ws.root / "data" / f"{args.out}.jsonl")
    solved = ", ".join(f"level {level}: {share:.0%}" for level, share in data.solved_by_level.items())
    print(f"kept {len(data.examples)} of {data.sampled} answers ({data.correct} correct and finished) for {data.problems} problems "
          f"(solved {solved}); saved {path}\nnext: k15 sft --model {args.model} --data {path} --out <name>")
    return 0


def cmd_eval(args) -> int:
    from k15core import stages
    from k15core.evaluate import render_table
    from k15core.tasks import load_checked_prompt_file, store_prompt_images

    cfg, ws = setup(args)
    model_dir = stages.resolve_model(ws, args.model)
    problems = load_checked_prompt_file(args.prompts, cfg.task.name) if args.prompts else None
    if problems:
        store_prompt_images(problems, ws.images)  # a VLM reads a file's image prompts from the workspace's image store
    rows = stages.run_eval(ws, ws.store(), cfg, model_dir, problems, name=args.model, progress=not args.quiet)
    console().print(render_table(rows, title=f"{args.model} on {'the held-out set' if problems is None else args.prompts}"))
    return 0
