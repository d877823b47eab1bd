"""Many annotators: each person's own labels, the "next for me" queue, progress, Cohen's kappa (by hand) and conflicts."""
from __future__ import annotations

import itertools

import pytest

from k15core.annotators import QueueSettings, next_for_me, own_values, progress, reviewers
from k15core.labels_agreement import agreement, cohen_kappa, conflicts

_seq = itertools.count(1)


def ev(pid, field, value, author, action=None, undoes=None, source="studio"):
    n = next(_seq)
    return {"seq": n, "prompt_id": pid, "field": field, "value": value, "author": author, "source": source,
            "action": action or f"act{n}", "undoes": undoes}


IDS = [f"p{i}" for i in range(6)]


# -- each person's own labels -------------------------------------------------------------------------

def test_own_values_pass_over_undo_events_the_events_they_undid_and_machines():
    events = [
        ev("p0", "status", "kept", "ann"),
        ev("p0", "status", "excluded", "bob", action="b1"),
        ev("p0", "status", "kept", "bob", action="b2", undoes="b1"),  # bob's undo writes back ann's value: not bob's opinion
        ev("p1", "status", "excluded", "curate", source="auto"),
        ev("p1", "difficulty", 3, "bob"),
        ev("p2", "status", "flagged", "ann"), ev("p2", "status", None, "ann"),  # ann reset it herself
    ]
    own = own_values(events)
    assert own == {"ann": {("p0", "status"): "kept", ("p2", "status"): None}, "bob": {("p1", "difficulty"): 3}}
    assert reviewers(events) == {"p0": {"ann"}}  # bob's status was taken back, p1's only status is a machine's, p2 was reset


# -- the queue -------------------------------------------------------------------------------------------

def test_overlap_1_hands_out_each_prompt_once_and_skips_what_i_reviewed():
    reviewed = {"p0": {"ann"}, "p1": {"bob"}}
    assert next_for_me(IDS, reviewed, "ann") == "p2"
    assert next_for_me(IDS, reviewed, "bob") == "p2"  # p0 is ann's, p1 his own
    assert next_for_me(IDS, reviewed, "cy") == "p2"
    # a prompt handed to someone and not reviewed yet counts as theirs: two people asking at once get different ones
    assert next_for_me(IDS, reviewed, "bob", claims={"ann": "p2"}) == "p3"
    assert next_for_me(IDS, reviewed, "ann", claims={"ann": "p2"}) == "p2"  # her own claim does not hide it from her
    everyone = {p: {"ann"} for p in IDS}
    assert next_for_me(IDS, everyone, "ann") is None and next_for_me(IDS, everyone, "bob") is None


def test_overlap_2_gives_two_people_the_same_prompt_and_not_a_third():
    two = QueueSettings(overlap=2)
    reviewed = {"p0": {"ann", "bob"}, "p1": {"ann"}}
    assert next_for_me(IDS, reviewed, "bob", two) == "p1"  # ann saw p1: bob is its second
    assert next_for_me(IDS, reviewed, "cy", two) == "p1"  # one more may still see p1
    assert next_for_me(IDS, reviewed, "cy", two, claims={"bob": "p1"}) == "p2"  # ... unless bob is on it now
    assert next_for_me(IDS, reviewed, "ann", two) == "p2"
    assert next_for_me(IDS, {}, "ann", two) == next_for_me(IDS, {}, "bob", two, claims={"ann": "p0"}) == "p0"


def test_assigned_prompts_go_to_their_assignees_only():
    s = QueueSettings(overlap=1, assignments={"p0": ("bob",), "p1": ("ann", "bob")})
    assert next_for_me(IDS, {}, "ann", s) == "p1"  # p0 is bob's
    assert next_for_me(IDS, {}, "bob", s) == "p0"
    assert next_for_me(IDS, {"p0": {"bob"}, "p1": {"ann"}}, "bob", s) == "p1"  # assigned to both: overlap does not stop bob
    assert next_for_me(IDS, {}, "cy", s) == "p2"


def test_the_order_is_the_one_given_and_stable():
    reviewed = {"p3": {"ann"}}
    order = ["p5", "p3", "p1", "p0"]
    assert [next_for_me(order, reviewed, "bob") for _ in range(3)] == ["p5"] * 3
    assert next_for_me(order, {**reviewed, "p5": {"bob"}}, "ann") == "p1"


def test_progress_counts_mine_anyone_and_complete():
    reviewed = {"p0": {"ann", "bob"}, "p1": {"ann"}, "p2": {"bob"}}
    p = progress(IDS, reviewed, "ann", QueueSettings(overlap=2))
    assert (p.mine, p.anyone, p.complete, p.total) == (2, 3, 1, 6)
    assert p.text().startswith("**2 of 6 reviewed** by you")
    assert progress(IDS, reviewed, "ann").complete == 3


# -- agreement ----------------------------------------------------------------------------------------------

def test_kappa_of_a_2x2_table_by_hand():
    # 50 prompts: both yes 20, ann yes / bob no 5, ann no / bob yes 10, both no 15.
    # p_o = 35/50 = 0.7; ann says yes 25/50, bob 30/50: p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_is_1_for_perfect_agreement_0_at_chance_and_undefined_without_variety():
    assert cohen_kappa(["kept", "excluded", "flagged"], ["kept", "excluded", "flagged"]) == pytest.approx(1.0)
    assert cohen_kappa(["y", "y", "n", "n"], ["y", "n", "y", "n"]) == pytest.approx(0.0)  # p_o = p_e = 0.5
    assert cohen_kappa(["y", "n"], ["n", "y"]) == pytest.approx(-1.0)
    assert cohen_kappa(["y", "y"], ["y", "y"]) is None and cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["y"], ["y", "n"])


def test_agreement_per_field_and_pair_over_prompts_both_labelled_and_the_conflicts():
    events = [
        ev("p0", "status", "kept", "ann"), ev("p0", "status", "kept", "bob"),
        ev("p1", "status", "excluded", "ann"), ev("p1", "status", "kept", "bob"),
        ev("p2", "status", "excluded", "ann"), ev("p2", "status", "excluded", "bob"),
        ev("p3", "status", "kept", "ann"),  # only ann: not compared
        ev("p0", "difficulty", 2, "ann"), ev("p0", "difficulty", 4, "bob"), ev("p0", "difficulty", 2, "bob"),  # bob changed his mind: agree
        ev("p1", "difficulty", 3, "ann"), ev("p1", "difficulty", 5, "cy"),
    ]
    own = own_values(events)
    rows = {(r.field, r.a, r.b): r for r in agreement(own)}
    st = rows["status", "ann", "bob"]
    # p0 kept/kept, p1 excluded/kept, p2 excluded/excluded: p_o = 2/3; ann kept 1/3 excluded 2/3, bob kept 2/3 excluded 1/3:
    # p_e = 1/3*2/3 + 2/3*1/3 = 4/9; kappa = (2/3 - 4/9) / (5/9) = 0.4
    assert (st.n, st.observed, st.kappa) == (3, pytest.approx(2 / 3), pytest.approx(0.4))
    assert rows["difficulty", "ann", "bob"].n == 1 and rows["difficulty", "ann", "bob"].observed == 1.0
    assert rows["difficulty", "ann", "bob"].kappa is None  # one prompt, one value each: undefined
    assert rows["difficulty", "ann", "cy"].observed == 0.0
    assert ("status", "ann", "cy") not in rows and ("status", "bob", "cy") not in rows  # nothing in common
    got = [(c.prompt_id, c.field, c.values) for c in conflicts(own)]
    assert got == [("p1", "status", (("ann", "excluded"), ("bob", "kept"))), ("p1", "difficulty", (("ann", 3), ("cy", 5)))]
