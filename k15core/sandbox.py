"""Run untrusted Python (a model's answer to a code problem) with limits, and always get control back.

One call, `run_python(code, stdin, limits)`, runs the program in a fresh temporary directory and
returns what it printed, how it ended and why. Containment is layered, so that no single layer has to
be perfect:

1. **Kernel limits** (`setrlimit` in the child before it starts): CPU seconds, address space
   (memory), file size (this also caps stdout/stderr, which go to files, so a program that prints
   forever is stopped by SIGXFSZ rather than filling the parent's memory), open files, no core dumps,
   and a process count.
2. **Identity**: run as root, the child drops to the unprivileged `nobody` user (the kernel does not
   apply the process-count limit to root, and `nobody` cannot write to root's files). It then needs an
   interpreter that `nobody` can execute (`sandbox_python()`); the program only needs the standard
   library. Run as anyone else, the child keeps that user and the process-count limit applies to it.
3. **Namespaces**: the child enters a new, empty network namespace (`unshare(CLONE_NEWNET)`; as a
   non-root user together with a new user namespace) where no interface is up, not even the host's
   loopback, and a private mount namespace whose /tmp, /var/tmp and /dev/shm are fresh tmpfs mounts, so
   a file written to a world-writable directory vanishes with the run. Where the kernel refuses,
   layer 4 still refuses every socket and every write outside the working directory.
4. **A Python guard** (an audit hook installed before the program runs, which the program cannot
   remove): no sockets, no new processes (fork, exec, spawn, system, subprocess), no ctypes, and no
   file created, written, renamed or removed outside the temporary directory.
5. **The parent's clock**: the child runs in its own session; at the wall-clock limit the whole
   process group is killed, then every process still carrying this run's token in its environment
   (one that escaped the group with `setsid`) is killed too, and the directory is removed.

Choice (the report leaves the sandbox open): stdin/stdout test cases run one process per case, so one
crash or hang costs one case and the others still report.
"""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from k15core.errors import K15Error

NOBODY = 65534
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
TOKEN_VAR = "K15_SANDBOX_TOKEN"


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use. The defaults suit short programming-contest answers."""

    cpu_seconds: int = 2  # CPU time of each process; SIGXCPU, then SIGKILL
    wall_seconds: float = 5.0  # real time of the whole run, enforced by the parent
    memory_mb: int = 256  # address space of each process (Python itself takes about 20 MB)
    max_processes: int = 16  # processes of the sandbox user at once (the Python guard forbids any new one)
    file_mb: float = 1.0  # largest file the program may write, stdout and stderr included
    open_files: int = 32
    guard: bool = True  # the Python audit-hook guard (layer 4); off only to test the kernel layers alone


@dataclass(frozen=True)
class RunResult:
    """How a sandboxed run ended. `status` is one of: ok, error (non-zero exit), timeout, killed (by a signal)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    network_isolated: bool  # layer 3 was in place
    private_tmp: bool  # /tmp, /var/tmp and /dev/shm were private to the run

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# Layer 4, run by the sandboxed interpreter before the program. It is source text because it must run
# inside the child; it refers only to builtins and modules it imports itself.
GUARD = r'''
def _install():
    import os, sys
    realpath, fsdecode, sep = os.path.realpath, os.fsdecode, os.sep  # bound now: the program may patch os later
    root = realpath(os.getcwd())
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    no_process = {"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.kill",
                  "os.killpg", "subprocess.Popen", "pty.spawn"}
    path_events = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
                   "os.truncate", "os.utime", "os.mkfifo", "os.mknod", "shutil.rmtree"}
    no_import = {"ctypes", "_ctypes", "_posixsubprocess", "mmap", "_xxsubinterpreters"}

    def inside(path):
        if isinstance(path, int):
            return True  # an already-open descriptor (stdout, a file opened inside)
        try:
            real = realpath(fsdecode(path))
        except Exception:
            return False
        return real == root or real.startswith(root + sep)

    def guard(event, args):
        if event.startswith("socket."):
            raise PermissionError("sandbox: no network")
        if event in no_process:
            raise PermissionError("sandbox: no new processes")
        if event == "import" and str(args[0]).split(".")[0] in no_import:
            raise PermissionError(f"sandbox: module {args[0]} is not allowed")
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any(c in str(mode) for c in "wax+")) or (flags or 0) & write_flags
            if writes and not inside(path):
                raise PermissionError("sandbox: writing outside the working directory")
        elif event in path_events:
            for p in args:
                if isinstance(p, (str, bytes, os.PathLike)) and not inside(p):
                    raise PermissionError("sandbox: changing files outside the working directory")

    sys.addaudithook(guard)  # cannot be removed; the closure is unreachable from the program
    with open("main.py", encoding="utf-8") as f:
        return compile(f.read(), "main.py", "exec")

_code = _install()
del _install
exec(_code, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
'''


# Without the guard: the program as it is. (Run through -c: `python main.py` would look the file up by its
# absolute path, which the private /tmp mount hides; the open working directory still reaches it.)
UNGUARDED = "exec(compile(open('main.py', encoding='utf-8').read(), 'main.py', 'exec'), {'__name__': '__main__'})"


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
    """The interpreter the sandbox runs: this one, unless we are root and `nobody` cannot reach it
    (e.g. a venv under /root), in which case a system Python 3 on the usual paths."""
    if os.geteuid() != 0 or _is_world_executable(Path(sys.executable)):
        return sys.executable
    for candidate in (Path(sys.base_prefix) / "bin" / "python3", Path("/usr/bin/python3"), Path("/usr/local/bin/python3")):
        if candidate.exists() and _is_world_executable(candidate):
            return str(candidate.resolve())
    raise K15Error("the code sandbox needs a Python that the unprivileged user 'nobody' can run, and found none",
                   "install a system Python 3 (e.g. Debian's python3) or run k15 as a non-root user")


def _tmp_mount_targets(python: str) -> tuple[bytes, ...]:
    """The world-writable directories to cover with a private tmpfs: all of them, except one that holds
    the interpreter or its standard library (a checkout under /tmp), which the child must still reach."""
    needed = [os.path.realpath(python), os.path.realpath(sys.base_prefix)]
    return tuple(t.encode() for t in ("/tmp", "/var/tmp", "/dev/shm")
                 if os.path.isdir(t) and not any(n == t or n.startswith(t + "/") for n in needed))


def _isolate(tmp_targets: tuple[bytes, ...]) -> tuple[bool, bool]:
    """Move this (forked child) process into an empty network namespace and, where allowed, a private
    mount namespace whose /tmp, /var/tmp and /dev/shm are fresh, small tmpfs mounts that vanish with it
    (so a write to a world-writable directory lands nowhere). Returns (network isolated, tmp private);
    (False, False) where the kernel refuses namespaces."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False, False
    for flags in (CLONE_NEWNET | CLONE_NEWNS, CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            break
    else:
        return False, False
    if not flags & CLONE_NEWNS or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return True, False
    private = len(tmp_targets) == 3
    for target in tmp_targets:
        private &= libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=16m,mode=1777") == 0
    return True, private


def _enter_sandbox(limits: SandboxLimits, become_nobody: bool, tmp_targets: tuple[bytes, ...], flag_fd: int) -> None:
    """Runs in the forked child (already in its working directory) before exec: namespaces, limits, then
    identity. Order matters: after dropping root we could no longer create namespaces or mount."""
    network, private_tmp = _isolate(tmp_targets)
    os.write(flag_fd, bytes([48 + network, 48 + private_tmp]))
    os.close(flag_fd)
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limits.file_mb * mb), int(limits.file_mb * mb)))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    if become_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


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
    become_nobody = os.geteuid() == 0
    token = uuid.uuid4().hex
    io_dir = Path(tempfile.mkdtemp(prefix="k15-sandbox-io-"))  # the parent's side: stdin/stdout/stderr files
    work = Path(tempfile.mkdtemp(prefix="k15-sandbox-"))  # the program's only writable place
    try:
        (work / "main.py").write_text(code, encoding="utf-8")
        (io_dir / "stdin").write_text(stdin, encoding="utf-8")
        if become_nobody:
            os.chown(work, NOBODY, NOBODY)
            os.chown(work / "main.py", NOBODY, NOBODY)
        argv = [python, "-I", "-S", "-B", "-c", GUARD if limits.guard else UNGUARDED]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8", TOKEN_VAR: token}
        tmp_targets = _tmp_mount_targets(python)
        read_fd, write_fd = os.pipe()
        start = time.monotonic()
        with open(io_dir / "stdin", "rb") as fin, open(io_dir / "stdout", "wb") as fout, open(io_dir / "stderr", "wb") as ferr:
            proc = subprocess.Popen(argv, cwd=work, env=env, stdin=fin, stdout=fout, stderr=ferr, start_new_session=True,
                                    pass_fds=(write_fd,), close_fds=True,
                                    preexec_fn=lambda: _enter_sandbox(limits, become_nobody, tmp_targets, write_fd))
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as flag:
            isolation = flag.read(2)
        network_isolated, private_tmp = isolation[:1] == b"1", isolation[1:2] == b"1"
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
    if timed_out:
        status = "timeout"
    elif returncode == 0:
        status = "ok"
    elif returncode < 0:
        status = "killed"
    else:
        status = "error"
    return RunResult(status=status, returncode=None if timed_out else returncode, stdout=stdout, stderr=stderr,
                     wall_s=wall, network_isolated=network_isolated, private_tmp=private_tmp)
