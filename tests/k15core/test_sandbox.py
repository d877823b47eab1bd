"""The code sandbox contains what a hostile or broken answer does, and the machine is unharmed after.

Each attack runs twice where it makes sense: with every layer (as the code task runs it), and with the
Python guard off, so the kernel layers (limits, identity, namespaces) are shown to hold on their own.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from k15core.sandbox import TOKEN_VAR, SandboxLimits, run_python
from k15core.tasks import CodeTask

FAST = dict(cpu_seconds=1, wall_seconds=2.0)
SUM_TESTS = '[{"input": "2 3\\n", "output": "5\\n"}, {"input": "10 -4\\n", "output": "6\\n"}]'


def live_sandbox_processes() -> list[int]:
    """Pids of processes (not zombies) that carry a sandbox token: anything a run left behind."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if f"{TOKEN_VAR}=".encode() in environ and "State:\tZ" not in status:
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
    """A child that leaves the process group (setsid) and sleeps is found by its token and killed."""
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent done')"
    result = run_python(code, limits=SandboxLimits(guard=False, **FAST))
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
