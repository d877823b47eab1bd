"""A studio view as a URL query (studio/view_state.py): round trips, hostile queries, saved views on disk.

Pure: no Gradio, no store. The page's half (studio/view_links.py) is tested in test_view_links.py and in Chromium
(test_view_links_browser.py).
"""
from __future__ import annotations

import json
import threading
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio import view_state as V
from studio.view_state import DEFAULT, KEYS, SavedViews, ViewState, decode, encode

FULL = ViewState(
    tab="rollouts", runs=(3, 1), smoothing=0.35, runs_from=2, runs_to=7, run=1, samples="free", it_min=0, it_max=9,
    text="Answer: (\\d+) & <b>", regex=True, verdict="wrong", len_min=None, len_max=40, diff_min=2, diff_max=4, truncated="yes", repeated="no", group=1234,
    colour="entropy", cmp="recurrence:1", cmp_a_run=1, cmp_a_it=0, cmp_a_sample=2, cmp_b_run=3, cmp_b_it=7, cmp_b_sample=0, prompt="recurrence:378|1", prompts_text="évite ça", prompts_status="not reviewed", prompts_level=5,
)


def test_every_field_round_trips_through_the_query():
    query = encode(FULL)
    assert query == ("tab=rollouts&runs=3,1&smooth=0.35&runs_it=2-7&run=1&samples=free&it=0-9&q=Answer%3A%20%28%5Cd%2B%29%20%26%20%3Cb%3E"
                     "&regex=1&verdict=wrong&len=-40&diff=2-4&truncated=yes&repeated=no&group=1234&colour=entropy"
                     "&cmp=recurrence%3A1&cmp_a=1-0-2&cmp_b=3-7-0&prompt=recurrence%3A378%7C1"
                     "&prompts_q=%C3%A9vite%20%C3%A7a&prompts_status=not%20reviewed&prompts_level=5")
    assert decode(query) == FULL and decode("?" + query) == FULL
    assert {f.name for f in fields(ViewState)} == {n for names in V._KEYS.values() for n in names}  # every field has a key


def test_the_default_view_is_the_empty_query_and_only_changes_are_written():
    assert encode(DEFAULT) == "" and decode("") == DEFAULT and decode(None) == DEFAULT
    assert encode(ViewState(tab="prompts", prompt="p1")) == "tab=prompts&prompt=p1"
    assert encode(ViewState(it_min=0)) == "it=0-"  # "from iteration 0" is a filter, unlike no bound
    assert decode("it=0-") == ViewState(it_min=0) and decode("it=-5") == ViewState(it_max=5) and decode("it=-") == DEFAULT


def test_hostile_and_broken_values_are_ignored_and_the_rest_kept():
    hostile = ("tab=%3Cscript%3Ealert(1)%3C/script%3E&group=99999999999999999999999&run=-3&runs=1,x,2&smooth=nan&verdict=WRONG"
               "&colour=red&prompts_level=6&it=1-2-3&len=a-5&regex=yes&zzz=1&__proto__=1&samples=free&q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    # each bad value leaves its field at the default; a script in a text field is just text (the page shows it as text)
    assert decode(hostile) == ViewState(samples="free", len_max=5, text="<img src=x onerror=alert(1)>")
    assert decode("group=1e3&run=0x10&it_min=1&runs_from=4&smooth=inf") == DEFAULT  # not whole numbers; field names are not keys
    assert decode("group=٣&run=²") == DEFAULT  # digits that int() would read, but not ASCII
    assert decode(f"group={2**53}") == DEFAULT and decode(f"group={2**53 - 1}") == ViewState(group=2**53 - 1)
    assert decode("q=" + "x" * (V.MAX_TEXT + 1)) == DEFAULT  # too long a search is dropped, never cut
    assert decode("q=a%00b&prompt=a%0Ab") == DEFAULT  # control characters
    assert decode("runs=" + ",".join(str(i) for i in range(1, V.MAX_RUNS + 2))) == DEFAULT
    assert decode("tab=prompts&tab=runs&group=5&group=x") == ViewState(tab="prompts", group=5)  # the first of a repeated key
    assert decode("group=5&" + "x" * V.MAX_QUERY) == DEFAULT  # a huge query is not read at all
    assert decode("%zz=%&&==&group") == DEFAULT and decode("smooth=0.951") == DEFAULT
    assert decode("smooth=0.349") == ViewState(smoothing=0.35)  # to the slider's hundredth


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_decode_never_raises(query):
    assert isinstance(decode(query), ViewState)
    assert isinstance(decode("group=" + query + "&q=" + query + "&runs=" + query), ViewState)


ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
                     st.text(max_size=40), st.lists(st.integers(min_value=-5, max_value=2**60), max_size=5), st.sampled_from(
                         [*V.TABS, *V.SAMPLES, *V.VERDICTS, *V.TRISTATE, *V.COLOURS, *V.PROMPT_STATUSES, "3", "0", "1", "12-", " 7 "]))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in fields(ViewState)] + ["nonsense"]), ANYTHING))
def test_any_view_made_from_any_values_round_trips(raw):
    view = ViewState.of(**raw)  # what the page's components give, garbage included
    assert decode(encode(view)) == view


def test_the_choices_are_the_tabs_own():
    from studio import prompts_tab, rollouts_tab

    assert V.COLOURS == rollouts_tab.COLOUR_BY and V.PROMPT_STATUSES == prompts_tab.STATUS_FILTERS
    assert (rollouts_tab.ANY, rollouts_tab.YES, rollouts_tab.NO) == V.TRISTATE
    assert not set(KEYS) & set(V.RESERVED)  # Gradio's page reads these itself


def test_rollouts_set_says_whether_a_filter_or_group_is_there():
    assert not DEFAULT.rollouts_set() and not ViewState(tab="rollouts", prompt="x").rollouts_set()
    assert ViewState(group=3).rollouts_set() and ViewState(it_min=0).rollouts_set() and ViewState(samples="all").rollouts_set()


# -- saved views -----------------------------------------------------------------------------------

def test_saved_views_are_kept_by_name_in_the_workspace(tmp_path):
    views = SavedViews(tmp_path)
    assert views.names() == [] and views.get("x") is None
    assert views.save(" wrong answers, level 5 ", FULL) == "saved the view 'wrong answers, level 5'"
    assert views.save("Alpha", DEFAULT) == "saved the view 'Alpha'"
    assert SavedViews(tmp_path).names() == ["Alpha", "wrong answers, level 5"]  # sorted, read back from the file
    assert SavedViews(tmp_path).get("wrong answers, level 5") == FULL
    assert views.save("Alpha", ViewState(tab="launch")) == "replaced the saved view 'Alpha'" and views.get("Alpha") == ViewState(tab="launch")
    stored = json.loads((tmp_path / V.VIEWS_FILE).read_text(encoding="utf-8"))
    assert stored == {"views": {"Alpha": "tab=launch", "wrong answers, level 5": encode(FULL)}}
    assert views.delete("Alpha") and not views.delete("Alpha") and views.names() == ["wrong answers, level 5"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # no temporary file left behind


@pytest.mark.parametrize("name", ["", "   ", "<script>", "../x", "a/b", "-dash first", "x" * 65, "tab\tname", "a\nb", None, 3])
def test_a_bad_name_is_refused_and_nothing_written(tmp_path, name):
    with pytest.raises(ValueError):
        SavedViews(tmp_path).save(name, FULL)
    assert not (tmp_path / V.VIEWS_FILE).exists()


def test_a_file_that_cannot_be_read_is_never_overwritten(tmp_path):
    path = tmp_path / V.VIEWS_FILE
    path.write_text('{"views": {"a": "tab=prompts"', encoding="utf-8")  # cut short
    views = SavedViews(tmp_path)
    assert views.names() == [] and views.get("a") is None
    with pytest.raises(ValueError, match="cannot be read.*fix or remove it"):
        views.save("b", FULL)
    assert path.read_text(encoding="utf-8") == '{"views": {"a": "tab=prompts"'
    path.write_text('["not", "views"]', encoding="utf-8")
    with pytest.raises(ValueError, match="no views object"):
        views.save("b", FULL)


def test_hand_edited_entries_are_read_like_links(tmp_path):
    (tmp_path / V.VIEWS_FILE).write_text(json.dumps({"views": {
        "ok": "tab=rollouts&group=7&colour=<script>", "<bad name>": "tab=prompts", "not a query": 12}}), encoding="utf-8")
    views = SavedViews(tmp_path)
    assert views.names() == ["ok"] and views.get("ok") == ViewState(tab="rollouts", group=7)


def test_at_most_max_views_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(V, "MAX_VIEWS", 3)
    views = SavedViews(tmp_path)
    for n in range(3):
        views.save(f"v{n}", DEFAULT)
    with pytest.raises(ValueError, match="3 views are saved already"):
        views.save("v3", DEFAULT)
    assert views.save("v0", FULL).startswith("replaced")  # replacing one is still allowed


def test_saves_at_once_all_land(tmp_path):
    def save(i):
        SavedViews(tmp_path).save(f"view {i}", ViewState(group=i + 1))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    views = SavedViews(tmp_path)
    assert len(views.names()) == 16 and all(views.get(f"view {i}") == ViewState(group=i + 1) for i in range(16))


def test_the_compare_sides_travel_as_run_iteration_sample():
    assert encode(ViewState(cmp="p", cmp_a_run=2, cmp_a_it=5)) == "cmp=p&cmp_a=2-5-"
    assert decode("cmp=p&cmp_a=2-5-1&cmp_b=2-9-0") == ViewState(cmp="p", cmp_a_run=2, cmp_a_it=5, cmp_a_sample=1, cmp_b_run=2, cmp_b_it=9,
                                                                  cmp_b_sample=0)
    assert decode("cmp_a=2-5&cmp_b=0-1-1") == ViewState(cmp_b_it=1, cmp_b_sample=1)  # a side is three parts; run 0 is none (dropped alone)
