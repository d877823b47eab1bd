"""Run curation over the prompts in the store and write the results as label events (source "auto").

- Resumable: a prompt that already has the automatic label is skipped (unless `redo`), and labels are
  written after every chunk, so an interrupted run keeps what it finished and a rerun does only the rest.
- Idempotent: `Store.set_label` writes only changes, so rerunning with `redo` and the same seed writes nothing new.
- A person's label wins: a field whose latest event came from a person (any source but "auto") is
  never overwritten by curation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from k15core import labels as L
from k15core.curation.difficulty import difficulty_from_pass_rate, pass_rate
from k15core.curation.dedup import find_duplicates
from k15core.curation.formats import format_issue
from k15core.curation.image_dedup import dedup_groups
from k15core.curation.hackable import is_easy_to_hack
from k15core.tasks import TASKS
from k15core.tasks.problem import Problem

AUTO = "auto"
SampleFn = Callable[[list[Problem], int, str], list[list[str]]]
"""(problems, n, forced response prefix) -> n response texts per problem."""


@dataclass
class CurationReport:
    prompts: int = 0
    """Prompts looked at (skipped ones included)."""
    curated: int = 0
    """Prompts sampled and scored in this run."""
    skipped: int = 0
    """Prompts that already had the automatic label (rerun with redo to score them again)."""
    events: int = 0
    """Label events written."""
    kept_human: int = 0
    """Fields left alone because a person had set them."""
    flagged: int = 0
    """hackable: prompts flagged easy to hack."""
    histogram: dict[int, int] = field(default_factory=dict)
    """difficulty: prompts per difficulty level."""
    seconds: float = 0.0


def store_problems(store, task_name: str | None = None) -> list[Problem]:
    """The store's prompts as problems, with labelled references and difficulties applied (`labels.overlay`, as the
    trainer does: a corrected answer is the one scored)."""
    states = store.prompt_labels()
    out = []
    for p in store.prompts():
        if task_name and p["task"] != task_name:
            continue
        task_problem = Problem(id=p["id"], prompt=p["text"], reference=p["reference"], difficulty=p["difficulty"], task=p["task"],
                               images=tuple(p["images"]))
        out.append(L.overlay(task_problem, states.get(p["id"], L.DEFAULT)))
    return out


CHAT_INSTRUCTION = "\nGive the final answer on its own line after 'Answer:'."


def hf_sampler(model, tokenizer, *, temperature: float, max_new_tokens: int, batch_size: int = 64, seed: int = 0,
               chat: bool | None = None, encode=None) -> SampleFn:
    """Sample with the Hugging Face engine (temperature sampling, no top-k).

    `chat` (default: whenever the tokenizer has a chat template) wraps each prompt as a user turn of
    the model's chat template, with an instruction to end on "Answer: ...", so an instruct model
    (SmolLM2) answers in a form the verifiers read. The tiny model has no template: raw prompts.
    `encode` (a vision-language model's `vlm.inputs.ImagePromptEncoder`) encodes each problem with its
    pictures instead, as the trainer's rollouts do; it then owns the template too.
    """
    from k15core.prompting import render_prompt, uses_chat_template
    from k15core.rollout.hf import generate

    use_chat = uses_chat_template(tokenizer) if chat is None else chat

    def as_prompt(p: Problem) -> str:
        return render_prompt(tokenizer, p.prompt, CHAT_INSTRUCTION) if use_chat else p.prompt

    def sample(problems: list[Problem], n: int, prefix: str) -> list[list[str]]:
        texts = [p.prompt if encode is not None else as_prompt(p) for p in problems]  # an encoder's ids replace the texts
        gens = generate(model, tokenizer, texts, k=n, max_new_tokens=max_new_tokens, temperature=temperature,
                        prefixes=[prefix] * len(problems) if prefix else None, batch_size=batch_size, seed=seed,
                        encoded=[encode(p) for p in problems] if encode is not None else None)
        out: list[list[str]] = [[] for _ in problems]
        for g in gens:
            out[g.prompt_index].append(g.text)
        return out

    return sample


def _latest_sources(store, ids: list[str]) -> dict[tuple[str, str], str]:
    """(prompt, canonical field) -> source of its latest event."""
    latest = {}
    for ev in store.label_events(prompt_ids=ids):
        try:
            fld, _ = L.normalise(ev["field"], None)
        except ValueError:
            continue
        latest[ev["prompt_id"], fld] = ev["source"]
    return latest


def _write(store, report: CurationReport, latest, pid: str, fld: str, value, author: str) -> None:
    if latest.get((pid, fld), AUTO) != AUTO:
        report.kept_human += 1
        return
    report.events += store.set_label(pid, fld, value, author=author, source=AUTO).events


def _to_curate(store, problems: list[Problem], marker: str, redo: bool, report: CurationReport) -> list[Problem]:
    """The problems still without an automatic `marker` label (all of them with `redo`); counts the rest as skipped."""
    done = {pid for (pid, fld), src in _latest_sources(store, [p.id for p in problems]).items() if fld == marker and src == AUTO}
    todo = [p for p in problems if redo or p.id not in done]
    report.skipped = len(problems) - len(todo)
    return todo


def _record_verdict(store, report: CurationReport, latest, pid: str, fld: str, value, flagged: bool, policy: str, author: str) -> None:
    """Write one prompt's verdict; a flagged prompt is counted and, with policy "exclude", excluded too."""
    _write(store, report, latest, pid, fld, value, author)
    if flagged:
        report.flagged += 1
        if policy == "exclude":
            _write(store, report, latest, pid, "status", "excluded", author)
    report.curated += 1


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def curate_difficulty(store, problems: list[Problem], sample: SampleFn, *, n: int = 10, redo: bool = False, chunk: int = 32,
                      author: str = "k15 curate", progress=None) -> CurationReport:
    """Sample n answers per prompt, score them with the prompt's verifier, and label pass_rate and difficulty."""
    t0, report = time.perf_counter(), CurationReport(prompts=len(problems))
    todo = _to_curate(store, problems, "pass_rate", redo, report)
    for part in _chunks(todo, chunk):
        answers = sample(part, n, "")
        latest = _latest_sources(store, [p.id for p in part])
        for p, texts in zip(part, answers):
            task = TASKS.get(p.task)()
            rate = pass_rate([task.verify(t, p.reference) for t in texts])
            level = difficulty_from_pass_rate(rate)
            _write(store, report, latest, p.id, "pass_rate", rate, author)
            _write(store, report, latest, p.id, "difficulty", level, author)
            report.histogram[level] = report.histogram.get(level, 0) + 1
            report.curated += 1
        if progress is not None:
            progress(len(part))
    report.seconds = time.perf_counter() - t0
    return report


def curate_formats(store, problems: list[Problem], *, policy: str = "flag", author: str = "k15 curate", progress=None) -> CurationReport:
    """Flag prompts whose answer format a verifier cannot check (multiple choice, true/false, proof, free text)
    with the reason (label `format_issue`); policy "exclude" also excludes them. No model is needed, so every
    prompt is checked each run; unchanged results write nothing. Prompts of tasks that do not compare a final
    answer (code: test cases; gym: the generator's own scorer) pass: their references are not answers."""
    from k15core.tasks import compares_final_answer

    if policy not in ("flag", "exclude"):
        raise ValueError(f"policy must be 'flag' or 'exclude', got {policy!r}")
    t0, report = time.perf_counter(), CurationReport(prompts=len(problems))
    for part in _chunks(problems, 256):
        latest = _latest_sources(store, [p.id for p in part])
        for p in part:
            reason = format_issue(p.prompt, p.reference) if compares_final_answer(p.task) else None
            _record_verdict(store, report, latest, p.id, "format_issue", reason, bool(reason), policy, author)
        if progress is not None:
            progress(len(part))
    report.seconds = time.perf_counter() - t0
    return report


def curate_duplicates(store, problems: list[Problem], *, threshold: float = 0.8, policy: str = "flag", author: str = "k15 curate",
                      progress=None, images=None) -> CurationReport:
    """Label every later copy of a prompt `duplicate_of` the first one (exact or near; k15core.curation.dedup),
    so the studio shows each kept/dropped pair; policy "exclude" also excludes the copies. A prompt that is
    no longer a duplicate (its twin was edited or removed) gets its label reset. Image prompts are copies only when
    their images are near-duplicates too (perceptual hash, k15core.curation.image_dedup), read from `images` (the
    workspace's image store)."""
    if policy not in ("flag", "exclude"):
        raise ValueError(f"policy must be 'flag' or 'exclude', got {policy!r}")
    t0, report = time.perf_counter(), CurationReport(prompts=len(problems))
    ordered = sorted(problems, key=lambda p: p.id)
    groups: dict[str, list[Problem]] = {}
    keys = dedup_groups(ordered, images)
    for p in ordered:
        groups.setdefault(keys[p.id], []).append(p)
    found = {d.dropped: d for members in groups.values() for d in find_duplicates([(p.id, p.prompt) for p in members], threshold=threshold)}
    for part in _chunks(ordered, 256):
        latest = _latest_sources(store, [p.id for p in part])
        for p in part:
            d = found.get(p.id)
            _record_verdict(store, report, latest, p.id, "duplicate_of", {"of": d.kept, "similarity": d.similarity, "kind": d.kind} if d else None, d is not None, policy, author)
        if progress is not None:
            progress(len(part))
    report.seconds = time.perf_counter() - t0
    return report


def curate_hackable(store, problems: list[Problem], sample: SampleFn, *, n: int = 8, policy: str = "flag", redo: bool = False,
                    chunk: int = 32, author: str = "k15 curate", progress=None, min_correct: int = 1) -> CurationReport:
    """Ask for the bare answer n times (the task's shortest style, no reasoning); `min_correct` correct guesses
    (default 1: any, as in the report) flag the prompt `hackable` (policy "flag"), and with policy "exclude"
    also exclude it."""
    if policy not in ("flag", "exclude"):
        raise ValueError(f"policy must be 'flag' or 'exclude', got {policy!r}")
    if not 1 <= min_correct <= n:
        raise ValueError(f"min_correct must be between 1 and n = {n}, got {min_correct}")
    t0, report = time.perf_counter(), CurationReport(prompts=len(problems))
    todo = _to_curate(store, problems, "hackable", redo, report)
    by_prefix: dict[str, list[Problem]] = {}
    for p in todo:  # the no-reasoning prefix is the task's shortest style ("Answer:")
        task = TASKS.get(p.task)()
        by_prefix.setdefault(task.style_prefix(task.styles[0]), []).append(p)
    for prefix, group in by_prefix.items():
        for part in _chunks(group, chunk):
            guesses = sample(part, n, prefix)
            latest = _latest_sources(store, [p.id for p in part])
            for p, texts in zip(part, guesses):
                task = TASKS.get(p.task)()
                hackable = is_easy_to_hack([task.verify(t, p.reference) for t in texts], min_correct)
                _record_verdict(store, report, latest, p.id, "hackable", hackable, hackable, policy, author)
            if progress is not None:
                progress(len(part))
    report.seconds = time.perf_counter() - t0
    return report
