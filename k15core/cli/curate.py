"""`k15 curate difficulty|hackable|formats|dedup`: label the stored prompts (report §2.1);
`k15 curate testgen`: test cases for code problems from their reference solutions (report §2.3.5).

difficulty and hackable sample a model's answers; formats and dedup are rules over the text. Each
subcommand has its own function; the two model passes share `_model_pass`, the two text passes
`_text_pass`. testgen reads a problem file, not the store, and writes a code prompt file and a report.
"""
from __future__ import annotations

import argparse

from k15core.cli.common import add_common, setup
from k15core.errors import K15Error


def register(sub) -> None:
    p = sub.add_parser("curate", help="label the stored prompts: difficulty by pass rate, easy-to-hack filter (report §2.1)")
    csub = p.add_subparsers(dest="curate_command", required=True)
    pc = csub.add_parser("difficulty", help="sample n answers per prompt; pass rate -> difficulty 1-5 (label events, source auto)")
    add_common(pc)
    _model_options(pc, n=10)
    pc.set_defaults(func=cmd_difficulty)
    pc = csub.add_parser("hackable", help="ask for the bare answer n times; any correct guess flags the prompt easy to hack")
    add_common(pc)
    _model_options(pc, n=8)
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude hackable prompts")
    pc.add_argument("--min-correct", type=int, default=1, help="correct guesses that flag a prompt (default 1, the report's 'any'); "
                    "for a small answer space raise it: one digit right in 8 guesses happens by chance 57%% of the time, 3 of 8 3.8%%")
    pc.set_defaults(func=cmd_hackable)
    pc = csub.add_parser("formats", help="flag multiple-choice, true/false, proof and free-form prompts (no model needed)")
    add_common(pc)
    pc.add_argument("--task", help="only prompts of this task")
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude them")
    pc.set_defaults(func=cmd_formats)
    pc = csub.add_parser("dedup", help="flag exact and near-duplicate prompts (MinHash), each pointing at the one kept")
    add_common(pc)
    pc.add_argument("--task", help="only prompts of this task")
    pc.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of word 3-grams that counts as a duplicate (default 0.8)")
    pc.add_argument("--policy", choices=["flag", "exclude"], default="flag", help="flag (default) or also exclude the copies")
    pc.set_defaults(func=cmd_dedup)
    _testgen_parser(csub)


def _testgen_parser(csub) -> None:
    from k15core.curation.testgen import TestgenConfig, TestgenRules  # light (no torch): the defaults are written there once

    pc = csub.add_parser("testgen", help="generate test cases for code problems from 10 reference solutions each; keep the problems "
                         "9 of 10 references pass (report §2.3.5)")
    add_common(pc)
    pc.add_argument("problems", nargs="?", help="JSONL of problems with references and a generator (default: the shipped "
                    "assets/testgen/problems.jsonl; format in k15core/curation/testgen/problems.py)")
    pc.add_argument("--out", default="testgen", help="saved as data/<out>.jsonl (code prompts) and data/<out>-report.json in the workspace")
    pc.add_argument("--cases", type=int, default=TestgenConfig.cases, help=f"random inputs per problem (default {TestgenConfig.cases}, the report's)")
    pc.add_argument("--seed", type=int, default=TestgenConfig.seed)
    pc.add_argument("--valid-share", type=float, default=TestgenRules.valid_share,
                    help="a case is valid when this share of references print the same output (default 0.7: 7 of 10)")
    pc.add_argument("--keep-share", type=float, default=TestgenRules.keep_share,
                    help="a problem is kept when this share of references pass every valid case (default 0.9: 9 of 10)")
    pc.add_argument("--min-valid-share", type=float, default=TestgenRules.min_valid_share,
                    help="valid cases a problem needs, as a share of the inputs asked for (default 0.8: the report's 40 of 50)")
    pc.add_argument("--case-seconds", type=float, default=TestgenConfig.case_seconds, help="CPU seconds one reference may take on one input (wall clock: 2.5 times that)")
    pc.add_argument("--jobs", type=int, default=TestgenConfig.jobs, help="references run at once (default 1; at most the cores you can spare)")
    pc.add_argument("--writer", help="package.module:function returning generator source for a problem that has no generator "
                    "(e.g. a model's hook); the source runs in the sandbox")
    pc.add_argument("--limit", type=int, help="only the first N problems")
    pc.set_defaults(func=cmd_testgen)


def _model_options(p: argparse.ArgumentParser, n: int) -> None:
    p.add_argument("--model", default="warmup", help="model that answers: folder or workspace model name (default: warmup)")
    p.add_argument("--n", type=int, default=n, help=f"answers per prompt (default {n})")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (the report says only 'relatively high'; default 1.0)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="answer length cap in tokens")
    p.add_argument("--task", help="only prompts of this task")
    p.add_argument("--limit", type=int, help="only the first N prompts (by id)")
    p.add_argument("--redo", action="store_true", help="score prompts that already have the automatic label again")
    p.add_argument("--seed", type=int, default=0)


def _check_n(args) -> None:
    if args.n < 1:
        raise K15Error(f"--n must be at least 1, got {args.n}", "e.g. --n 10")


def cmd_difficulty(args) -> int:
    from k15core.curation.run import curate_difficulty

    _check_n(args)
    report = _model_pass(args, lambda store, problems, sample, progress: curate_difficulty(
        store, problems, sample, n=args.n, redo=args.redo, progress=progress))
    _print_model_pass(args, report, f"difficulty histogram {dict(sorted(report.histogram.items()))}")
    return 0


def cmd_hackable(args) -> int:
    from k15core.curation.run import curate_hackable

    _check_n(args)
    if not 1 <= args.min_correct <= args.n:
        raise K15Error(f"--min-correct must be between 1 and --n ({args.n}), got {args.min_correct}", "e.g. --min-correct 3")
    report = _model_pass(args, lambda store, problems, sample, progress: curate_hackable(
        store, problems, sample, n=args.n, policy=args.policy, redo=args.redo, progress=progress, min_correct=args.min_correct))
    _print_model_pass(args, report, f"{report.flagged} flagged easy to hack ({args.policy})")
    return 0


def _model_pass(args, curate):
    """The stored prompts, the model's sampler and a progress bar; `curate(store, problems, sample, progress)` labels them."""
    from tqdm import tqdm

    from k15core import stages
    from k15core.curation.run import CHAT_INSTRUCTION, hf_sampler, store_problems
    from k15core.models import pick_device
    from k15core.vlm.inputs import ImagePromptEncoder

    cfg, ws = setup(args)
    store = ws.store()
    problems = store_problems(store, args.task)[: args.limit]
    if not problems:
        raise K15Error("the run store holds no prompts to curate", "import some (k15 prompts import FILE) or run k15 train once")
    model, tokenizer, processor = stages.load_either(stages.resolve_model(ws, args.model), pick_device())
    # a VLM sees each prompt's pictures, from the workspace's image store
    encode = ImagePromptEncoder(processor, ws.images, CHAT_INSTRUCTION) if processor is not None else None
    sample = hf_sampler(model, tokenizer, temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed, encode=encode)
    with tqdm(total=len(problems), desc=f"curate {args.curate_command}", unit="prompt", disable=args.quiet) as bar:
        return curate(store, problems, sample, bar.update)


def _print_model_pass(args, report, what: str) -> None:
    print(f"curate {args.curate_command}: {report.curated} prompts scored, {report.skipped} already done (--redo scores them again), "
          f"{report.events} label events written, {report.kept_human} human labels kept; {what}; {report.seconds:.1f} s")


def cmd_formats(args) -> int:
    from k15core.curation.run import curate_formats

    return _text_pass(args, lambda store, problems, progress, ws: curate_formats(store, problems, policy=args.policy, progress=progress))


def cmd_dedup(args) -> int:
    from k15core.curation.run import curate_duplicates

    return _text_pass(args, lambda store, problems, progress, ws: curate_duplicates(
        store, problems, threshold=args.threshold, policy=args.policy, progress=progress, images=ws.images))


def _text_pass(args, curate) -> int:
    """Rules over the prompts, no model: the stored prompts and a progress bar; `curate(store, problems, progress, workspace)` labels them."""
    from tqdm import tqdm

    from k15core.curation.run import store_problems

    _, ws = setup(args)
    store = ws.store()
    problems = store_problems(store, args.task)
    with tqdm(total=len(problems), desc=f"curate {args.curate_command}", unit="prompt", disable=args.quiet) as bar:
        report = curate(store, problems, bar.update, ws)
    print(f"curate {args.curate_command}: {report.curated} prompts checked, {report.flagged} flagged ({args.policy}), "
          f"{report.events} label events written, {report.kept_human} human labels kept; {report.seconds:.1f} s")
    return 0


def cmd_testgen(args) -> int:
    import json
    from dataclasses import asdict

    from tqdm import tqdm

    from k15core.curation.testgen import TestgenConfig, TestgenRules, generate_tests, load_problems, load_writer, write_prompt_file
    from k15core.curation.testgen.problems import SAMPLE
    from k15core.curation.testgen.run import drop_summary
    from k15core.workspace import check_name

    check_name(args.out, "--out")
    if args.limit is not None and args.limit < 1:
        raise K15Error(f"--limit must be at least 1, got {args.limit}", "e.g. --limit 3")
    cfg = TestgenConfig(cases=args.cases, seed=args.seed, case_seconds=args.case_seconds, jobs=args.jobs,
                        rules=TestgenRules(valid_share=args.valid_share, keep_share=args.keep_share, min_valid_share=args.min_valid_share))
    writer = load_writer(args.writer) if args.writer else None
    problems = load_problems(args.problems or SAMPLE)[: args.limit]
    _, ws = setup(args)
    with tqdm(total=len(problems), desc="curate testgen", unit="problem", disable=args.quiet) as bar:
        result = generate_tests(problems, cfg, writer, progress=bar.update)
    rep = result.report
    prompts = write_prompt_file(result.kept, ws.root / "data" / f"{args.out}.jsonl")
    report_path = ws.root / "data" / f"{args.out}-report.json"
    report_path.write_text(json.dumps({**asdict(rep), "problem_file": str(args.problems or SAMPLE), "prompts": str(prompts)}, indent=1) + "\n")
    print(f"curate testgen: {rep.problems} problems -> {rep.kept} kept, {rep.dropped} dropped ({drop_summary(rep)}); "
          f"{rep.inputs_generated} inputs generated, {rep.inputs_no_majority} dropped without a {cfg.rules.valid_share:.0%} majority; "
          f"{rep.cases_kept} test cases written; {rep.seconds:.1f} s")
    for o in rep.outcomes:
        detail = f"{o.valid}/{o.generated} inputs valid, {o.passing}/{o.references} references pass" if o.kept else o.reason
        print(f"  {'kept' if o.kept else 'dropped':8} {o.id:24} {detail}")
    print(f"saved {prompts} (code prompts) and {report_path}\nnext: k15 prompts import {prompts}")
    return 0
