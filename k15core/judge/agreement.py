"""How far to trust a judge: its agreement with people and with math-verify (`k15 judge agreement`).

Two sources of human labels:
- a labelled set, JSONL rows {id, question, reference, response, label: bool, kind}; the shipped one is
  assets/judge/agreement.jsonl (80 rows in ten kinds, made by tools/make_judge_set.py);
- the workspace's verdict label events: a person's verdict on a stored RL response in the studio's Rollouts tab
  (`k15core.labels.human_verdicts`), each response judged again by the judge under test.

Measures, each over the rows both sides decided (a malformed judgement counts as "wrong": that is how it scores):
agreement = share of equal verdicts; Cohen's κ = (p_o − p_e) / (1 − p_e), p_e the agreement two raters with the same
rates of "correct" would reach by chance. Pure functions here; the command (k15core/cli/judge.py) runs the models.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from k15core.errors import K15Error
from k15core.judge.model import VerifyItem
from k15core.types import Verdict

SHIPPED_SET = Path(__file__).resolve().parents[2] / "assets" / "judge" / "agreement.jsonl"


@dataclass(frozen=True)
class LabelledRow:
    """One response with a person's verdict on it."""

    id: str
    question: str
    reference: str
    response: str
    label: bool
    """True: the response's final answer equals the reference in value (the working is not graded)."""
    kind: str = ""
    """What makes the row easy or hard (e.g. 'equivalent_form', 'buried'; tools/make_judge_set.py lists them)."""

    @property
    def item(self) -> VerifyItem:
        return VerifyItem(self.question, self.reference, self.response)


def load_labelled(path: str | Path) -> list[LabelledRow]:
    """Every row of a labelled JSONL file, or a K15Error naming the first bad line (nothing half-loads)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise K15Error(f"cannot read the labelled set {str(path)!r}: {err.strerror}", f"e.g. --labelled {SHIPPED_SET}") from None
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            texts = [d[k] for k in ("id", "question", "reference", "response")]
            if not all(isinstance(t, str) for t in texts) or not isinstance(d["label"], bool) or not isinstance(d.get("kind", ""), str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise K15Error(f"{path} line {n} is not a labelled row",
                           'each line: {"id": str, "question": str, "reference": str, "response": str, "label": true|false, "kind": str}') from None
        rows.append(LabelledRow(*texts, label=d["label"], kind=d.get("kind", "")))
    if not rows:
        raise K15Error(f"the labelled set {str(path)!r} holds no rows", "one JSON object per line")
    return rows


def agreement(a: list[bool], b: list[bool]) -> float | None:
    """Share of positions where `a` and `b` agree; None for no rows.

    >>> agreement([True, True, False, False], [True, False, False, False])
    0.75
    """
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's κ of two raters' yes/no verdicts: (p_o − p_e) / (1 − p_e), with p_e = p_a p_b + (1 − p_a)(1 − p_b) and
    p_a, p_b each rater's share of yes. None where it is undefined: no rows, or p_e = 1 (both raters said the same one
    thing every time, so chance explains everything).

    >>> cohen_kappa([True, True, False, False], [True, False, False, False])   # p_o 3/4, p_e 1/2 x 1/4 + 1/2 x 3/4 = 1/2
    0.5
    >>> cohen_kappa([True, False], [False, True]), cohen_kappa([True, True], [True, True])
    (-1.0, None)
    """
    if not a:
        return None
    p_o = agreement(a, b)
    p_a, p_b = sum(a) / len(a), sum(b) / len(b)
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    return None if p_e >= 1 else (p_o - p_e) / (1 - p_e)


def compare(a: list[bool], b: list[bool]) -> dict:
    """{n, agreement, kappa} of two raters over the same rows (κ and agreement rounded to 4 places; None if undefined)."""
    r = lambda x: None if x is None else round(x, 4) + 0.0  # noqa: E731  (+ 0.0: no "-0.0" in the JSON)
    return {"n": len(a), "agreement": r(agreement(a, b)), "kappa": r(cohen_kappa(a, b))}


def set_report(rows: list[LabelledRow], judge: list[Verdict], rule: list[Verdict], chained: list[Verdict]) -> dict:
    """The labelled set's numbers: the judge, the rule (math-verify) and rule-then-judge against the human labels, the
    judge against math-verify, the judge's malformed share, and per kind of row.

    >>> rows = [LabelledRow("a", "q", "1", "r", True), LabelledRow("b", "q", "1", "r", False)]
    >>> yes, no, bad = Verdict(True, "judge"), Verdict(False, "rule"), Verdict(False, "judge", malformed=True)
    >>> set_report(rows, [yes, bad], [no, no], [yes, no])["judge"]
    {'vs_human': {'n': 2, 'agreement': 1.0, 'kappa': 1.0}, 'vs_math_verify': {'n': 2, 'agreement': 0.5, 'kappa': 0.0}, 'malformed_share': 0.5}
    """
    human = [r.label for r in rows]
    j, m, c = ([v.correct for v in vs] for vs in (judge, rule, chained))
    kinds = sorted({r.kind for r in rows})
    by_kind = {}
    for kind in kinds:
        at = [i for i, r in enumerate(rows) if r.kind == kind]
        by_kind[kind] = {"n": len(at), "judge_vs_human": compare([j[i] for i in at], [human[i] for i in at])["agreement"],
                         "math_verify_vs_human": compare([m[i] for i in at], [human[i] for i in at])["agreement"],
                         "judge_malformed": sum(judge[i].malformed for i in at)}
    return {
        "n": len(rows),
        "judge": {"vs_human": compare(j, human), "vs_math_verify": compare(j, m), "malformed_share": round(sum(v.malformed for v in judge) / len(rows), 4)},
        "math_verify": {"vs_human": compare(m, human)},
        "rule_then_judge": {"vs_human": compare(c, human), "judged_share": round(sum(v.by == "judge" for v in chained) / len(rows), 4)},
        "by_kind": by_kind,
    }


def studio_rows(store) -> tuple[list[LabelledRow], list[Verdict | None]]:
    """The stored responses a person gave a verdict on in the studio (`k15core.labels.human_verdicts`), as labelled rows
    against the prompt's reference as labelled now, each with the verdict stored when it was trained on (None for older
    rows). Responses or prompts no longer in the store are left out."""
    from k15core import labels

    human = labels.human_verdicts(e for e in store.label_events() if e["field"] == "verdict")
    found = store.responses(sorted(human))
    states = store.prompt_labels(sorted({t["prompt_id"] for t in found.values()}))
    rows, stored = [], []
    for tid in sorted(found):
        t = found[tid]
        prompt = store.prompt(t["prompt_id"])
        if prompt is None:
            continue
        reference = labels.labelled(states.get(t["prompt_id"], labels.DEFAULT), "reference", prompt["reference"])
        rows.append(LabelledRow(f"trajectory:{tid}", t["prompt"], reference, t["response"], human[tid].correct, kind="studio"))
        stored.append(t["verdict"])
    return rows, stored
