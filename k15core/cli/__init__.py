"""The `k15` command. Each subcommand is a thin wrapper over a stage in k15core.stages.

    k15 demo                      tiny model -> long-CoT warm-up -> RL -> evaluation before and after
    k15 train [--model M]         k1.5 RL from a model (default: the warm-up model); --resume continues
                                  (also under torchrun --nproc-per-node N -m k15core.cli train: data parallel)
    k15 build-model               build the tiny default model in the workspace
    k15 sft [--model M]           warm up a model (default: the tiny one) on the task
    k15 eval [--model M]          evaluate on the held-out set, or on --prompts FILE
    k15 prompts import PATH       add prompts from a JSONL/CSV/Parquet file or a dataset folder to the run store
    k15 store check               check every page and index of the run store
    k15 config                    list every config key with its default and meaning
    k15 studio [--host H --port N --auth FILE]   the studio on the workspace (see studio/app.py)
    k15 curate difficulty|hackable [--model M]   label prompts by pass rate / easy-to-hack (source auto)
    k15 curate testgen [FILE]     test cases for code problems from 10 reference solutions each (report §2.3.5)
    k15 long2short merge|rejection|dpo|rl|short|compare   shorter answers from a long-CoT model (report §2.4)
    k15 judge agreement --model M  the chain-of-thought judge (report §2.3.5) against human labels and math-verify (JSON)

Common options: --workspace DIR (or K15_WORKSPACE), --config FILE.yaml, --set key=value (repeatable); demo, train, sft
and eval also take --report-to tensorboard trackio (every metric to those experiment trackers too, k15core.reporting).

Each module in COMMANDS adds its subcommands with `register(sub)` and binds each to its function
with set_defaults(func=...); main() only parses and calls args.func. The modules import their heavy
dependencies inside the command functions, so `k15 --help` and a bad flag answer at once.
"""
from __future__ import annotations

import argparse

from k15core.cli import config_keys, curate, demo, judge, long2short, pipeline, prompts, store, studio
from k15core.cli.common import run_guarded, set_environment

COMMANDS = (demo, studio, pipeline, prompts, curate, long2short, judge, store, config_keys)  # in `k15 --help` order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k15", description="k15 studio: the Kimi k1.5 RL recipe you can run, watch and steer.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    set_environment()
    args = build_parser().parse_args(argv)
    return run_guarded(args.func, args)
