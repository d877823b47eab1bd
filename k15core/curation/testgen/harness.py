"""Run reference solutions and generator programs in the code sandbox (`k15core.sandbox.run_python`).

Departure from the code task's one sandbox run per test case, and why: a sandboxed start costs about
0.1 s, and 10 references x 50 cases would take 50 s per problem. Here one run takes a reference and all its
inputs; a small harness inside the sandbox executes the program once per input, with its stdin on a file
holding the input (descriptor 0 too, for `open(0)`), its stdout in memory, a fresh global namespace and
per-case timers (CPU time, and 2.5 times as much wall-clock time), and prints one marked line per case.
What stays the same: every program runs inside the sandbox with all its layers, and one bad case costs one
case. An exception or exit status is caught by the harness; a hang is stopped by the timers; when the whole
run dies (memory, a timer the program swallowed, the wall clock), the case it died on fails and a new run
starts with the next case. The run's own CPU and wall limits are the per-case ones times the number of
cases (`batch_limits`).

The harness trusts the program not to forge its marked lines: references come from the problem set, and the
sandbox, not the harness, is what contains them. Programs see no site-packages (the sandbox runs `python -I -S`),
so a generator cannot import CYaRon: it uses the standard library (GENERATOR_CONTRACT).
"""
from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, replace

from k15core.sandbox import RunResult, SandboxLimits, run_python
from k15core.tasks.code import canonical_output

HARNESS = r'''
import io, json, os, signal, sys

class CaseTimeout(BaseException):
    """A BaseException, so a program's `except Exception` does not swallow the timer."""

def on_alarm(signum, frame):
    raise CaseTimeout

job = json.loads(sys.stdin.read())
real_out, mark = sys.stdout, job["mark"]
signal.signal(signal.SIGPROF, on_alarm)  # the CPU-time timer: a busy machine does not time out a fast program
signal.signal(signal.SIGALRM, on_alarm)  # the wall-clock timer: a program that sleeps or waits
try:
    code = compile(job["source"], "solution.py", "exec")
except (SyntaxError, ValueError):
    code = None
for text in job["inputs"]:
    status, out = "error", None
    if code is not None:
        buf = io.BytesIO()
        with open("case_input.txt", "w", encoding="utf-8") as f:  # on fd 0 too: programs that read open(0) see it
            f.write(text)
        fd = os.open("case_input.txt", os.O_RDONLY)
        if fd != 0:  # fd is 0 itself when a program closed its stdin (open(0) closes it when collected)
            os.dup2(fd, 0)
            os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = io.TextIOWrapper(buf, encoding="utf-8")
        sys.stderr = io.StringIO()  # a program's debug prints must not fill the run's capped stderr file
        try:
            signal.setitimer(signal.ITIMER_PROF, job["seconds"])
            signal.setitimer(signal.ITIMER_REAL, job["wall"])
            try:
                exec(code, {"__name__": "__main__"})
                status = "ok"
            except SystemExit as e:
                status = "ok" if e.code in (None, 0) else "error"
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CaseTimeout:
            status = "timeout"
        except BaseException:
            status = "error"
        try:
            sys.stdout.flush()
            out = buf.getvalue().decode("utf-8", errors="replace")
        except ValueError:  # the program closed its stdout
            status = "error"
    real_out.write("\n" + mark + json.dumps({"status": status, "out": out}) + "\n")  # "\n" first: after stray output too
    real_out.flush()
'''

GENERATOR_CONTRACT = """A generator program reads one line "SEED COUNT" on stdin and prints a JSON list of COUNT strings,
each one test input (e.g. "3\\n1 2 3\\n"). It may use the standard library only (the sandbox has no CYaRon);
the same SEED must give the same inputs."""


WALL_PER_CPU = 2.5
"""A case's wall-clock limit over its CPU-time limit (the code task's sandbox: 2 s CPU, 5 s wall)."""


@dataclass(frozen=True)
class CaseResult:
    status: str
    """ok, error (exception, non-zero exit), timeout (the per-case timer) or killed (the run died on this case)."""
    output: str | None
    """The canonical output (`canonical_output`) when status is ok, else None."""


def batch_limits(base: SandboxLimits, case_seconds: float, cases: int) -> SandboxLimits:
    """Limits for one run over `cases` inputs: the per-case time times the cases (plus start-up), more output room.

    >>> batch_limits(SandboxLimits(), 2.0, 10).cpu_seconds, batch_limits(SandboxLimits(), 2.0, 10).wall_seconds
    (22, 55.0)
    """
    return replace(base, cpu_seconds=math.ceil(case_seconds * cases) + 2, wall_seconds=case_seconds * WALL_PER_CPU * cases + 5.0,
                   file_mb=max(base.file_mb, 16.0))


def _parse(result: RunResult, mark: str) -> list[CaseResult]:
    """The cases the run reported, in order (a run that died reports only those before it)."""
    cases = []
    for line in result.stdout.splitlines():
        if line.startswith(mark):
            try:
                data = json.loads(line[len(mark):])
                status, out = str(data["status"]), data["out"]
            except (ValueError, KeyError, TypeError):
                break
            cases.append(CaseResult(status, canonical_output(out) if status == "ok" and isinstance(out, str) else None))
    return cases


def run_on_inputs(source: str, inputs: list[str], case_seconds: float = 2.0, base: SandboxLimits = SandboxLimits()) -> list[CaseResult]:
    """Run `source` on each input in the sandbox; one CaseResult per input, in order. Never raises for what the
    program does (K15Error only when no sandbox can be set up)."""
    results: list[CaseResult] = []
    while len(results) < len(inputs):
        rest = inputs[len(results):]
        mark = "@@k15-case-" + secrets.token_hex(8) + "@@"
        job = json.dumps({"source": source, "inputs": rest, "seconds": case_seconds, "wall": case_seconds * WALL_PER_CPU, "mark": mark})
        run = run_python(HARNESS, stdin=job, limits=batch_limits(base, case_seconds, len(rest)))
        done = _parse(run, mark)[: len(rest)]
        results.extend(done)
        if len(done) < len(rest):  # the run died on case len(done): that case fails, the next run starts after it
            results.append(CaseResult("timeout" if run.status == "timeout" else "killed", None))
    return results


def run_generator(source: str, count: int, seed: int, limits: SandboxLimits = SandboxLimits(cpu_seconds=10, wall_seconds=20.0,
                                                                                              file_mb=16.0)) -> list[str]:
    """Run a generator program (GENERATOR_CONTRACT) in the sandbox: its first `count` inputs. ValueError says why
    it gave none (a crash, a timeout, output that is not a JSON list of strings)."""
    run = run_python(source, stdin=f"{seed} {count}\n", limits=limits)
    if not run.ok:
        last = run.stderr.strip().splitlines()[-1:] or [f"exit status {run.returncode}"]
        raise ValueError(f"the generator program ended with {run.status}: {last[0][:200]}")
    try:
        inputs = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise ValueError(f"the generator program did not print a JSON list (it printed {run.stdout[:80]!r})") from None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise ValueError("the generator program must print a non-empty JSON list of input strings")
    return inputs[:count]
