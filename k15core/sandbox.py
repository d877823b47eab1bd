"""Run untrusted Python (a model's answer to a code problem) with limits, and always get control back.

One call, `run_python(code, stdin, limits)`, runs the program in a fresh temporary directory and returns
what it printed, how it ended and why. The kernel contains the program; the Python guard on top only turns
the common attempts into clear errors. `k15core.sandbox_child` raises the layers inside the child; this
module prepares the run, keeps the clock and cleans up. Each layer, and what it guarantees:

1. **Limits** (`setrlimit`): CPU seconds, address space, file size (stdout/stderr are files, so endless
   output ends in SIGXFSZ), open files, no core dumps, a process count. Root and user alike.
2. **Its own pid namespace** (`unshare`; a user needs a user namespace too, root does not): the program is
   pid 1 of a namespace holding only its own processes, so it cannot see, signal (`kill -1`, pidfds) or
   trace other runs or any host process, and when it ends the kernel kills whatever it left behind.
3. **A fresh root** (mount namespace + `pivot_root`): `/` is a small read-only tmpfs holding read-only
   binds of /usr, /lib*, /bin, /sbin and the interpreter's prefix, /dev/null, zero, random, urandom, a
   private 16 MB /tmp, and the working directory, the one writable host path. Host paths outside it do not
   exist for the program: /run (its lock directory, its Unix sockets), /proc (other runs' environments,
   /proc/self/mem), /sys, /home, /etc. Because the kernel resolves every path in this tree, no trick of
   the call (`dir_fd`, symlinks, raw syscalls) reaches further. Root and user alike.
4. **An empty network and IPC namespace**: no interface, not even loopback; the host's abstract Unix
   sockets belong to its network namespace, its SysV IPC to its IPC namespace.
5. **Identity**: as root, the program runs as a uid of its own (`RUN_UID_BASE` + a random 24-bit number)
   with no groups and no capabilities, owning only its working directory; runs cannot signal each other
   even without layer 2, and the process count of layer 1 is per run. As a normal user it keeps that
   user's uid, without the capabilities the user namespace granted; separation from that user's other
   processes then rests on layer 2.
6. **`no_new_privs` and a seccomp filter** (x86_64): no fork, vfork, clone other than a thread, execve,
   socket, socketpair, ptrace, namespace, mount, keyring, BPF or io_uring call; the kernel answers EPERM
   even when the program calls them through ctypes or raw syscalls. Threads still work. Root and user.
7. **The Python guard** (an audit hook): no sockets, new processes, ctypes, or writes outside the working
   directory, with a `PermissionError: sandbox: ...` the program's author can read. Defence in depth only:
   the program can find and disarm it (`gc`, `__code__`), so nothing above relies on it.
8. **The parent's clock**: at the wall-clock limit the process group is killed, then every process still
   carrying this run's token; the pid namespace's init dies with its parent (parent-death signal), and
   with it the whole namespace. The directories are removed.

Where the kernel refuses a layer, the run goes on with the others and `RunResult.refused` says which and why;
the flags (`pid_namespace`, `private_fs`, `network_isolated`, `seccomp`) say what was in place.

Choice (the report leaves the sandbox open): stdin/stdout test cases run one process per case, so one
crash or hang costs one case and the others still report.
"""
from __future__ import annotations

import marshal
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from k15core.errors import K15Error
from k15core.sandbox_child import MARSHAL_VERSION

CHILD = Path(__file__).with_name("sandbox_child.py")
RUN_UID_BASE = 1_500_000_000  # far above login users and the usual /etc/subuid ranges (100000 + 65536 per user)
# Shown read-only inside (with the interpreter's own prefix, where that lies elsewhere, e.g. under /opt)
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache")
TOKEN_VAR = "K15_SANDBOX_TOKEN"


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use. The defaults suit short programming-contest answers."""

    cpu_seconds: int = 2  # CPU time of each process; SIGXCPU, then SIGKILL
    wall_seconds: float = 5.0  # real time of the whole run, enforced by the parent
    memory_mb: int = 256  # address space of each process (Python itself takes about 20 MB)
    max_processes: int = 16  # processes and threads of the run at once (seccomp forbids new processes)
    file_mb: float = 1.0  # largest file the program may write, stdout and stderr included
    open_files: int = 32
    guard: bool = True  # the Python audit-hook guard (layer 7); off only to test the kernel layers alone
    seccomp: bool = True  # the system-call filter (layer 6); off only to test the layers beneath it


@dataclass(frozen=True)
class RunResult:
    """How a sandboxed run ended. `status` is one of: ok, error (non-zero exit), timeout, killed (by a signal)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    network_isolated: bool = False  # layer 4 was in place
    private_tmp: bool = False  # /tmp was private to the run (it is whenever private_fs is)
    pid_namespace: bool = False  # layer 2
    private_fs: bool = False  # layer 3: the fresh root
    seccomp: bool = False  # layer 6
    uid: int | None = None  # the uid the program ran as (in its user namespace, if it had one)
    refused: tuple[str, ...] = field(default_factory=tuple)  # layers the kernel refused, and why

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _is_world_executable(path: Path) -> bool:
    """Whether a user with no special rights can run `path`: every directory on the way is searchable."""
    path = path.resolve()
    try:
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


@lru_cache(maxsize=1)
def sandbox_python() -> str:
    """The interpreter the sandbox runs: this one, unless we are root and an unprivileged user (the run's
    own uid) cannot reach it (e.g. a venv under /root), in which case a system Python 3 on the usual paths.
    The fresh root would show a prefix under /root to the run anyway, but not where the kernel refuses it."""
    if os.geteuid() != 0 or _is_world_executable(Path(sys.executable)):
        return sys.executable
    for candidate in (Path(sys.base_prefix) / "bin" / "python3", Path("/usr/bin/python3"), Path("/usr/local/bin/python3")):
        if candidate.exists() and _is_world_executable(candidate):
            return str(candidate.resolve())
    raise K15Error("the code sandbox needs a Python that an unprivileged user can run, and found none",
                   "install a system Python 3 (e.g. Debian's python3) or run k15 as a non-root user")


def _processes_with_token(token: str) -> list[int]:
    """Pids whose environment carries `token` (our run's children, even ones that left the process group)."""
    needle = f"{TOKEN_VAR}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:  # gone already, or not ours to read
            continue
    return pids


def _kill_everything(proc: subprocess.Popen, token: str) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(3):  # a fork bomb may still be forking while we sweep
        pids = _processes_with_token(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _read_capped(path: Path, limit: int) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", errors="replace")


def run_python(code: str, stdin: str = "", limits: SandboxLimits = SandboxLimits()) -> RunResult:
    """Run `code` as a Python program with `stdin`, contained as the module docstring says. Never raises
    for anything the program does; raises K15Error only when no sandbox can be set up at all."""
    python = sandbox_python()
    run_uid = RUN_UID_BASE + secrets.randbits(24) if os.geteuid() == 0 else None
    token = f"{os.getpid()}-{uuid.uuid4().hex}"  # which process ran it: test runs in parallel tell theirs apart
    io_dir = Path(tempfile.mkdtemp(prefix="k15-sandbox-io-"))  # the parent's side: stdin/stdout/stderr files
    work = Path(tempfile.mkdtemp(prefix="k15-sandbox-"))  # the program's only writable place
    try:
        (work / "main.py").write_text(code, encoding="utf-8")
        (io_dir / "stdin").write_text(stdin, encoding="utf-8")
        (io_dir / "root").mkdir()  # where the child mounts its fresh root, in its own mount namespace
        if run_uid is not None:
            os.chown(work, run_uid, run_uid)
            os.chown(work / "main.py", run_uid, run_uid)
        read_fd, write_fd = os.pipe()
        config = {"run_uid": run_uid, "work": str(work.resolve()), "new_root": str(io_dir / "root"),
                  "system_paths": SYSTEM_PATHS, "limits": asdict(limits), "guard": limits.guard,
                  "seccomp": limits.seccomp, "status_fd": write_fd}
        argv = [python, "-I", "-S", "-B", str(CHILD), marshal.dumps(config, MARSHAL_VERSION).hex()]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8", TOKEN_VAR: token}
        start = time.monotonic()
        with open(io_dir / "stdin", "rb") as fin, open(io_dir / "stdout", "wb") as fout, open(io_dir / "stderr", "wb") as ferr:
            proc = subprocess.Popen(argv, cwd=work, env=env, stdin=fin, stdout=fout, stderr=ferr,
                                    start_new_session=True, pass_fds=(write_fd,), close_fds=True)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as status:
            report = status.read()  # written once the layers are up, just before the program starts
        try:
            returncode = proc.wait(timeout=limits.wall_seconds)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_everything(proc, token)  # also on a normal exit: children it left behind
        if timed_out:
            returncode = proc.wait()
        wall = time.monotonic() - start
        cap = int(limits.file_mb * 1024 * 1024)
        stdout, stderr = _read_capped(io_dir / "stdout", cap), _read_capped(io_dir / "stderr", cap)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(io_dir, ignore_errors=True)
    if not report:
        raise K15Error(f"the code sandbox could not be set up: {stderr.strip()[-500:]}",
                       "run k15 where Python can create namespaces, or report this error")
    layers = marshal.loads(report)
    if timed_out:
        status = "timeout"
    elif returncode == 0:
        status = "ok"
    elif returncode < 0:
        status = "killed"
    else:
        status = "error"
    return RunResult(status=status, returncode=None if timed_out else returncode, stdout=stdout, stderr=stderr,
                     wall_s=wall, network_isolated=layers["network_isolated"], private_tmp=layers["private_fs"],
                     pid_namespace=layers["pid_namespace"], private_fs=layers["private_fs"],
                     seccomp=layers["seccomp"], uid=layers["uid"], refused=tuple(layers["refused"]))
