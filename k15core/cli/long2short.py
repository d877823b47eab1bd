"""`k15 long2short merge|rejection|dpo|rl|short|compare`: shorter answers from a long-CoT model (report §2.4).

Every step runs on the demo's task and model unless --config says otherwise (like `k15 demo`); `rl`
also layers its preset on the config. Each step is one function bound to its subparser by
`_command`, which does the shared setup (config, workspace, store) first.
"""
from __future__ import annotations

import json
from pathlib import Path

from k15core.cli.common import add_common, console
from k15core.errors import K15Error
from k15core.long2short.selection import PAIR_SOURCES


def register(sub) -> None:
    p = sub.add_parser("long2short", help="make a long-CoT model answer in fewer tokens (report §2.4)")
    lsub = p.add_subparsers(dest="l2s_command", required=True)
    pl = lsub.add_parser("merge", help="average the weights of a long and a short model (LoRA adapters merged first)")
    add_common(pl)
    pl.add_argument("--long", default="rl", help="long-CoT model: folder or workspace name (default: rl)")
    pl.add_argument("--short", default="short", help="short-CoT model (default: short, made by `k15 long2short short`)")
    pl.add_argument("--alpha", type=float, default=0.5, help="weight of the long model (default 0.5: the report's plain average)")
    pl.add_argument("--out", default="l2s-merge", help="name of the merged model (default: l2s-merge)")
    pl.set_defaults(func=_command(_merge))
    for name, text, step, preset in (
        ("rejection", "fine-tune the long model on its shortest correct samples (n per prompt: long2short.samples)", _rejection, False),
        ("dpo", "DPO: shortest correct chosen; wrong, or correct and 1.5x longer, rejected (--pairs: or the pairs people marked)", _dpo, False),
        ("rl", "RL from the long model with the length penalty from iteration 0 and a lower length cap", _rl, True),
    ):
        pl = lsub.add_parser(name, help=text)
        add_common(pl)
        pl.add_argument("--long", default="rl", help="long-CoT model: folder or workspace name (default: rl)")
        pl.add_argument("--out", default=f"l2s-{name}", help=f"name of the resulting model (default: l2s-{name})")
        if preset:
            pl.add_argument("--preset", default=None, help="YAML layered on the config (default: assets/configs/long2short_rl.yaml)")
        if name == "dpo":
            pl.add_argument("--pairs", choices=PAIR_SOURCES, default="auto",
                            help="auto: pairs from the long model's own samples (default); human: the pairs people marked in the studio's "
                                 "Rollouts tab (every chosen x every rejected answer of a group); both: the two, each pair once")
        pl.set_defaults(func=_command(step, preset))
    pl = lsub.add_parser("short", help="the short baseline: warm up the base model on short solutions only")
    add_common(pl)
    pl.add_argument("--out", default="short", help="name of the model (default: short)")
    pl.add_argument("--model", default=None, help="the model to warm up: folder or workspace name (default: the tiny text model; "
                                                  "tiny-vlm for a short vision-language model to merge with a long one)")
    pl.set_defaults(func=_command(_short))
    pl = lsub.add_parser("compare", help="accuracy and mean tokens of each model on the held-out set, with the Pareto frontier")
    add_common(pl)
    pl.add_argument("models", nargs="+", metavar="LABEL=MODEL", help="e.g. long=rl short=short merge=l2s-merge (MODEL: workspace name or folder)")
    pl.add_argument("--json", dest="json_out", help="also write the rows to this JSON file")
    pl.set_defaults(func=_command(_compare))


def _command(step, preset: bool = False):
    """The command function of one step: config (the demo's unless --config; with `preset`, --preset or the
    long2short RL preset layered on), workspace and store, then `step(args, l2s, ws, store, cfg, progress)`."""

    def run(args) -> int:
        from k15core.config import DEMO_CONFIG, load_config
        from k15core.long2short import stages as l2s
        from k15core.workspace import Workspace

        config = args.config or (str(DEMO_CONFIG) if DEMO_CONFIG.exists() else None)
        layers = [args.preset or l2s.L2S_RL_PRESET] if preset else []
        cfg = load_config(config, args.overrides, layers=layers)
        ws = Workspace.resolve(args.workspace, store=args.store)
        step(args, l2s, ws, ws.store(), cfg, not args.quiet)
        return 0

    return run


def _merge(args, l2s, ws, store, cfg, progress) -> None:
    path = l2s.run_merge(ws, store, cfg, args.long, args.short, args.out, args.alpha)
    print(f"merged {args.long} ({args.alpha:g}) and {args.short} ({1 - args.alpha:g}) into {path}")


def _rejection(args, l2s, ws, store, cfg, progress) -> None:
    m = l2s.run_rejection(ws, store, cfg, args.long, args.out, progress)
    print(f"rejection sampling: {m['l2s/kept']:.0f} of {m['l2s/prompts']:.0f} prompts had a correct sample; kept answers "
          f"{m['l2s/kept_len_mean']:.1f} tokens on average (all samples {m['l2s/sample_len_mean']:.1f}); saved {ws.model_dir(args.out)}")


def _dpo(args, l2s, ws, store, cfg, progress) -> None:
    m = l2s.run_dpo(ws, store, cfg, args.long, args.out, progress, pairs=args.pairs)
    source = {"auto": f"from {m['l2s/prompts']:.0f} prompts", "human": f"marked by people on {m['l2s/prompts']:.0f} prompts",
              "both": f"({m['l2s/pairs_auto']:.0f} from {m['l2s/prompts']:.0f} prompts, {m['l2s/pairs_human']:.0f} marked by people)"}[args.pairs]
    extra = "".join(f"; {m[key]:.0f} {what}" for key, what in (("l2s/pairs_duplicate", "duplicate pairs dropped"),
                                                              ("l2s/pairs_missing", "human pairs skipped: their responses are no longer stored"))
                    if m[key])
    print(f"DPO: {m['l2s/pairs']:.0f} pairs {source}{extra}, {m['l2s/dpo_steps']:.0f} steps, "
          f"final loss {m['l2s/dpo_loss']:.3f}, pairs ranked right {100 * m['l2s/dpo_ranked']:.0f}%; saved {ws.model_dir(args.out)}")


def _rl(args, l2s, ws, store, cfg, progress) -> None:
    run, metrics = l2s.run_long2short_rl(ws, store, cfg, args.long, args.out, progress)
    print(f"long2short RL run {run.state.run_id}: {run.state.iteration} iterations, length penalty {cfg.rl.length_penalty:g}, "
          f"cap {cfg.rl.max_response_tokens} tokens; saved {ws.model_dir(args.out)}")


def _short(args, l2s, ws, store, cfg, progress) -> None:
    result = l2s.run_short_baseline(ws, store, cfg, args.out, progress, base=args.model)
    print(f"short baseline {ws.model_dir(args.out)}: {result.steps} steps, final loss {result.final_loss:.3f}")


def _compare(args, l2s, ws, store, cfg, progress) -> None:
    models = {}
    for item in args.models:
        label, sep, ref = item.partition("=")
        if not sep or not label or not ref:
            raise K15Error(f"{item!r} is not LABEL=MODEL", "e.g. k15 long2short compare long=rl short=short")
        models[label] = ref
    rows = l2s.compare(ws, store, cfg, models, progress)
    console().print(_compare_table(rows))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


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
