"""`k15 demo`: tiny model -> long-CoT warm-up -> RL -> evaluation before and after, with the studio
open beside it, and a few lines saying what the numbers mean."""
from __future__ import annotations

import sys
import time

from k15core.cli.common import add_common, add_report_to, console, setup
from k15core.cli.studio import start_studio


def register(sub) -> None:
    p = sub.add_parser("demo", help="tiny model -> long-CoT warm-up -> RL -> evaluation before and after")
    add_common(p)
    p.add_argument("--fresh", action="store_true", help="retrain the warm-up model even if a current one is cached")
    p.add_argument("--no-rl", action="store_true", help="stop after the warm-up and its evaluation")
    p.add_argument("--no-studio", action="store_true", help="terminal only: do not start the studio beside the demo")
    p.add_argument("--port", type=int, help="studio port (default: a free one)")
    add_report_to(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from k15core.config import DEMO_CONFIG

    t0 = time.perf_counter()
    if args.config is None and DEMO_CONFIG.exists():  # the demo preset; --config replaces it
        args.config = str(DEMO_CONFIG)
    cfg, ws = setup(args)
    store = ws.store()
    out = console()
    out.print(f"[bold]k15 demo[/] — workspace {ws.root}")
    studio = None if args.no_studio else start_studio(ws, args.port, out)
    try:
        _demo_stages(args, cfg, ws, store, out)
        out.print(f"demo finished in {time.perf_counter() - t0:.0f} s; everything is recorded in {ws.db_path}")
        if studio is not None and sys.stdin.isatty():
            out.print(f"the studio stays open at [bold]{studio.url}[/] — Ctrl-C to close it")
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
