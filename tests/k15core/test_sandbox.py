"""The code sandbox contains what a hostile or broken answer does, and the machine is unharmed after.

Each attack runs twice where it makes sense: with every layer (as the code task runs it), and with the
Python guard off, so the kernel layers (limits, identity, namespaces) are shown to hold on their own.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from k15core.sandbox import TOKEN_VAR, SandboxLimits, run_python
from k15core.tasks import CodeTask

FAST = dict(cpu_seconds=1, wall_seconds=2.0)
SUM_TESTS = '[{"input": "2 3\\n", "output": "5\\n"}, {"input": "10 -4\\n", "output": "6\\n"}]'


def live_sandbox_processes() -> list[int]:
    """Pids of processes (not zombies) that carry a sandbox token of this test process: anything its runs left
    behind (another process's sandbox runs, e.g. a parallel test worker's, carry its pid in their token)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if f"{TOKEN_VAR}={os.getpid()}-".encode() in environ and "State:\tZ" not in status:
            pids.append(int(entry))
    return pids


def assert_machine_unharmed():
    deadline = time.monotonic() + 5
    while live_sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_sandbox_processes() == []
    healthy = run_python("print(sum(map(int, input().split())))", stdin="20 22\n")
    assert healthy.ok and healthy.stdout == "42\n", healthy


@pytest.fixture(params=[True, False], ids=["all-layers", "kernel-only"])
def guard(request):
    return request.param


def test_a_normal_program_reads_input_and_writes_its_own_files():
    result = run_python("open('scratch.txt', 'w').write(input()[::-1])\nprint(open('scratch.txt').read())", stdin="abc\n")
    assert result.ok and result.stdout == "cba\n"


def test_infinite_loop_is_stopped_by_the_cpu_limit(guard):
    result = run_python("while True:\n    pass", limits=SandboxLimits(guard=guard, **FAST))
    assert not result.ok and result.status in ("killed", "timeout")
    assert result.wall_s < FAST["wall_seconds"] + 1.5
    assert_machine_unharmed()


def test_sleeping_forever_is_stopped_by_the_wall_clock(guard):
    result = run_python("import time\ntime.sleep(60)", limits=SandboxLimits(guard=guard, **FAST))
    assert result.status == "timeout" and result.wall_s < FAST["wall_seconds"] + 1.5
    assert_machine_unharmed()


def test_fork_bomb_is_contained(guard):
    result = run_python("import os\nwhile True:\n    os.fork()", limits=SandboxLimits(guard=guard, max_processes=8, **FAST))
    assert not result.ok
    assert_machine_unharmed()


def test_escaped_child_is_killed_too():
    """A child that leaves the process group (setsid) and sleeps dies with the run's pid namespace (or is
    found by its token and killed). Seccomp off too: with it, the fork itself is refused (next test)."""
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent done')"
    result = run_python(code, limits=SandboxLimits(guard=False, seccomp=False, **FAST))
    assert result.ok and "parent done" in result.stdout
    assert_machine_unharmed()


def test_large_allocation_fails_inside(guard):
    result = run_python("x = bytearray(4 * 1024 ** 3)\nprint('allocated')", limits=SandboxLimits(guard=guard, memory_mb=256, **FAST))
    assert not result.ok and "allocated" not in result.stdout and "MemoryError" in result.stderr
    assert_machine_unharmed()


def test_endless_output_is_cut_at_the_file_size_limit(guard):
    result = run_python("while True:\n    print('x' * 1000)", limits=SandboxLimits(guard=guard, file_mb=0.1, **FAST))
    assert not result.ok and len(result.stdout) <= 0.1 * 1024 * 1024
    assert_machine_unharmed()


def test_write_outside_the_working_directory_lands_nowhere(guard, tmp_path):
    outside = [Path("/tmp") / f"k15-escape-{os.getpid()}.txt", tmp_path / "escape.txt"]
    for path in outside:
        code = f"open({str(path)!r}, 'w').write('escaped')"
        run_python(code, limits=SandboxLimits(guard=guard, **FAST))
        assert not path.exists(), f"the sandbox wrote {path}"
    assert_machine_unharmed()


def test_network_call_reaches_nothing(guard):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'hello')\nprint('connected')"
        result = run_python(code, limits=SandboxLimits(guard=guard, **FAST))
        with pytest.raises(OSError):  # socket.timeout is an OSError: nobody knocked
            server.accept()
    finally:
        server.close()
    assert not result.ok and "connected" not in result.stdout
    if not guard and not result.network_isolated:
        pytest.skip("this kernel refuses network namespaces; only the Python guard blocks sockets here")
    assert_machine_unharmed()


def test_guard_blocks_subprocesses_and_ctypes():
    for code in ("import subprocess\nsubprocess.run(['true'])", "import ctypes", "import os\nos.system('true')"):
        result = run_python(code, limits=SandboxLimits(**FAST))
        assert result.status == "error" and "PermissionError: sandbox" in result.stderr, (code, result.stderr)


def test_code_task_scores_contained_attacks_zero():
    task = CodeTask()
    solution = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    assert task.verify(solution, SUM_TESTS) == 1.0
    for attack in ("import os\nwhile True: os.fork()", "while True: pass", "x = bytearray(8 * 1024 ** 3)",
                   "open('/tmp/k15-attack.txt', 'w').write('x')\nprint(5)", "import socket\nsocket.create_connection(('1.1.1.1', 80))"):
        assert task.verify(f"```python\n{attack}\n```", SUM_TESTS) == 0.0
    assert not Path("/tmp/k15-attack.txt").exists()
    assert_machine_unharmed()


# Issue 20: escapes that disarm or slip past the Python guard. Each runs with every layer, with the guard off,
# and with the namespaces alone (guard and seccomp off); each set must hold on its own, and the host is checked
# afterwards, not the program's word for it. A failure message carries the RunResult: its `refused` names any
# layer the kernel refused on that machine.

@pytest.fixture(params=[{}, {"guard": False}, {"guard": False, "seccomp": False}],
                ids=["all-layers", "kernel-only", "namespaces-only"])
def layers(request):
    return request.param


@pytest.fixture
def host_dir():
    """A world-writable directory on the host outside /tmp (as /run/lock is), which the old sandbox's
    user could reach and write; the sandbox must not be able to touch it."""
    path = Path("/run/lock") / f"k15-sandbox-test-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    path.chmod(0o1777)
    yield path
    for child in path.iterdir():
        child.unlink() if not child.is_dir() else child.rmdir()
    path.rmdir()


DISARM = """
import gc
for f in gc.get_objects():  # find the audit hook and swap in a body that allows everything
    if type(f).__name__ == "function" and f.__name__ == "guard":
        names = f.__code__.co_freevars
        src = "def outer():\\n" + "".join(f"    {n} = None\\n" for n in names)
        src += "    def guard(event, args):\\n        " + (", ".join(names) or "pass") + "\\n    return guard\\n"
        ns = {}
        exec(src, ns)
        f.__code__ = ns["outer"]().__code__
        print("disarmed")
"""


def test_disarmed_guard_still_gives_no_shell_no_ctypes_and_no_host_socket(layers, host_dir):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(host_dir / "sock"))
    (host_dir / "sock").chmod(0o777)
    server.listen()
    server.settimeout(0.2)
    code = DISARM + f"""
import os
D = {str(host_dir)!r}
for attempt in ("os.system(f'touch {{D}}/system')",
                "import ctypes; ctypes.CDLL(None).mkdir(f'{{D}}/ctypes'.encode(), 0o777)",
                "import socket; s = socket.socket(socket.AF_UNIX); s.connect(f'{{D}}/sock'); s.sendall(b'x')"):
    try:
        exec(attempt)
    except Exception as e:
        print('refused', attempt, repr(e))
"""
    try:
        result = run_python(code, limits=SandboxLimits(**layers, **FAST))
        with pytest.raises(OSError):  # nobody connected to the host's socket
            server.accept()
    finally:
        server.close()
    assert not (host_dir / "system").exists() and not (host_dir / "ctypes").exists(), result
    assert_machine_unharmed()


def test_dir_fd_open_cannot_write_outside(layers, host_dir):
    code = f"""
import os
d = os.open({str(host_dir)!r}, os.O_RDONLY)
os.write(os.open('escape', os.O_WRONLY | os.O_CREAT, 0o666, dir_fd=d), b'escaped')
"""
    result = run_python(code, limits=SandboxLimits(**layers, **FAST))
    assert not result.ok and not (host_dir / "escape").exists(), result
    assert_machine_unharmed()


def test_proc_self_mem_cannot_be_opened_for_writing(layers):
    code = "import os\nd = os.open('/proc/self', os.O_RDONLY)\nos.open('mem', os.O_RDWR, dir_fd=d)\nprint('opened')"
    result = run_python(code, limits=SandboxLimits(**layers, **FAST))
    assert not result.ok and "opened" not in result.stdout, result
    assert_machine_unharmed()


def test_tampered_isinstance_cannot_write_outside(layers, host_dir):
    code = f"import builtins\nbuiltins.isinstance = lambda obj, cls: True\nopen({str(host_dir / 'tampered')!r}, 'w').write('x')"
    result = run_python(code, limits=SandboxLimits(**layers, **FAST))
    assert not result.ok and not (host_dir / "tampered").exists(), result
    assert_machine_unharmed()


ATTACK_OTHERS = """
import os, signal
me, seen = os.getpid(), []
try:
    pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
except OSError:
    pids = []
for pid in pids:
    try:
        env = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError:
        continue
    if pid != me and b'K15_SANDBOX_TOKEN' in env:
        print('read', pid, env)
        try:
            signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)
            print('killed', pid)
        except Exception as e:
            print('refused', pid, repr(e))
try:
    os.kill(-1, signal.SIGKILL)  # everything this user may signal
except Exception as e:
    print('kill -1 refused', repr(e))
"""


def test_sandboxes_cannot_see_or_signal_each_other(layers):
    """A victim run waits (no fixed sleep) until the attacker has finished; the host then lets it go."""
    victim_code = ("import os, time\nprint(os.environ['K15_SANDBOX_TOKEN'], flush=True)\n"
                   "while not os.path.exists('go'):\n    time.sleep(0.005)\nprint('alive')")
    results = {}
    victim = threading.Thread(target=lambda: results.setdefault("victim", run_python(victim_code, limits=SandboxLimits(**layers, **FAST))))
    victim.start()
    deadline = time.monotonic() + 2
    while not live_sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.01)
    attacker = run_python(ATTACK_OTHERS, limits=SandboxLimits(**layers, **FAST))
    for pid in live_sandbox_processes():  # the victim's working directory, seen from the host
        try:
            (Path(f"/proc/{pid}/cwd") / "go").touch()
        except OSError:
            pass
    victim.join()
    survivor = results["victim"]
    assert survivor.ok and survivor.stdout.endswith("alive\n"), (survivor, attacker)
    token = survivor.stdout.split()[0]
    assert token not in attacker.stdout and "killed" not in attacker.stdout, attacker
    if os.geteuid() == 0:  # each run its own uid, so no signal passes even where pid namespaces are refused
        assert survivor.uid != attacker.uid and survivor.uid not in (0, 65534), (survivor, attacker)
    assert_machine_unharmed()


def test_every_kernel_layer_is_in_place_or_says_why():
    result = run_python("print('hi')")
    assert result.ok and result.stdout == "hi\n"
    for layer, word in (("pid_namespace", "namespace"), ("private_fs", "root"), ("network_isolated", "namespace"),
                        ("seccomp", "seccomp")):
        assert getattr(result, layer) or any(word in r for r in result.refused), (layer, result)
    assert all((result.pid_namespace, result.private_fs, result.network_isolated, result.seccomp)), \
        f"a kernel layer was refused on this machine: {result.refused}"  # CI runs where all of them hold


def test_seccomp_refuses_processes_and_sockets_even_through_raw_syscalls():
    code = """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
print('fork', libc.syscall(57), ctypes.get_errno())  # SYS_fork on x86_64
print('execve', libc.execve(b'/usr/bin/true', None, None), ctypes.get_errno())
print('socket', libc.socket(1, 1, 0), ctypes.get_errno())  # AF_UNIX, SOCK_STREAM
"""
    result = run_python(code, limits=SandboxLimits(guard=False, **FAST))
    if not result.seccomp:
        assert any("seccomp" in r for r in result.refused), result
        pytest.fail(f"seccomp refused here: {result.refused}")
    assert result.stdout.split("\n")[:3] == ["fork -1 1", "execve -1 1", "socket -1 1"], result  # EPERM
    assert_machine_unharmed()


def test_threads_still_work():
    """Contest answers often run main() in a thread with a big stack for deep recursion."""
    code = """
import sys, threading
sys.setrecursionlimit(100000)
threading.stack_size(64 * 1024 * 1024)
def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)
t = threading.Thread(target=lambda: print(depth(20000)))
t.start()
t.join()
"""
    result = run_python(code, limits=SandboxLimits(guard=False, memory_mb=512, **FAST))
    assert result.ok and result.stdout == "20000\n", result


def test_fork_bomb_is_contained_by_the_namespaces_alone():
    result = run_python("import os\nwhile True:\n    os.fork()", limits=SandboxLimits(guard=False, seccomp=False, max_processes=8, **FAST))
    assert not result.ok
    assert_machine_unharmed()
