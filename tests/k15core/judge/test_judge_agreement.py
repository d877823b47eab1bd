"""Agreement and Cohen's κ (hand-derived), the labelled set shipped in assets/judge/, and the verdicts people give in the studio."""
from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from k15core.errors import K15Error
from k15core.judge.agreement import SHIPPED_SET, LabelledRow, agreement, cohen_kappa, compare, load_labelled, set_report, studio_rows
from k15core.types import Verdict

ROOT = Path(__file__).resolve().parents[3]


def test_kappa_by_hand():
    # a = T T T F F F F F, b = T T F T F F F F: they agree on 6 of 8, p_o = 0.75; each says yes 3/8 of the time,
    # p_e = (3/8)^2 + (5/8)^2 = 34/64; kappa = (0.75 - 34/64) / (1 - 34/64) = (14/64) / (30/64) = 7/15
    a = [True] * 3 + [False] * 5
    b = [True, True, False, True] + [False] * 4
    assert agreement(a, b) == 0.75
    assert cohen_kappa(a, b) == pytest.approx(7 / 15)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa([True, False, True, False], [False, True, False, True]) == -1.0  # always disagreeing
    # a rater that always says yes against a mixed one: p_e = p_o, so kappa is 0 whatever the agreement
    assert cohen_kappa([True] * 4, [True, True, True, False]) == 0.0
    assert cohen_kappa([], []) is None and cohen_kappa([False] * 3, [False] * 3) is None  # undefined, not 0 or 1
    assert compare([], []) == {"n": 0, "agreement": None, "kappa": None}


def test_the_set_report_counts_a_malformed_judgement_as_wrong():
    rows = [LabelledRow(str(i), "q", "1", "r", label, kind) for i, (label, kind) in enumerate([(True, "a"), (True, "a"), (False, "b"), (False, "b")])]
    judge = [Verdict(True, "judge"), Verdict(False, "judge", malformed=True), Verdict(False, "judge"), Verdict(True, "judge")]
    rule = [Verdict(True, "rule"), Verdict(True, "rule"), Verdict(False, "rule"), Verdict(False, "rule")]
    chained = [rule[0], judge[1], rule[2], judge[3]]
    report = set_report(rows, judge, rule, chained)
    # judge T F F T vs human T T F F: 2 of 4, each says yes half the time, p_e = 0.5: kappa 0
    assert report["judge"]["vs_human"] == {"n": 4, "agreement": 0.5, "kappa": 0.0}
    assert report["judge"]["malformed_share"] == 0.25
    assert report["math_verify"]["vs_human"] == {"n": 4, "agreement": 1.0, "kappa": 1.0}
    assert report["rule_then_judge"]["judged_share"] == 0.5 and report["rule_then_judge"]["vs_human"]["agreement"] == 0.5
    assert report["by_kind"]["a"] == {"n": 2, "judge_vs_human": 0.5, "math_verify_vs_human": 1.0, "judge_malformed": 1}


def test_a_bad_row_names_its_line(tmp_path):
    path = tmp_path / "set.jsonl"
    good = {"id": "a", "question": "q", "reference": "1", "response": "r", "label": True}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "label": "yes"}) + "\n")
    with pytest.raises(K15Error, match="line 3 is not a labelled row"):
        load_labelled(path)
    path.write_text("")
    with pytest.raises(K15Error, match="holds no rows"):
        load_labelled(path)
    with pytest.raises(K15Error, match="cannot read"):
        load_labelled(tmp_path / "missing.jsonl")


def _generator():
    spec = importlib.util.spec_from_file_location("make_judge_set", ROOT / "tools" / "make_judge_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_set_is_what_its_generator_writes_and_holds_every_kind():
    gen = _generator()
    assert SHIPPED_SET.read_text(encoding="utf-8") == gen.text()  # rerun tools/make_judge_set.py after editing it
    rows = load_labelled(SHIPPED_SET)
    assert 60 <= len(rows) <= 100 and len({r.id for r in rows}) == len(rows)
    assert Counter(r.kind for r in rows) == {k: 8 for k in gen.KINDS}
    assert 0.3 < sum(r.label for r in rows) / len(rows) < 0.7  # both answers well represented


def test_math_verify_misses_exactly_the_tricky_correct_kinds():
    # what makes the set worth measuring a judge on: the rule agrees with people on the plain kinds and misses answers
    # in words and answers buried before a line of other numbers (and one answer with units)
    from k15core.judge.verifiers import RuleVerifier
    from k15core.tasks.math import MathTask

    rows = load_labelled(SHIPPED_SET)
    rule = RuleVerifier(MathTask())([r.item for r in rows])
    missed = Counter(r.kind for r, v in zip(rows, rule) if v.correct != r.label)
    assert missed == {"buried": 8, "words": 8, "equivalent_form": 1}


def test_studio_rows_are_the_responses_people_gave_a_verdict_on(tmp_path):
    from k15core.store import Store
    from k15core.tasks.problem import Problem
    from k15core.types import TrajectoryRecord

    store = Store(tmp_path / "k15.db")
    store.add_prompts([Problem(id="p", prompt="What is 2 + 2?", reference="4", task="math")], source="test")
    run = store.create_run("r", "rl", {})
    recs = [TrajectoryRecord("p", j, "What is 2 + 2?", text, [1], [0.0], reward=0.0, correct=0.0, length=1, group=0,
                             verdict=Verdict(False, "judge", "no verdict", malformed=True) if j == 0 else None)
            for j, text in enumerate(["four", "Answer: 5", "Answer: 4"])]
    store.record_iteration(run, 0, {}, recs)
    ids = sorted(store.responses(list(range(1, 10))))
    assert ids == [1, 2, 3]
    store.set_label("p", "verdict", {"trajectory": 1, "correct": True}, author="ann", source="studio")
    store.set_label("p", "verdict", {"trajectory": 2, "correct": False}, author="bob", source="studio")
    store.set_label("p", "verdict", {"trajectory": 3, "correct": True}, author="bob", source="studio")
    store.set_label("p", "verdict", {"trajectory": 3, "correct": None}, author="bob", source="studio")  # taken back
    store.set_label("p", "reference", "four", author="ann", source="studio")  # the reference as labelled now is used
    rows, stored = studio_rows(store)
    assert [(r.id, r.response, r.reference, r.label) for r in rows] == [("trajectory:1", "four", "four", True), ("trajectory:2", "Answer: 5", "four", False)]
    assert stored == [Verdict(False, "judge", "no verdict", malformed=True), None]
    store.close()
