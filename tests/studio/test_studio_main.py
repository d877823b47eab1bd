"""`python -m studio` is the studio's process, and `k15 studio` becomes it: the same flags, the same
values, the studio's own errors and exit status, and a server that answers."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from k15core.cli import build_parser
from k15core.cli.studio import studio_argv
from studio.__main__ import build_parser as studio_parser

K15 = Path(sys.executable).parent / "k15"


@pytest.mark.parametrize("argv", [
    [],
    ["--workspace", "ws", "--host", "0.0.0.0", "--port", "7861", "--auth", "users.txt"],
    ["--workspace", "ws", "--store", "postgresql://ann@db.lab/k15?sslmode=require"],
    ["--workspace=-odd name", "--config", "c.yaml", "--set", "sft.lr=0.01", "--set", "rl.k=-1", "--quiet"],
    ["--work", "abbreviated", "--po", "9"],
])
def test_k15_studio_hands_the_studio_the_values_it_parsed(argv):
    ours = vars(build_parser().parse_args(["studio", *argv]))
    forwarded = studio_argv(build_parser().parse_args(["studio", *argv]))
    theirs = vars(studio_parser().parse_args(forwarded))
    assert {k: v for k, v in ours.items() if k not in ("command", "func")} == theirs


def test_both_parse_the_same_flags():
    def flags(parser):
        return sorted(s for a in parser._actions for s in a.option_strings)

    k15_studio = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["studio"]
    assert flags(k15_studio) == flags(studio_parser())
    assert {"--workspace", "--config", "--set", "--quiet", "--host", "--port", "--auth"} <= set(flags(k15_studio))


def test_k15_studio_ends_with_the_studios_own_error(tmp_path):
    """A non-loopback host without --auth: the studio process refuses, and its message and status are k15 studio's."""
    out = subprocess.run([str(K15), "studio", "--workspace", str(tmp_path / "ws"), "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "error: refusing to serve the studio on 0.0.0.0 without authentication" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "studio", "--workspace", str(tmp_path / "ws"), "--auth", str(tmp_path / "absent")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "cannot read the auth file" in out.stderr


def test_k15_studio_serves_in_its_own_process(tmp_path):
    from studio.app import free_port

    port = free_port()
    proc = subprocess.Popen([str(K15), "studio", "--workspace", str(tmp_path / "ws"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the studio did not answer in 240 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200 and "k15 studio" in page.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        if cmdline.exists():  # Linux: the process k15 started now runs `python -P -m studio ...`, not the k15 script
            assert cmdline.read_bytes().split(b"\0")[1:4] == [b"-P", b"-m", b"studio"]
    finally:
        proc.terminate()  # the process k15 started is the studio itself (execv): stopping it stops the server
        proc.wait(timeout=30)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert f"k15 studio on workspace {tmp_path / 'ws'}" in proc.stdout.read()
