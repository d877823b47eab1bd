"""What every k15 command shares: the common flags, the config and workspace they name, the console,
and how a command ends on a user-facing error or Ctrl-C.

`python -m studio` uses the same pieces, so the studio's command line and its errors read like
every other k15 command's.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from k15core import malloc_tuning
from k15core.errors import K15Error


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", help="workspace folder (default: $K15_WORKSPACE or ./k15-workspace)")
    p.add_argument("--store", metavar="URL", help="the run store, when not the workspace's k15.db: a database a team shares, "
                   "postgresql://user@host/dbname (default: $K15_STORE, else k15.db in the workspace)")
    p.add_argument("--config", help="YAML config file (see assets/configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. sft.lr=0.001")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


class _ReportTo(argparse.Action):
    """`--report-to tensorboard trackio` is `--set report.to=[tensorboard, trackio]` (`--report-to none`: []), taking its
    place among the overrides in command-line order; the config checks the names (k15core.reporting)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import json

        names = [] if values == ["none"] else list(values)
        setattr(namespace, "overrides", [*(getattr(namespace, "overrides", None) or []), f"report.to={json.dumps(names)}"])


def add_report_to(p: argparse.ArgumentParser) -> None:
    """`--report-to`, for the commands that train or evaluate (after add_common: it adds to --set's overrides)."""
    from k15core.reporting import REPORTERS

    p.add_argument("--report-to", nargs="+", action=_ReportTo, dest="overrides", default=argparse.SUPPRESS, metavar="TRACKER",
                   help=f"also send every metric, and the run's config, to these experiment trackers: {', '.join(REPORTERS.names())} "
                        "(local files; pip install 'k15-studio[trackers]'); the same as --set report.to=[...]; default: none")


def setup(args):
    """The config (--config, then --set) and the workspace (--workspace or $K15_WORKSPACE; its store --store or $K15_STORE) of a command."""
    from k15core.config import load_config
    from k15core.workspace import Workspace

    cfg = load_config(args.config, args.overrides)
    ws = Workspace.resolve(args.workspace, store=args.store)
    return cfg, ws


def console():
    from rich.console import Console

    return Console()


def set_environment() -> None:
    """Offline model hub and quiet transformers unless the user set them: a command never downloads by surprise.
    With K15_MALLOC_TUNING=1, glibc's malloc set to give freed memory back (k15core.malloc_tuning), before the
    first tensor."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    malloc_tuning.tune()


def run_guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command: a K15Error ends it as two lines (problem, fix) and status 2, Ctrl-C as status 130, never a traceback."""
    try:
        return command(args)
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
