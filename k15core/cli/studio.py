"""`k15 studio`, and the studio beside `k15 demo`: the studio always runs as its own process
(`python -m studio`, studio/__main__.py), so the engine never imports the studio or gradio.

The studio's flags are defined here once: `k15 studio` parses them (its --help, its errors), and
`python -m studio` parses the same ones. `k15 studio` then replaces itself with the studio process
(os.execv), so the output, the Ctrl-C handling and the exit status are the studio's own, with no
parent process left waiting in between.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from k15core.cli.common import add_common
from k15core.workspace import STORE_ENV_VAR


def add_studio_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; any other needs --auth)")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--auth", metavar="FILE", help="file of user:password lines; labels are recorded under the signed-in user")


def studio_argv(args: argparse.Namespace) -> list[str]:
    """Parsed studio flags written back as a command line: parsing it again gives the same values.
    `--flag=value`, so a value that starts with '-' stays a value."""
    argv = [f"--host={args.host}"]
    for flag, value in (("--workspace", args.workspace), ("--store", args.store), ("--config", args.config), ("--port", args.port), ("--auth", args.auth)):
        if value is not None:
            argv.append(f"{flag}={value}")
    argv += [f"--set={override}" for override in args.overrides]
    return argv + (["--quiet"] if args.quiet else [])


def studio_command(argv: list[str]) -> list[str]:
    """The command that runs the studio with `argv`: this Python with -P, so that a folder named `studio`
    in the current directory cannot stand in for the package (the `k15` script never looks there either)."""
    return [sys.executable, "-P", "-m", "studio", *argv]


def cmd_studio(args) -> int:
    """Never returns: this process becomes the studio (called in-process, main(["studio", ...]) does too)."""
    command = studio_command(studio_argv(args))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached: execv returns only by raising


def register(sub) -> None:
    p = sub.add_parser("studio", help="the studio: live run curves, rollout browser, prompt curation, run launch")
    add_studio_arguments(p)
    p.set_defaults(func=cmd_studio)


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


def start_studio(ws, port: int | None, console, timeout_s: float = 60.0) -> StudioProcess | None:
    """Start the studio on the workspace in a child process and wait until it answers; None (and a note) if it cannot."""
    import socket
    import urllib.request

    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, STORE_ENV_VAR: ws.store_url} if ws.store_url else None  # in the environment: no password on a command line
    with open(ws.root / "studio.log", "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(studio_command([f"--workspace={ws.root}", f"--port={port}"]),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
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
