"""Generate test cases for code problems and keep the problems the rules accept (report §2.3.5).

Per problem, in the report's order: make inputs (a template, a generator program, or one a writer hook
writes) -> run every reference on every input in the sandbox -> judge (`rules.judge_problem`: majority
outputs become the cases, inputs without one are dropped, the problem is kept if enough references pass
them all) -> a kept problem becomes a code-task prompt row. The counts go into a `TestgenReport`.

The model-written path: a `GeneratorWriter` is any callable problem -> generator source (a model prompted
with the statement and `harness.GENERATOR_CONTRACT`, as the report prompts Kimi with CYaRon's notes); the
source runs in the sandbox like a stored {"program": ...} generator. A writer that raises drops the problem.
"""
from __future__ import annotations

import importlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from k15core.curation.testgen.harness import run_generator, run_on_inputs
from k15core.curation.testgen.problems import GeneratedProblem, GeneratorProgram, TestCase, TestgenProblem
from k15core.curation.testgen.rules import DROP_KINDS, TestgenRules, judge_problem
from k15core.curation.testgen.template import GeneratorTemplate, template_inputs
from k15core.errors import K15Error
from k15core.registry import Registry

GeneratorWriter = Callable[[TestgenProblem], str]
"""problem -> the source of a generator program (`harness.GENERATOR_CONTRACT`); e.g. a model's answer."""


@dataclass(frozen=True)
class TestgenConfig:
    """How `generate_tests` runs: inputs per problem, the seed, the per-case time limit, the report's rules."""

    __test__ = False

    cases: int = 50
    """Random inputs asked of each problem's generator (report: 50); a template's fixed inputs come on top."""
    seed: int = 0
    """Seeds every generator: the same seed gives the same inputs."""
    case_seconds: float = 2.0
    """CPU seconds one reference may take on one input (the code task's limit per case); wall clock: 2.5 times that."""
    jobs: int = 1
    """References run at once, each in its own sandbox. The per-case timer is wall-clock time, so more jobs than
    free cores can time out a slow-but-correct reference; keep it at or below the cores you can spare."""
    rules: TestgenRules = field(default_factory=TestgenRules)

    def __post_init__(self):
        if self.cases < 1:
            raise K15Error(f"--cases must be at least 1, got {self.cases}", "e.g. --cases 50 (the report's count)")
        if self.jobs < 1:
            raise K15Error(f"--jobs must be at least 1, got {self.jobs}", "e.g. --jobs 2")
        if not 0 < self.case_seconds <= 60:
            raise K15Error(f"--case-seconds must be above 0 and at most 60, got {self.case_seconds}", "e.g. --case-seconds 2")


@dataclass(frozen=True)
class ProblemOutcome:
    """One problem's line in the report."""

    id: str
    requested: int
    """Inputs asked for (random ones plus a template's fixed ones); the valid-case rule counts against it."""
    generated: int
    no_majority: int
    """Inputs dropped: no output reached the valid share."""
    valid: int
    references: int
    passing: int
    """References that passed every valid case."""
    kept: bool
    reason: str
    """"" when kept, else why (starts with one of rules.DROP_KINDS)."""
    seconds: float


@dataclass
class TestgenReport:
    """What `k15 curate testgen` prints and writes as JSON."""

    __test__ = False

    problems: int = 0
    kept: int = 0
    dropped: int = 0
    inputs_generated: int = 0
    inputs_no_majority: int = 0
    """Inputs dropped because fewer than ceil(valid_share * n) references agreed on an output."""
    cases_kept: int = 0
    """Test cases written (the valid cases of kept problems)."""
    dropped_by_kind: dict[str, int] = field(default_factory=dict)
    outcomes: list[ProblemOutcome] = field(default_factory=list)
    rules: dict = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, outcome: ProblemOutcome) -> None:
        self.outcomes.append(outcome)
        self.problems += 1
        self.inputs_generated += outcome.generated
        self.inputs_no_majority += outcome.no_majority
        if outcome.kept:
            self.kept += 1
            self.cases_kept += outcome.valid
        else:
            self.dropped += 1
            kind = next(k for k in DROP_KINDS if outcome.reason.startswith(k))
            self.dropped_by_kind[kind] = self.dropped_by_kind.get(kind, 0) + 1


@dataclass
class TestgenResult:
    """The kept problems with their test cases, and the report."""

    __test__ = False

    kept: list[GeneratedProblem]
    report: TestgenReport


# How each kind of generator makes its inputs: (generator, problem id, config) -> (inputs, requested).
INPUTS: Registry[Callable] = Registry("test generator")


@INPUTS.register(GeneratorTemplate.__name__)
def _template_inputs(gen: GeneratorTemplate, pid: str, cfg: TestgenConfig) -> tuple[list[str], int]:
    return template_inputs(gen, pid, cfg.cases, cfg.seed), len(gen.fixed) + cfg.cases


@INPUTS.register(GeneratorProgram.__name__)
def _program_inputs(gen: GeneratorProgram, pid: str, cfg: TestgenConfig) -> tuple[list[str], int]:
    return run_generator(gen.source, cfg.cases, cfg.seed), cfg.cases


def _generator_for(problem: TestgenProblem, writer: GeneratorWriter | None):
    """The problem's own generator, else a program the writer writes; ValueError names a drop reason."""
    if problem.generator is not None:
        return problem.generator
    if writer is None:
        raise ValueError("no generator: the problem has none and no writer was given (--writer)")
    try:
        return GeneratorProgram(str(writer(problem)))
    except Exception as err:  # a model hook can fail any way; the problem is dropped, the run goes on
        raise ValueError(f"generator failed: the writer raised {type(err).__name__}: {err}") from None


def _inputs_for(problem: TestgenProblem, cfg: TestgenConfig, writer: GeneratorWriter | None) -> tuple[list[str], int]:
    """(inputs, how many were asked for); ValueError names a drop reason."""
    gen = _generator_for(problem, writer)
    try:
        return INPUTS.get(type(gen).__name__)(gen, problem.id, cfg)
    except ValueError as err:
        raise ValueError(f"generator failed: {err}") from None


def curate_problem(problem: TestgenProblem, cfg: TestgenConfig, writer: GeneratorWriter | None = None) -> tuple[ProblemOutcome, GeneratedProblem | None]:
    """Inputs -> every reference's outputs in the sandbox -> the rules' verdict, for one problem."""
    t0 = time.perf_counter()
    try:
        inputs, requested = _inputs_for(problem, cfg, writer)
    except ValueError as err:
        outcome = ProblemOutcome(problem.id, cfg.cases, 0, 0, 0, len(problem.references), 0, False, str(err), time.perf_counter() - t0)
        return outcome, None
    with ThreadPoolExecutor(cfg.jobs) as pool:  # threads suffice: each waits on its own sandboxed process
        runs = pool.map(lambda ref: run_on_inputs(ref, inputs, cfg.case_seconds), problem.references)
        outputs = [[c.output for c in cases] for cases in runs]  # (n references, cases)
    verdict = judge_problem(outputs, requested, cfg.rules)
    outcome = ProblemOutcome(problem.id, requested, len(inputs), verdict.no_majority, verdict.valid, len(problem.references),
                             sum(verdict.passing), verdict.kept, verdict.reason, time.perf_counter() - t0)
    if not verdict.kept:
        return outcome, None
    tests = tuple(TestCase(text, out + "\n" if out else "") for text, out in zip(inputs, verdict.expected) if out is not None)
    solution = problem.references[verdict.passing.index(True)]
    return outcome, GeneratedProblem(problem, tests, solution)


def generate_tests(problems: list[TestgenProblem], cfg: TestgenConfig = TestgenConfig(), writer: GeneratorWriter | None = None,
                   progress: Callable[[int], object] | None = None) -> TestgenResult:
    """Curate every problem; `progress(1)` after each."""
    t0, report, kept = time.perf_counter(), TestgenReport(rules=vars(cfg.rules).copy()), []
    for problem in problems:
        outcome, generated = curate_problem(problem, cfg, writer)
        report.add(outcome)
        if generated is not None:
            kept.append(generated)
        if progress is not None:
            progress(1)
    report.seconds = time.perf_counter() - t0
    return TestgenResult(kept, report)


def load_writer(dotted: str) -> GeneratorWriter:
    """A writer hook from "package.module:function" (or "package.module.function")."""
    module_name, _, attr = dotted.partition(":") if ":" in dotted else dotted.rpartition(".")
    try:
        writer = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise K15Error(f"cannot load the generator writer {dotted!r} ({err})", "pass --writer package.module:function") from None
    if not callable(writer):
        raise K15Error(f"the generator writer {dotted!r} is not callable", "pass a function: problem -> generator source")
    return writer


def drop_summary(report: TestgenReport) -> str:
    """'2 too few passing references, 1 too few valid cases', in DROP_KINDS order."""
    return ", ".join(f"{n} {kind}" for kind in DROP_KINDS if (n := report.dropped_by_kind.get(kind, 0))) or "none"

