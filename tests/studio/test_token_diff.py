"""The compare view's token diff (studio/token_diff.py) on hand-made token lists: which spans, which tokens marked, escaping."""
from __future__ import annotations

from studio.token_diff import DiffCounts, diff_counts, side_classes, side_html, token_diff


def _ops(a, b):
    return [(s.op, s.a_lo, s.a_hi, s.b_lo, s.b_hi) for s in token_diff(a, b)]


def test_the_same_tokens_are_one_equal_span_and_nothing_is_marked():
    a = ["x", " =", " 4", "\n"]
    assert _ops(a, list(a)) == [("equal", 0, 4, 0, 4)]
    assert side_classes(token_diff(a, a), "a", 4) == [None] * 4


def test_insert_delete_and_replace_are_found_where_they_are():
    a = ["Answer", ":", " 4", "2", "."]
    b = ["So", " the", " Answer", ":", " 4", "3"]
    # "Answer" != " Answer": B's first three tokens stand where A has its first; then ": 4" same; "2." became "3"
    assert _ops(a, b) == [("replace", 0, 1, 0, 3), ("equal", 1, 3, 3, 5), ("replace", 3, 5, 5, 6)]
    assert _ops(["a", "b", "c"], ["a", "c"]) == [("equal", 0, 1, 0, 1), ("delete", 1, 2, 1, 1), ("equal", 2, 3, 1, 2)]
    assert _ops(["a", "c"], ["a", "b", "b", "c"]) == [("equal", 0, 1, 0, 1), ("insert", 1, 1, 1, 3), ("equal", 1, 2, 3, 4)]
    assert _ops([], ["a"]) == [("insert", 0, 0, 0, 1)]
    assert _ops(["a"], []) == [("delete", 0, 1, 0, 0)]


def test_each_side_marks_its_own_tokens_and_counts_add_up():
    a, b = ["a", "b", "c", "d"], ["a", "x", "c", "d", "e"]
    spans = token_diff(a, b)
    assert side_classes(spans, "a", 4) == [None, "k15-diff-rep", None, None]
    assert side_classes(spans, "b", 5) == [None, "k15-diff-rep", None, None, "k15-diff-ins"]
    assert side_classes(token_diff(["a", "b"], ["a"]), "a", 2) == [None, "k15-diff-del"]
    assert diff_counts(spans) == DiffCounts(equal=3, deleted=0, inserted=1, replaced_a=1, replaced_b=1)


def test_long_responses_align_on_common_tokens():
    """autojunk off: with difflib's default a token in over 1 % of a 200+ item sequence (" ", "\\n") is junk and two
    long responses that differ in one token are not aligned as such."""
    a = [" ", "1", "\n"] * 100
    b = list(a)
    b[151] = "7"
    spans = token_diff(a, b)
    assert diff_counts(spans) == DiffCounts(equal=299, deleted=0, inserted=0, replaced_a=1, replaced_b=1)


def test_model_text_is_escaped_and_newlines_shown():
    html = side_html(["<script>x</script>", "\n", '"'], [5, 6, 7], ["k15-diff-ins", None, None])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('class="k15-tok k15-diff-ins"') == 1 and html.count('class="k15-tok"') == 2
    assert "↵<br>" in html and 'title="#0 token 5' in html
