"""Launched `k15 train` processes: start one from a checked LaunchPlan, list them with how they ended, read a log,
stop one gracefully (SIGTERM: the trainer checkpoints and marks the run stopped).

Each launch keeps its config, log, pid and exit status in <workspace>/launches/<name>/. A launch runs under
studio.launch_child, which records the trainer's exit status when it ends, in its own session, so it outlives the
studio; the table rebuilds from those files after a studio restart.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from k15core.errors import K15Error
from k15core.progress_lines import run_id_in
from k15core.workspace import STORE_ENV_VAR, check_name
from studio.launch_plan import LaunchPlan

SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding this studio's `studio` and `k15core` packages: the launch runs the same code as the studio."""

EXIT_MEANINGS = {0: "finished", 1: "crashed", 2: "error", 127: "not started", 130: "stopped"}
"""What `k15 train`'s exit codes mean (k15core.cli.common.run_guarded: 2 a K15Error, 130 stopped by SIGTERM or
Ctrl-C, after a checkpoint; 1 an uncaught exception). A negative code is a signal that killed it."""

ERROR_LINE = re.compile(r"^(error: |doctor \[fatal\] |[\w.]*(Error|Exception)\b)")
"""A line that says why a process died: a K15Error ('error: ...'), a fatal alarm, or a traceback's last line."""


def launches_dir(workspace_root: Path) -> Path:
    return workspace_root / "launches"


def start_run(workspace_root: Path, plan: LaunchPlan, store_url: str | None = None) -> dict:
    """Write the plan's config and start `k15 train` under launch_child in its own session. Returns the launch record.
    `store_url`: the studio's run store when it is not the workspace's k15.db (passed in the environment, K15_STORE,
    so no password lands on a command line or in launch.json)."""
    resume = "--resume" in plan.args
    folder = _new_folder(launches_dir(workspace_root), time.strftime("%Y%m%d-%H%M%S") + ("-resume" if resume else ""))
    (folder / "config.yaml").write_text(plan.config_yaml)
    cmd = [sys.executable, "-P", "-m", "k15core.cli", "train", "--workspace", str(workspace_root), "--config", str(folder / "config.yaml"),
           "--quiet", "--progress-lines", "--out", plan.out_name, *plan.args]
    # -P keeps the workspace (the cwd) off sys.path; PYTHONPATH puts this studio's own packages first instead
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE_ROOT), os.environ.get("PYTHONPATH")]))}
    if store_url:
        env[STORE_ENV_VAR] = store_url
    with open(folder / "train.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-P", "-m", "studio.launch_child", str(folder / "exit.json"), *cmd], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=str(workspace_root), env=env)
    record = {"name": folder.name, "pid": proc.pid, "cmd": cmd, "out": plan.out_name, "started_at": time.time()}
    (folder / "launch.json").write_text(json.dumps(record))
    return record


def _new_folder(parent: Path, name: str) -> Path:
    """parent/name, or name-2, name-3, ... when two launches start within the same second."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise K15Error(f"too many launches named {name}-*", "wait a second and start again")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child stays a zombie until reaped; reap it so it reads as not running
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:  # not our child (started by an earlier studio): kill(0) is the answer
        return True


def exit_text(code: int | None) -> str:
    """An exit status in words: '2 (error)', '-9 (killed by SIGKILL)', 'unknown' where none was recorded."""
    if code is None:
        return "unknown"
    if code < 0:
        try:
            return f"{code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f"{code} (killed by signal {-code})"
    return f"{code} ({EXIT_MEANINGS.get(code, 'failed')})"


def last_error_line(lines: list[str]) -> str:
    """The last line saying why the process died, with its fix when the next line gives one; else the last line."""
    for i in range(len(lines) - 1, -1, -1):
        if ERROR_LINE.match(lines[i]):
            fix = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else ""
            return lines[i] + (f" — {fix}" if fix else "")
    return lines[-1] if lines else ""


def launches(workspace_root: Path) -> list[dict]:
    """Every launch of this workspace, newest first: its record, whether it runs, its run id (from its log's `RL run`
    lines), its exit code (None while it runs or where none was recorded), and its last line or, for one that
    failed, its last error line."""
    out = []
    folder = launches_dir(workspace_root)
    for d in folder.glob("*/launch.json") if folder.exists() else []:
        rec = json.loads(d.read_text())
        log = d.parent / "train.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        lines = [line for line in text.splitlines() if line.strip()]
        running = _alive(rec["pid"])
        status = d.parent / "exit.json"
        code = json.loads(status.read_text())["exit_code"] if status.exists() and not running else None
        failed = not running and code not in (0, 130)
        out.append({**rec, "running": running, "run_id": run_id_in(text), "exit_code": code,
                    "exit": "" if running else exit_text(code), "last_line": last_error_line(lines) if failed else (lines[-1] if lines else "")})
    return sorted(out, key=lambda r: r["started_at"], reverse=True)


def running_outs(workspace_root: Path) -> dict[str, str]:
    """Output name -> launch name of every launch still running (its policy is not saved yet, but the name is taken)."""
    return {r["out"]: r["name"] for r in launches(workspace_root) if r["running"] and r.get("out")}


def read_log(workspace_root: Path, name: str, lines: int = 30) -> str:
    """The last `lines` lines of launch `name`'s log; a name that is not a plain launch name reads nothing."""
    try:
        check_name(name or "", "launch name")
    except K15Error as err:
        return err.problem if name else ""
    log = launches_dir(workspace_root) / name / "train.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def stop_run(workspace_root: Path, name: str) -> str:
    """Ask a launched run to stop (SIGTERM): it finishes its iteration's checkpoint and marks the run stopped."""
    for rec in launches(workspace_root):
        if rec["name"] == name:
            if not rec["running"]:
                return f"{name} is not running"
            os.killpg(rec["pid"], signal.SIGTERM)
            return f"{name}: asked to stop (it checkpoints first; resume continues from there)"
    return f"no launch named {name!r}"
