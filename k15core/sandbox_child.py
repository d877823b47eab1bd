"""The inside of the code sandbox: raise the kernel layers, become the program's interpreter, run main.py.

`k15core.sandbox.run_python` starts this file as `python -I -S -B sandbox_child.py CONFIG` (root, or the
calling user) in the run's working directory. It uses the standard library only: it runs as a script, with
`-I` nothing else is importable, and after the root is pivoted nothing else is even visible. What each
layer guarantees is in `k15core.sandbox`'s docstring; this file only does it, in this order:

1. namespaces (`unshare`): pid, mount, network and IPC, inside a new user namespace where root's own
   rights do not suffice (always for a normal user);
2. with a new pid namespace, a fork: the child is pid 1 there, and this process waits and exits as it did;
3. a fresh root (tmpfs): system directories read-only, private /tmp, four device nodes, the work dir;
4. limits (`setrlimit`), then identity: root gives the program the run's own uid, a normal user drops
   the capabilities the user namespace gave it;
5. `PR_SET_NO_NEW_PRIVS`, the parent-death signal, and the seccomp filter (`seccomp_filter`);
6. a report of which layers took (a marshalled dict on the status descriptor), then the Python guard
   unless switched off, then the program.
"""
from __future__ import annotations

import builtins
import ctypes
import marshal
import os
import resource
import _signal as signal  # the C module: `signal` imports enum, milliseconds off every run
import struct
import sys
import types

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET, CLONE_THREAD = 0x20000000, 0x40000000, 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 2, 4, 8, 32, 1024, 2048
MS_BIND, MS_REC, MS_RELATIME, MS_PRIVATE = 4096, 16384, 1 << 21, 1 << 18
MNT_DETACH = 2
STATVFS_TO_MOUNT = {os.ST_RDONLY: MS_RDONLY, os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
                    os.ST_NOATIME: MS_NOATIME, os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 22, 38, 47, 4
SECCOMP_MODE_FILTER = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")

# seccomp (x86_64 numbers; another machine gets no filter and says so). Denied with EPERM: new processes
# and programs, sockets, and the kernel interfaces that reach past the other layers (tracing, namespaces,
# mounts, keys, BPF, io_uring, which would run socket operations the filter never sees).
AUDIT_ARCH_X86_64, X32_BIT = 0xC000003E, 0x40000000
SYSCALLS_X86_64 = {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "socket": 41, "socketpair": 53,
                   "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "unshare": 272, "setns": 308,
                   "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "add_key": 248,
                   "request_key": 249, "keyctl": 250, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
                   "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
                   "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
                   "mount_setattr": 442}
CLONE_X86_64, CLONE3_X86_64 = 56, 435
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
EPERM, ENOSYS = 1, 38
# Config in and report out as marshal data (plain dicts, lists, strings and numbers), not JSON: json imports
# re and enum, about 10 ms of every run. Format 4 reads alike in every Python 3.4 and later.
MARSHAL_VERSION = 4

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def seccomp_filter() -> bytes | None:
    """The BPF program (struct sock_filter[]) or None where there is no syscall table for this machine.
    Threads stay allowed (contest answers raise the recursion limit in a big-stack thread): clone passes
    only with CLONE_THREAD, and clone3, whose flags sit behind a pointer BPF cannot follow, answers ENOSYS
    so that the C library falls back to clone."""
    if os.uname().machine != "x86_64":
        return None
    prog: list[tuple[int, object, object, int]] = [(LD_W_ABS, 0, 0, 4), (JEQ, 1, 0, AUDIT_ARCH_X86_64),
                                                   (RET, 0, 0, RET_KILL_PROCESS), (LD_W_ABS, 0, 0, 0),
                                                   (JGE, "deny", 0, X32_BIT)]  # x32 calls would dodge the table
    prog += [(JEQ, "deny", 0, nr) for nr in SYSCALLS_X86_64.values()]
    prog += [(JEQ, "nosys", 0, CLONE3_X86_64), (JEQ, 0, "allow", CLONE_X86_64),
             (LD_W_ABS, 0, 0, 16), (JSET, "allow", "deny", CLONE_THREAD)]  # args[0], low word: clone's flags
    labels = {"deny": len(prog), "nosys": len(prog) + 1, "allow": len(prog) + 2}
    prog += [(RET, 0, 0, RET_ERRNO | EPERM), (RET, 0, 0, RET_ERRNO | ENOSYS), (RET, 0, 0, RET_ALLOW)]
    jump = lambda i, t: labels[t] - i - 1 if isinstance(t, str) else t  # noqa: E731
    return b"".join(struct.pack("HBBI", code, jump(i, jt), jump(i, jf), k) for i, (code, jt, jf, k) in enumerate(prog))


def _install_seccomp(program: bytes) -> None:
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(Fprog(len(program) // 8, program)), 0, 0), "seccomp")


def _unshare(as_root: bool) -> int:
    """Enter the namespaces the kernel allows, best first. Returns the flags that took (0: none)."""
    full = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
    tries = [full, full | CLONE_NEWUSER, CLONE_NEWNS | CLONE_NEWNET, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUSER,
             CLONE_NEWNET, CLONE_NEWNET | CLONE_NEWUSER]
    uid, gid = os.getuid(), os.getgid()
    for flags in tries if as_root else [f for f in tries if f & CLONE_NEWUSER]:
        if libc.unshare(flags) != 0:
            continue
        if flags & CLONE_NEWUSER:  # root keeps every id (it then switches to the run's uid); a user maps itself
            maps = {"uid_map": "0 0 4294967295", "gid_map": "0 0 4294967295"} if as_root else \
                {"setgroups": "deny", "uid_map": f"{uid} {uid} 1", "gid_map": f"{gid} {gid} 1"}
            for name, text in maps.items():
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        return flags
    return 0


def _bind(source: str, target: str, writable: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    # Keep the source's own flags: in a user namespace they are locked, and a remount that dropped one, even
    # relatime, would be refused. (Mounts below /usr and the like keep theirs, read-only or not.)
    source_flags = os.statvfs(source).f_flag
    kept = sum(ms for st, ms in STATVFS_TO_MOUNT.items() if source_flags & st)
    ours = MS_NOSUID if source in DEVICES else MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    _mount(None, target, None, kept | ours | MS_REMOUNT | MS_BIND)


def _pivot_to_fresh_root(new_root: str, system_paths: list[str], work: str) -> None:
    """Make `new_root` (an empty directory) a tmpfs holding only what the program needs, and make it `/`.
    Everything else of the host (/run and its sockets, /proc, /sys, /home, other runs) is not there at all."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates to the host, nor back
    _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    os.mkdir(new_root + "/tmp")  # first: the work dir, even the interpreter, may live under /tmp
    _mount("tmpfs", new_root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
    prefix = os.path.realpath(sys.base_prefix)  # this interpreter's standard library
    if prefix != "/" and not any(prefix == p or prefix.startswith(p + "/") for p in map(os.path.realpath, system_paths)):
        system_paths = [*system_paths, prefix]
    for path in system_paths:  # a merged-usr link (/bin -> usr/bin) stays a link
        if os.path.islink(path):
            os.symlink(os.readlink(path), new_root + path)
        elif os.path.exists(path):
            _bind(path, new_root + path, writable=False)
    for device in DEVICES:
        _bind(device, new_root + device, writable=True)
    _bind(work, new_root + work, writable=True)
    os.chdir(new_root)
    _check(libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")  # pivot_root(2): new on old
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _set_limits(limits: dict) -> None:
    mb = 1024 * 1024
    for kind, value in ((resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1)),
                        (resource.RLIMIT_AS, (limits["memory_mb"] * mb,) * 2),
                        (resource.RLIMIT_FSIZE, (int(limits["file_mb"] * mb),) * 2),
                        (resource.RLIMIT_NOFILE, (limits["open_files"],) * 2), (resource.RLIMIT_CORE, (0, 0)),
                        (resource.RLIMIT_NPROC, (limits["max_processes"],) * 2)):
        resource.setrlimit(kind, value)


def _drop_identity(run_uid: int | None, in_user_ns: bool) -> None:
    if run_uid is not None:  # root: the run's own uid; all capabilities go with root
        os.setgroups([])
        os.setgid(run_uid)
        os.setuid(run_uid)
    elif in_user_ns:  # a user keeps its uid, but drops the capabilities the new user namespace granted
        header, empty = struct.pack("II", 0x20080522, 0), bytes(24)  # _LINUX_CAPABILITY_VERSION_3, this process
        _check(libc.capset(header, empty), "capset")
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def _install_guard() -> None:
    """The Python guard: an audit hook refusing sockets, new processes, ctypes and writes outside the
    working directory. Defence in depth only: the program can find and disarm it (gc, __code__), so the
    kernel layers never rely on it. Every builtin it uses is bound now, so patching builtins cannot fool it."""
    realpath, fsdecode, sep, root = os.path.realpath, os.fsdecode, os.sep, os.path.realpath(os.getcwd())
    is_a, as_str, any_of, path_types = builtins.isinstance, builtins.str, builtins.any, (str, bytes, os.PathLike)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    no_process = frozenset({"os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                            "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn"})
    path_events = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
                             "os.symlink", "os.truncate", "os.utime", "os.mkfifo", "os.mknod", "shutil.rmtree"})
    no_import = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "mmap", "_xxsubinterpreters"})

    def inside(path: object) -> bool:
        if is_a(path, int):
            return True  # an already-open descriptor (stdout, a file opened inside)
        try:
            real = realpath(fsdecode(path))
        except Exception:
            return False
        return real == root or real.startswith(root + sep)

    def guard(event: str, args: tuple) -> None:
        if event.startswith("socket."):
            raise PermissionError("sandbox: no network")
        if event in no_process:
            raise PermissionError("sandbox: no new processes")
        if event == "import" and as_str(args[0]).split(".")[0] in no_import:
            raise PermissionError(f"sandbox: module {args[0]} is not allowed")
        if event == "open":
            path, mode, flags = args
            writes = (mode is not None and any_of(c in as_str(mode) for c in "wax+")) or (flags or 0) & write_flags
            if writes and not inside(path):
                raise PermissionError("sandbox: writing outside the working directory")
        elif event in path_events:
            for p in args:
                if is_a(p, path_types) and not inside(p):
                    raise PermissionError("sandbox: changing files outside the working directory")

    sys.addaudithook(guard)


def _end_like(status: int) -> None:
    """Exit as a process with wait status `status` did: a death by a signal is re-raised on ourselves."""
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught anyway
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _become_init(status_fd: int) -> int:
    """After unshare(CLONE_NEWPID): fork the namespace's init (pid 1). This process stays outside, waits, and
    ends as the program did; only init returns, with the pipe on which to hand over the program's status.
    The program itself is not pid 1, because the kernel spares pid 1 the signals it has no handler for,
    SIGXCPU and SIGXFSZ of layer 1 included."""
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        return write_end
    os.close(write_end)
    os.close(status_fd)
    _, init_status = os.waitpid(init, 0)
    program_status = os.read(read_end, 4)
    _end_like(struct.unpack("i", program_status)[0] if len(program_status) == 4 else init_status)
    raise AssertionError("unreachable")


def _run_init(program: int, handover: int, config: dict, in_user_ns: bool) -> None:
    """pid 1: wait for the program (pid 2) and hand its status out. When init exits, the kernel kills every
    process left in the namespace; init dies with the process outside (parent-death signal), and the
    program cannot signal it (the kernel ignores, inside the namespace, signals init has no handler for)."""
    os.close(config["status_fd"])
    _drop_identity(config["run_uid"], in_user_ns)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the uid change, which clears it
    _, status = os.waitpid(program, 0)
    os.write(handover, struct.pack("i", status))
    os._exit(0)


def main(config: dict) -> None:
    as_root, refused = config["run_uid"] is not None, []
    flags = _unshare(as_root)
    if not flags & CLONE_NEWPID:
        refused.append("pid namespace" if flags else "namespaces")
    handover = _become_init(config["status_fd"]) if flags & CLONE_NEWPID else None
    private_fs = False
    if flags & CLONE_NEWNS:
        try:
            _pivot_to_fresh_root(config["new_root"], config["system_paths"], config["work"])
            private_fs = True
        except OSError as e:
            refused.append(f"private root ({e})")
    os.chdir(config["work"])
    if handover is not None:
        if (program := os.fork()) != 0:
            _run_init(program, handover, config, bool(flags & CLONE_NEWUSER))
        os.close(handover)
    _set_limits(config["limits"])
    _drop_identity(config["run_uid"], bool(flags & CLONE_NEWUSER))
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    seccomp = False
    if config["seccomp"]:
        try:
            bpf = seccomp_filter()
            if bpf is None:
                raise OSError(0, f"no syscall table for {os.uname().machine}")
            _install_seccomp(bpf)
            seccomp = True
        except OSError as e:
            refused.append(f"seccomp ({e})")
    report = {"pid_namespace": bool(flags & CLONE_NEWPID), "network_isolated": bool(flags & CLONE_NEWNET),
              "private_fs": private_fs, "seccomp": seccomp, "uid": os.getuid(), "refused": refused}
    os.write(config["status_fd"], marshal.dumps(report, MARSHAL_VERSION))
    os.close(config["status_fd"])
    with open("main.py", encoding="utf-8") as f:
        code = compile(f.read(), "main.py", "exec")
    _run_program(code, config["guard"])


def _run_program(code: types.CodeType, guard: bool) -> None:
    """Run main.py as `__main__`, in a module of its own: the one running now holds this file's tools."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
        del sys.modules[name]  # loaded for the setup; importing it again meets the guard
    program = types.ModuleType("__main__")
    program.__file__, program.__builtins__ = "main.py", builtins
    sys.modules["__main__"], sys.argv = program, ["main.py"]
    if guard:
        _install_guard()
    exec(code, program.__dict__)


if __name__ == "__main__":
    main(marshal.loads(bytes.fromhex(sys.argv[1])))
