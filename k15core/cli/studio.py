"""`k15 studio`, and the studio beside `k15 demo` (in a child process running `k15 studio`)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass

from k15core.cli.common import add_common, setup


def add_studio_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; any other needs --auth)")
    p.add_argument("--port", type=int, help="port (default: a free one)")
    p.add_argument("--auth", metavar="FILE", help="file of user:password lines; labels are recorded under the signed-in user")


def cmd_studio(args) -> int:
    from studio.app import build_app, read_auth_file, serve

    auth = read_auth_file(args.auth) if args.auth else None
    _, ws = setup(args)
    app = build_app(ws.root)
    print(f"k15 studio on workspace {ws.root}", flush=True)
    serve(app, host=args.host, port=args.port, auth=auth, block=True)
    return 0


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
