"""`python -P -m studio.launch_child STATUS_FILE CMD...`: run CMD (a `k15 train`) and, when it ends, write its exit
status to STATUS_FILE as JSON ({"exit_code": n, "ended_at": t}; n < 0: killed by signal -n).

Why a parent process: a launch outlives the studio that started it (it runs in its own session), so the studio
cannot always wait() for it, and a trainer killed by a signal (the OOM killer, kill -9) writes nothing itself.
This process waits for it and records how it ended; it is the launch's pid and its process group's leader.

Stop gracefully sends SIGTERM to the whole group: the trainer stops after its iteration and this process, whose
handler ignores the signal, stays to record the ending. (exec resets a handled signal to its default, so the
trainer gets SIGTERM's default action until it installs its own handler.) Gradio is never imported here.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def write_status(path: Path, exit_code: int) -> None:
    """Written whole or not at all (a reader never sees half a file): a temporary file renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"exit_code": exit_code, "ended_at": time.time()}))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    status_file, cmd = Path(argv[0]), argv[1:]
    signal.signal(signal.SIGTERM, lambda *_: None)  # a handler, not SIG_IGN: an ignored signal would stay ignored in the trainer
    try:
        proc = subprocess.Popen(cmd)  # stdout and stderr inherited: the launch's log
    except OSError as err:
        print(f"error: cannot start {cmd[0]}: {err.strerror}", file=sys.stderr, flush=True)
        write_status(status_file, 127)  # the shell's "command not found"
        return 0
    write_status(status_file, proc.wait())  # wait() resumes after the handler ran (PEP 475)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
