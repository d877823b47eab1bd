"""Template generators: seeded, inside their ranges, every token kind, and a clear error for a bad template.

Run: python -m pytest -q tests/k15core/curation/test_testgen_template.py
"""
from __future__ import annotations

import random

import pytest

from k15core.curation.testgen.template import TOKENS, parse_template, render_input, template_inputs

LIST = {"lines": [[{"int": [1, 6], "as": "n"}], [{"ints": [-5, 5], "len": "n"}]]}


def test_same_seed_same_inputs_and_input_i_does_not_depend_on_the_count():
    t = parse_template(LIST)
    assert template_inputs(t, "p", 20, seed=3) == template_inputs(t, "p", 20, seed=3)
    assert template_inputs(t, "p", 20, seed=3) != template_inputs(t, "p", 20, seed=4)
    assert template_inputs(t, "p", 20, seed=3) != template_inputs(t, "q", 20, seed=3)  # each problem its own stream
    assert template_inputs(t, "p", 5, seed=3) == template_inputs(t, "p", 20, seed=3)[:5]


def test_a_list_has_the_length_its_bound_count_says_and_values_in_range():
    t = parse_template(LIST)
    for text in template_inputs(t, "p", 200, seed=0):
        first, second = text.split("\n")[:2]
        values = [int(v) for v in second.split()]
        assert 1 <= int(first) <= 6 and len(values) == int(first)
        assert all(-5 <= v <= 5 for v in values)
        assert text.endswith("\n")
    # 200 draws from [1, 6] reach both ends (chance of missing one: 2 * (5/6)^200 < 1e-15)
    firsts = {int(s.split()[0]) for s in template_inputs(t, "p", 200, seed=0)}
    assert firsts == set(range(1, 7))


def test_every_token_kind():
    t = parse_template({"lines": [[{"int": [3, 3], "as": "k"}, {"text": "x"}, {"ref": "k"}],
                                  [{"word": "ab", "len": "k"}, {"word": "z", "len": [2, 2]}],
                                  [{"ints": [7, 7], "len": 2, "sep": ","}]]})
    text = render_input(t, random.Random(0))
    line1, line2, line3 = text.splitlines()
    assert line1 == "3 x 3"
    word, zs = line2.split()
    assert len(word) == 3 and set(word) <= {"a", "b"} and zs == "zz"
    assert line3 == "7,7"
    assert set(TOKENS.names()) == {"int", "ints", "word", "ref", "text"}


def test_fixed_inputs_come_first_and_count_on_top():
    t = parse_template({**LIST, "fixed": ["1\n-5\n", "2\n5 5\n"]})
    inputs = template_inputs(t, "p", 3, seed=0)
    assert inputs[:2] == ["1\n-5\n", "2\n5 5\n"] and len(inputs) == 5


@pytest.mark.parametrize("spec, message", [
    ({"lines": [[{"float": [1, 2]}]]}, "exactly one kind of: int, ints, ref, text, word"),
    ({"lines": [[{"int": [5, 1]}]]}, r"range \[5, 1\] is empty"),
    ({"lines": [[{"int": [1.5, 2]}]]}, "two whole numbers"),
    ({"lines": [[{"ints": [1, 2], "len": "n"}]]}, "no earlier token binds"),
    ({"lines": [[{"ref": "m"}]]}, "no earlier token binds"),
    ({"lines": [[{"word": "", "len": 3}]]}, "non-empty alphabet"),
    ({"lines": [[{"ints": [1, 2], "len": -1}]]}, "cannot be negative"),
    ({"lines": [[{"ints": [1, 2]}]]}, 'needs a "len"'),
    ({"lines": [[{"ints": [1, 2], "len": [3]}]]}, "'len' must be a range"),
    ({"lines": [["int"]]}, "a token must be an object"),
    ({"lines": "1 2"}, 'needs "lines"'),
    ({"lines": [], "fixed": [1]}, '"fixed" must be a list'),
    ({"lines": [], "cases": 3}, "not \\['cases'\\]"),
])
def test_a_bad_template_says_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_template(spec)
