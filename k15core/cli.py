"""The `k15` command. Each subcommand is a thin wrapper over a stage in k15core.stages.

    k15 demo                      tiny model -> long-CoT warm-up -> RL -> evaluation before and after
    k15 train [--model M]         k1.5 RL from a model (default: the warm-up model); --resume continues
                                  (also under torchrun --nproc-per-node N -m k15core.cli train: data parallel)
    k15 build-model               build the tiny default model in the workspace
    k15 sft [--model M]           warm up a model (default: the tiny one) on the task
    k15 eval [--model M]          evaluate on the held-out set, or on --prompts FILE
    k15 prompts import FILE       add prompts from a JSONL/CSV file to the run store
    k15 config                    list every config key with its default and meaning
    k15 studio [--host H --port N --auth FILE]   the studio on the workspace (see studio/app.py)
    k15 curate difficulty|hackable [--model M]   label prompts by pass rate / easy-to-hack (source auto)
    k15 long2short merge|rejection|dpo|rl|short|compare   shorter answers from a long-CoT model (report §2.4)

Common options: --workspace DIR (or K15_WORKSPACE), --config FILE.yaml, --set key=value (repeatable).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from k15core.errors import K15Error


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", help="workspace folder (default: $K15_WORKSPACE or ./k15-workspace)")
    p.add_argument("--config", help="YAML config file (see assets/configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. sft.lr=0.001")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k15", description="k15 studio: the Kimi k1.5 RL recipe you can run, watch and steer.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="tiny model -> long-CoT warm-up -> RL -> evaluation before and after")
    _common(p)
    p.add_argument("--fresh", action="store_true", help="retrain the warm-up model even if a current one is cached")
    p.add_argument("--no-rl", action="store_true", help="stop after the warm-up and its evaluation")
    p.add_argument("--no-studio", action="store_true", help="terminal only: do not start the studio beside the demo")
    p.add_argument("--port", type=int, help="studio port (default: a free one)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("studio", help="the studio: live run curves, rollout browser, prompt curation, run launch")
    _common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; any other needs --auth)")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--auth", metavar="FILE", help="file of user:password lines; labels are recorded under the signed-in user")
    p.set_defaults(func=cmd_studio)

    p = sub.add_parser("train", help="k1.5 RL on the task (checkpoints in the workspace; Ctrl-C stops cleanly)")
    _common(p)
    p.add_argument("--model", default="warmup", help="starting model: folder or workspace model name (default: warmup)")
    p.add_argument("--out", default="rl", help="name of the final policy in the workspace (default: rl)")
    p.add_argument("--resume", action="store_true", help="continue the latest stopped RL run from its checkpoint, with the config it "
                   "started with (--set changes keys of it, e.g. rl.iterations=60; --config is ignored)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("build-model", help="build the tiny default model in the workspace")
    _common(p)
    p.add_argument("--force", action="store_true", help="rebuild even if it exists")
    p.set_defaults(func=cmd_build_model)

    p = sub.add_parser("sft", help="long-CoT warm-up (supervised fine-tuning) on the task")
    _common(p)
    p.add_argument("--model", help="model folder or workspace model name (default: model.path or the tiny model)")
    p.add_argument("--out", default="warmup", help="name of the saved model in the workspace (default: warmup)")
    p.set_defaults(func=cmd_sft)

    p = sub.add_parser("eval", help="evaluate a model: accuracy by difficulty, response lengths")
    _common(p)
    p.add_argument("--model", default="warmup", help="model folder or workspace model name (default: warmup)")
    p.add_argument("--prompts", help="evaluate on this JSONL/CSV prompt file instead of the held-out set")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("prompts", help="manage the prompt set in the run store")
    _common(p)
    psub = p.add_subparsers(dest="prompts_command", required=True)
    pi = psub.add_parser("import", help="add prompts from a JSONL/CSV file")
    pi.add_argument("file")
    _common(pi)
    pi.set_defaults(func=cmd_prompts_import)

    p = sub.add_parser("curate", help="label the stored prompts: difficulty by pass rate, easy-to-hack filter (report §2.1)")
    csub = p.add_subparsers(dest="curate_command", required=True)
    pc = csub.add_parser("difficulty", help="sample n answers per prompt; pass rate -> difficulty 1-5 (label events, source auto)")
    _common(pc)
    _curate_options(pc, n=10)
    pc.set_defaults(func=cmd_curate)
    pc = csub.add_parser("hackable", help="ask for the bare answer n times; any correct guess flags the prompt easy to hack")
    _common(pc)
    _curate_options(pc, n=8)
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude hackable prompts")
    pc.add_argument("--min-correct", type=int, default=1, help="correct guesses that flag a prompt (default 1, the report's 'any'); "
                    "for a small answer space raise it: one digit right in 8 guesses happens by chance 57%% of the time, 3 of 8 3.8%%")
    pc.set_defaults(func=cmd_curate)
    pc = csub.add_parser("formats", help="flag multiple-choice, true/false, proof and free-form prompts (no model needed)")
    _common(pc)
    pc.add_argument("--task", help="only prompts of this task")
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude them")
    pc.set_defaults(func=cmd_curate_text_rules)
    pc = csub.add_parser("dedup", help="flag exact and near-duplicate prompts (MinHash), each pointing at the one kept")
    _common(pc)
    pc.add_argument("--task", help="only prompts of this task")
    pc.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of word 3-grams that counts as a duplicate (default 0.8)")
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude the copies")
    pc.set_defaults(func=cmd_curate_text_rules)

    p = sub.add_parser("long2short", help="make a long-CoT model answer in fewer tokens (report §2.4)")
    lsub = p.add_subparsers(dest="l2s_command", required=True)
    pl = lsub.add_parser("merge", help="average the weights of a long and a short model (LoRA adapters merged first)")
    _common(pl)
    pl.add_argument("--long", default="rl", help="long-CoT model: folder or workspace name (default: rl)")
    pl.add_argument("--short", default="short", help="short-CoT model (default: short, made by `k15 long2short short`)")
    pl.add_argument("--alpha", type=float, default=0.5, help="weight of the long model (default 0.5: the report's plain average)")
    pl.add_argument("--out", default="l2s-merge", help="name of the merged model (default: l2s-merge)")
    for name, text in (("rejection", "fine-tune the long model on its shortest correct samples (n per prompt: long2short.samples)"),
                       ("dpo", "DPO: shortest correct chosen; wrong, or correct and 1.5x longer, rejected"),
                       ("rl", "RL from the long model with the length penalty from iteration 0 and a lower length cap")):
        pl = lsub.add_parser(name, help=text)
        _common(pl)
        pl.add_argument("--long", default="rl", help="long-CoT model: folder or workspace name (default: rl)")
        pl.add_argument("--out", default=f"l2s-{name}", help=f"name of the resulting model (default: l2s-{name})")
        if name == "rl":
            pl.add_argument("--preset", default=None, help="YAML layered on the config (default: assets/configs/long2short_rl.yaml)")
    pl = lsub.add_parser("short", help="the short baseline: warm up the base model on short solutions only")
    _common(pl)
    pl.add_argument("--out", default="short", help="name of the model (default: short)")
    pl = lsub.add_parser("compare", help="accuracy and mean tokens of each model on the held-out set, with the Pareto frontier")
    _common(pl)
    pl.add_argument("models", nargs="+", metavar="LABEL=MODEL", help="e.g. long=rl short=short merge=l2s-merge (MODEL: workspace name or folder)")
    pl.add_argument("--json", dest="json_out", help="also write the rows to this JSON file")
    for pl in lsub.choices.values():
        pl.set_defaults(func=cmd_long2short)

    p = sub.add_parser("config", help="list every config key with its default and meaning")
    _common(p)
    p.set_defaults(func=cmd_config)
    return parser


def _setup(args):
    from k15core.config import load_config
    from k15core.workspace import Workspace

    cfg = load_config(args.config, args.overrides)
    ws = Workspace.resolve(args.workspace)
    return cfg, ws


def _console():
    from rich.console import Console

    return Console()


def cmd_demo(args) -> int:
    from k15core.config import DEMO_CONFIG

    t0 = time.perf_counter()
    if args.config is None and DEMO_CONFIG.exists():  # the demo preset; --config replaces it
        args.config = str(DEMO_CONFIG)
    cfg, ws = _setup(args)
    store = ws.store()
    console = _console()
    console.print(f"[bold]k15 demo[/] — workspace {ws.root}")
    studio = None if args.no_studio else _start_studio(ws, args.port, console)
    try:
        _demo_stages(args, cfg, ws, store, console)
        console.print(f"demo finished in {time.perf_counter() - t0:.0f} s; everything is recorded in {ws.db_path}")
        if studio is not None and sys.stdin.isatty():
            console.print(f"the studio stays open at [bold]{studio.url}[/] — Ctrl-C to close it")
            try:
                studio.process.wait()
            except KeyboardInterrupt:
                pass
    finally:
        if studio is not None:
            studio.stop()
    return 0


def _demo_stages(args, cfg, ws, store, console) -> None:
    from k15core import stages
    from k15core.evaluate import render_table

    base = stages.base_model(ws, cfg, progress=not args.quiet)
    if args.fresh or not stages.warmup_is_current(ws, cfg):
        mix = (f"styles by level {cfg.sft.style_mix_by_level}" if cfg.sft.style_mix_by_level else f"styles {cfg.sft.style_mix}")
        console.print(f"long-CoT warm-up: {cfg.sft.examples} problems, {mix}")
    result = stages.ensure_warmup(ws, store, cfg, base, fresh=args.fresh, progress=not args.quiet)
    if result is None:
        console.print(f"reusing the cached warm-up model in {ws.model_dir(stages.WARMUP_MODEL)} (--fresh retrains it)")
    else:
        console.print(f"warm-up done: {result.steps} steps, {result.tokens_per_second:,.0f} tokens/s, final loss {result.final_loss:.3f}")
    decoding = "greedy" if cfg.eval.temperature <= 0 else f"sampled at T={cfg.eval.temperature:g}, {cfg.eval.samples} per problem"
    rows = stages.run_eval(ws, store, cfg, ws.model_dir(stages.WARMUP_MODEL), name="warmup", progress=not args.quiet)
    console.print(render_table(rows, title=f"Warm-up model on the held-out set ({decoding})"))
    _print_style_gap(console, rows)
    if not args.no_rl:
        console.print(f"RL: {cfg.rl.iterations} iterations of {cfg.rl.prompts_per_iter} prompts x {cfg.rl.k} samples, loss {cfg.rl.loss}, sampler {cfg.rl.sampler}")
        run, _ = stages.run_rl(ws, store, cfg, ws.model_dir(stages.WARMUP_MODEL), progress=not args.quiet)
        after = stages.run_eval(ws, store, cfg, ws.model_dir("rl"), name="rl", progress=not args.quiet)
        console.print(render_table(after, title=f"After RL ({decoding})"))
        _print_rl_gain(console, rows, after)


@dataclass
class StudioProcess:
    process: "subprocess.Popen"
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _start_studio(ws, port: int | None, console, timeout_s: float = 60.0) -> StudioProcess | None:
    """Start `k15 studio` on the workspace in a child process and wait until it answers; None (and a note) if it cannot."""
    import socket
    import urllib.request

    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    log = open(ws.root / "studio.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k15core.cli", "studio", "--workspace", str(ws.root), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            console.print(f"studio: [bold]{url}[/] — open it to watch the run train (Runs tab); --no-studio turns it off")
            return StudioProcess(proc, url)
        except OSError:
            time.sleep(0.5)
    StudioProcess(proc, url).stop()
    console.print(f"the studio did not start (see {ws.root / 'studio.log'}); the demo goes on in the terminal")
    return None


def _print_rl_gain(console, before, after) -> None:
    from k15core.evaluate import ALL

    b = {(r.style, r.difficulty): r for r in before}
    a = {(r.style, r.difficulty): r for r in after}
    if ("free", ALL) in b and ("free", ALL) in a:
        hard = max(r.difficulty for r in after if r.style == "free")
        console.print(
            f"RL: accuracy {100 * b['free', ALL].accuracy:.0f}% -> {100 * a['free', ALL].accuracy:.0f}%; "
            f"hardest level {100 * b['free', hard].accuracy:.0f}% -> {100 * a['free', hard].accuracy:.0f}% "
            f"with mean length {b['free', hard].len_mean:.0f} -> {a['free', hard].len_mean:.0f} tokens"
        )


def _print_style_gap(console, rows) -> None:
    by = {(r.style, r.difficulty): r for r in rows}
    levels = sorted({r.difficulty for r in rows if r.difficulty})
    if ("short", levels[-1]) in by and ("long", levels[-1]) in by:
        hard = levels[-1]
        long_acc, short_acc = by["long", hard].accuracy, by["short", hard].accuracy
        verdict = (
            "thinking longer pays here: the gap RL can teach the model to use"
            if long_acc >= short_acc + 0.10
            else "no gap yet: the warm-up has not taught the long style to beat the bare answer"
        )
        console.print(f"hardest level {hard}: long chain of thought {100 * long_acc:.0f}% vs bare answer {100 * short_acc:.0f}% — {verdict}")


def cmd_train(args) -> int:
    """Also runs under `torchrun --nproc-per-node N -m k15core.cli train ...`: every process runs this,
    rank 0 alone opens the store and prints (see k15core/dist.py)."""
    from k15core import dist, stages

    with dist.process_group():
        cfg, ws = _setup(args)
        store = ws.store() if dist.is_main() else None
        model_dir = None if args.resume else dist.on_main(stages.resolve_model, ws, args.model)
        run, metrics = stages.run_rl(ws, store, cfg, model_dir, resume=args.resume, out_name=args.out, progress=not args.quiet,
                                     overrides=args.overrides if args.resume else ())
        where = f" on {dist.world_size()} processes ({cfg.rl.strategy})" if dist.active() else ""
        dist.print0(
            f"RL run {run.state.run_id}{where}: {run.state.iteration} iterations, last accuracy {metrics.get('rl/accuracy', float('nan')):.2f}, "
            f"mean length {metrics.get('rl/len_mean', float('nan')):.0f}; policy saved as {ws.model_dir(args.out)}"
        )
    return 0


def cmd_build_model(args) -> int:
    from k15core import stages
    from k15core.models import build_tiny_model, count_parameters, load_model

    cfg, ws = _setup(args)
    target = ws.model_dir(stages.BASE_MODEL)
    if ws.has_model(stages.BASE_MODEL) and not args.force:
        print(f"the tiny model already exists in {target} (--force rebuilds it)")
    else:
        build_tiny_model(cfg.model, target)
    model, _ = load_model(target)
    print(f"tiny model: {count_parameters(model) / 1e6:.2f} M parameters in {target}")
    return 0


def cmd_sft(args) -> int:
    from k15core import stages

    cfg, ws = _setup(args)
    base = stages.resolve_model(ws, args.model) if args.model else stages.base_model(ws, cfg, progress=not args.quiet)
    result = stages.run_sft(ws, ws.store(), cfg, base, out_name=args.out, progress=not args.quiet)
    print(f"saved {ws.model_dir(args.out)}: {result.steps} steps, {result.tokens_per_second:,.0f} tokens/s, final loss {result.final_loss:.3f}")
    return 0


def cmd_eval(args) -> int:
    from k15core import stages
    from k15core.evaluate import render_table
    from k15core.tasks.prompt_file import load_prompt_file

    cfg, ws = _setup(args)
    model_dir = stages.resolve_model(ws, args.model)
    problems = load_prompt_file(args.prompts, cfg.task.name) if args.prompts else None
    rows = stages.run_eval(ws, ws.store(), cfg, model_dir, problems, name=args.model, progress=not args.quiet)
    _console().print(render_table(rows, title=f"{args.model} on {'the held-out set' if problems is None else args.prompts}"))
    return 0


def cmd_prompts_import(args) -> int:
    from k15core.tasks.prompt_file import load_prompt_file

    cfg, ws = _setup(args)
    problems = load_prompt_file(args.file, cfg.task.name)  # validates the whole file before writing anything
    added = ws.store().add_prompts(problems, source=f"file:{Path(args.file).name}")
    print(f"{args.file}: {len(problems)} prompts read, {added} new, {len(problems) - added} already in the store")
    return 0


def _curate_options(p: argparse.ArgumentParser, n: int) -> None:
    p.add_argument("--model", default="warmup", help="model that answers: folder or workspace model name (default: warmup)")
    p.add_argument("--n", type=int, default=n, help=f"answers per prompt (default {n})")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (the report says only 'relatively high'; default 1.0)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="answer length cap in tokens")
    p.add_argument("--task", help="only prompts of this task")
    p.add_argument("--limit", type=int, help="only the first N prompts (by id)")
    p.add_argument("--redo", action="store_true", help="score prompts that already have the automatic label again")
    p.add_argument("--seed", type=int, default=0)


def cmd_long2short(args) -> int:
    import json

    from k15core.config import DEMO_CONFIG, load_config
    from k15core.long2short import stages as l2s
    from k15core.workspace import Workspace

    config = args.config or (str(DEMO_CONFIG) if DEMO_CONFIG.exists() else None)  # the demo's task and model, like `k15 demo`
    layers = [args.preset or l2s.L2S_RL_PRESET] if args.l2s_command == "rl" else []
    cfg = load_config(config, args.overrides, layers=layers)
    ws = Workspace.resolve(args.workspace)
    store, progress = ws.store(), not args.quiet
    if args.l2s_command == "merge":
        path = l2s.run_merge(ws, store, cfg, args.long, args.short, args.out, args.alpha)
        print(f"merged {args.long} ({args.alpha:g}) and {args.short} ({1 - args.alpha:g}) into {path}")
    elif args.l2s_command == "rejection":
        m = l2s.run_rejection(ws, store, cfg, args.long, args.out, progress)
        print(f"rejection sampling: {m['l2s/kept']:.0f} of {m['l2s/prompts']:.0f} prompts had a correct sample; kept answers "
              f"{m['l2s/kept_len_mean']:.1f} tokens on average (all samples {m['l2s/sample_len_mean']:.1f}); saved {ws.model_dir(args.out)}")
    elif args.l2s_command == "dpo":
        m = l2s.run_dpo(ws, store, cfg, args.long, args.out, progress)
        print(f"DPO: {m['l2s/pairs']:.0f} pairs from {m['l2s/prompts']:.0f} prompts, {m['l2s/dpo_steps']:.0f} steps, "
              f"final loss {m['l2s/dpo_loss']:.3f}, pairs ranked right {100 * m['l2s/dpo_ranked']:.0f}%; saved {ws.model_dir(args.out)}")
    elif args.l2s_command == "rl":
        run, metrics = l2s.run_long2short_rl(ws, store, cfg, args.long, args.out, progress)
        print(f"long2short RL run {run.state.run_id}: {run.state.iteration} iterations, length penalty {cfg.rl.length_penalty:g}, "
              f"cap {cfg.rl.max_response_tokens} tokens; saved {ws.model_dir(args.out)}")
    elif args.l2s_command == "short":
        result = l2s.run_short_baseline(ws, store, cfg, args.out, progress)
        print(f"short baseline {ws.model_dir(args.out)}: {result.steps} steps, final loss {result.final_loss:.3f}")
    else:
        models = {}
        for item in args.models:
            label, sep, ref = item.partition("=")
            if not sep or not label or not ref:
                raise K15Error(f"{item!r} is not LABEL=MODEL", "e.g. k15 long2short compare long=rl short=short")
            models[label] = ref
        rows = l2s.compare(ws, store, cfg, models, progress)
        _console().print(_compare_table(rows))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0


def _compare_table(rows: list[dict]):
    from rich.table import Table

    from k15core.viz import pareto_front

    overall = [r for r in rows if r["level"] == "all"]
    front = {r["model"] for r in pareto_front(overall, x="len_mean", y="accuracy")}
    table = Table(title="Long2short: accuracy against mean response tokens (held-out set, free style)")
    for col in ("model", "accuracy", "mean tokens", "Pareto"):
        table.add_column(col)
    for r in overall:
        table.add_row(r["model"], f"{100 * r['accuracy']:.1f}%", f"{r['len_mean']:.1f}", "yes" if r["model"] in front else "")
    return table


def cmd_curate(args) -> int:
    from tqdm import tqdm

    from k15core import stages
    from k15core.curation.run import curate_difficulty, curate_hackable, hf_sampler, store_problems
    from k15core.models import load_model, pick_device

    if args.n < 1:
        raise K15Error(f"--n must be at least 1, got {args.n}", "e.g. --n 10")
    if args.curate_command == "hackable" and not 1 <= args.min_correct <= args.n:
        raise K15Error(f"--min-correct must be between 1 and --n ({args.n}), got {args.min_correct}", "e.g. --min-correct 3")
    cfg, ws = _setup(args)
    store = ws.store()
    problems = store_problems(store, args.task)[: args.limit]
    if not problems:
        raise K15Error("the run store holds no prompts to curate", "import some (k15 prompts import FILE) or run k15 train once")
    model, tokenizer = load_model(stages.resolve_model(ws, args.model), device=pick_device())
    sample = hf_sampler(model, tokenizer, temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed)
    with tqdm(total=len(problems), desc=f"curate {args.curate_command}", unit="prompt", disable=args.quiet) as bar:
        if args.curate_command == "difficulty":
            report = curate_difficulty(store, problems, sample, n=args.n, redo=args.redo, progress=bar.update)
        else:
            report = curate_hackable(store, problems, sample, n=args.n, policy=args.policy, redo=args.redo, progress=bar.update,
                                     min_correct=args.min_correct)
    what = (f"difficulty histogram {dict(sorted(report.histogram.items()))}" if args.curate_command == "difficulty"
            else f"{report.flagged} flagged easy to hack ({args.policy})")
    print(f"curate {args.curate_command}: {report.curated} prompts scored, {report.skipped} already done (--redo scores them again), "
          f"{report.events} label events written, {report.kept_human} human labels kept; {what}; {report.seconds:.1f} s")
    return 0


def cmd_curate_text_rules(args) -> int:
    """`k15 curate formats` and `k15 curate dedup`: rules over the text, no model."""
    from tqdm import tqdm

    from k15core.curation.run import curate_duplicates, curate_formats, store_problems

    _, ws = _setup(args)
    store = ws.store()
    problems = store_problems(store, args.task)
    with tqdm(total=len(problems), desc=f"curate {args.curate_command}", unit="prompt", disable=args.quiet) as bar:
        if args.curate_command == "dedup":
            report = curate_duplicates(store, problems, threshold=args.threshold, policy=args.policy, progress=bar.update)
        else:
            report = curate_formats(store, problems, policy=args.policy, progress=bar.update)
    print(f"curate {args.curate_command}: {report.curated} prompts checked, {report.flagged} flagged ({args.policy}), "
          f"{report.events} label events written, {report.kept_human} human labels kept; {report.seconds:.1f} s")
    return 0


def cmd_studio(args) -> int:
    from studio.app import build_app, read_auth_file, serve

    auth = read_auth_file(args.auth) if args.auth else None
    _, ws = _setup(args)
    app = build_app(ws.root)
    print(f"k15 studio on workspace {ws.root}", flush=True)
    serve(app, host=args.host, port=args.port, auth=auth, block=True)
    return 0


def cmd_config(args) -> int:
    from rich.table import Table

    from k15core.config import describe

    table = Table(title="k15 config keys (override with --set key=value)")
    for col in ("key", "default", "meaning"):
        table.add_column(col)
    for key, default, help_text in describe():
        table.add_row(key, default, help_text)
    _console().print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except K15Error as err:
        from k15core import dist

        if dist.launch_rank() == 0:  # under torchrun every rank gets rank 0's error: say it once
            print(f"error: {err.problem}", file=sys.stderr)
            if err.fix:
                print(f"  fix: {err.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept in the workspace (an RL run resumes with k15 train --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
