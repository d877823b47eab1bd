"""Verdicts in the Rollouts tab: who decided each sample's correctness (the task's rule or the chain-of-thought judge,
k15core.judge), the judge's reasoning, a person's verdict over it, and the handler that records one.

A person's verdict is a `verdict` label event on the sample's prompt ({trajectory, correct}; k15core.labels), with
its author and time like every label, so Undo takes it back and `k15 judge agreement` measures the judge against it.
It changes no reward already trained on. The judge's reasoning is model text: escaped, shown as inert text.
"""
from __future__ import annotations

import html
import time

from k15core import labels as L
from k15core.labels import HumanVerdict
from k15core.store import Store
from k15core.types import Verdict

BY = {"rule": "the task's rule", "judge": "the CoT judge", "unfinished": "not verified: the response did not end by itself"}


def verdict_html(verdict: Verdict | None, human: HumanVerdict | None) -> str:
    """One sample's verdict line: the machine's (or that none was kept), a person's over it, the judge's reasoning folded.
    Nothing at all for a sample with neither (evaluation samples, rows stored before verdicts were kept)."""
    e = html.escape
    if verdict is None and human is None:
        return ""
    if verdict is None:
        machine = "verdict: not kept with this sample"
    elif verdict.by == "unfinished":
        machine = BY["unfinished"]
    elif verdict.malformed:
        machine = f"{e(BY.get(verdict.by, verdict.by))}: <b>no readable verdict</b> (scored 0)"
    else:
        machine = f"{e(BY.get(verdict.by, verdict.by))}: {'correct' if verdict.correct else 'wrong'}"
    person = ""
    if human is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(human.at))
        agrees = "" if verdict is None or verdict.by == "unfinished" else (" (agrees)" if human.correct == verdict.correct else " (overrules)")
        person = f' · <span class="k15-human"><b>person: {"correct" if human.correct else "wrong"}</b>{agrees}, {e(human.author)}, {e(when)}</span>'
    reasoning = ""
    if verdict is not None and verdict.by == "judge" and verdict.reasoning:
        label = "the judge's whole output" if verdict.malformed else "the judge's reasoning"
        reasoning = f'<details class="k15-reasoning"><summary>{label}</summary><pre>{e(verdict.reasoning)}</pre></details>'
    return f'<div class="k15-verdict">{machine}{person}{reasoning}</div>'


def human_verdicts(store: Store, prompt_id: str) -> dict[int, HumanVerdict]:
    """Trajectory id -> a person's latest verdict, for the samples of one prompt."""
    return L.human_verdicts(e for e in store.label_events(prompt_ids=[prompt_id]) if e["field"] == "verdict")


def overrule(store: Store, trajectory_id, correct: bool | None, author: str) -> str:
    """Record a person's verdict on one sample (None takes theirs back); returns what happened, for the page.

    Idempotent: a double-fired click writes one event (`Store.set_label`)."""
    try:
        tid = int(trajectory_id)
    except (TypeError, ValueError):
        return "open a group and pick a sample first"
    found = store.responses([tid]).get(tid)
    if found is None:
        return f"no sample with id {tid}"
    w = store.set_label(found["prompt_id"], "verdict", {"trajectory": tid, "correct": correct}, author=author, source="studio")
    said = "taken back" if correct is None else ("correct" if correct else "wrong")
    return f"sample {tid}: person's verdict {said}" + ("" if w.events else " (already so; nothing written)")


def sample_choices(group: list[dict]) -> list[tuple[str, int]]:
    """The dropdown of the open group's samples, as (label, trajectory id)."""
    return [(f"sample {t['sample_index']} · id {int(t['id'])}", int(t["id"])) for t in group]
