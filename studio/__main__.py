"""`python -m studio --workspace DIR [--store URL] [--host H] [--port N] [--auth FILE]`: the studio on one workspace.

This is the studio's process: `k15 studio` and the studio beside `k15 demo` both run this module,
so the engine (k15core) never imports the studio or gradio. The flags are the ones `k15 studio`
takes (one definition, k15core.cli.studio), and errors end it the way they end every k15 command.
"""
from __future__ import annotations

import argparse
import sys

from k15core.cli.common import run_guarded, set_environment, setup
from k15core.cli.studio import add_studio_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio", description="k15 studio: live run curves, rollout browser, prompt curation, run launch.")
    add_studio_arguments(parser)
    return parser


def serve_workspace(args: argparse.Namespace) -> int:
    """Build the studio on the workspace and serve it until Ctrl-C (gradio is imported here, so --help answers at once)."""
    from studio.app import build_app, read_auth_file, serve

    auth = read_auth_file(args.auth) if args.auth else None
    _, ws = setup(args)
    app = build_app(ws)
    store = f", run store {ws.store_name}" if ws.store_url else ""
    print(f"k15 studio on workspace {ws.root}{store}", flush=True)
    serve(app, host=args.host, port=args.port, auth=auth, block=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    set_environment()
    return run_guarded(serve_workspace, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
