"""Curation (report §2.1): pass rate and difficulty, the easy-to-hack filter, and the store-level runs
with scripted answers: labels as events with source auto, resumable, idempotent, a person's label wins."""
from __future__ import annotations

import pytest

from k15core.curation import curate_difficulty, curate_hackable, difficulty_from_pass_rate, is_easy_to_hack, pass_rate
from k15core.curation.run import store_problems
from k15core.store import Store
from k15core.tasks import RecurrenceTask


def test_pass_rate_is_exactly_correct_over_n():
    assert pass_rate([1, 0, 1, 1, 0, 0, 0, 0, 0, 1]) == 0.4
    assert pass_rate([0.0] * 10) == 0.0 and pass_rate([1.0] * 10) == 1.0
    with pytest.raises(ValueError):
        pass_rate([])


@pytest.mark.parametrize("rate, level", [(1.0, 1), (0.9, 1), (0.8, 2), (0.7, 2), (0.6, 3), (0.5, 3), (0.4, 4), (0.3, 4), (0.2, 5), (0.0, 5)])
def test_difficulty_buckets(rate, level):
    assert difficulty_from_pass_rate(rate) == level


def test_difficulty_is_monotone_and_checks_its_input():
    levels = [difficulty_from_pass_rate(k / 10) for k in range(11)]
    assert levels == sorted(levels, reverse=True)
    with pytest.raises(ValueError):
        difficulty_from_pass_rate(1.5)


def test_one_correct_guess_in_eight_flags_and_none_does_not():
    assert is_easy_to_hack([0] * 7 + [1])
    assert not is_easy_to_hack([0] * 8)
    with pytest.raises(ValueError):
        is_easy_to_hack([])


def test_min_correct_raises_the_bar_and_chance_says_why():
    from k15core.curation.hackable import chance_flagged

    assert not is_easy_to_hack([1, 1] + [0] * 6, min_correct=3) and is_easy_to_hack([1, 1, 1] + [0] * 5, min_correct=3)
    with pytest.raises(ValueError):
        is_easy_to_hack([1], min_correct=0)
    assert chance_flagged(8, 10) == pytest.approx(1 - 0.9**8)  # 57%: the report's rule on a one-digit answer
    assert chance_flagged(8, 10, 3) == pytest.approx(1 - 0.9**8 - 8 * 0.1 * 0.9**7 - 28 * 0.01 * 0.9**6)  # 3.8%
    assert chance_flagged(8, 1000) < 0.01 and chance_flagged(8, 10, 9) == pytest.approx(0.0)


@pytest.fixture
def store_with_prompts(tmp_path):
    store = Store(tmp_path / "k15.db")
    problems = RecurrenceTask().train_problems(6, seed=1)
    store.add_prompts(problems, source="test")
    return store, store_problems(store)


def scripted(correct_per_prompt: dict[str, int], calls: list):
    """A sampler that answers prompt p correctly correct_per_prompt[p] times out of n (the rest wrong)."""
    def sample(problems, n, prefix):
        calls.append((len(problems), n, prefix))
        out = []
        for p in problems:
            wrong = str((int(p.reference) + 1) % 10)
            k = correct_per_prompt.get(p.id, 0)
            head = prefix or "x=1 y=2 Answer:"  # a reasoned answer when no prefix is forced
            out.append([f"{head} {p.reference}" if i < k else f"{head} {wrong}" for i in range(n)])
        return out
    return sample


def test_curate_difficulty_writes_auto_labels_resumes_and_keeps_human_labels(store_with_prompts):
    store, problems = store_with_prompts
    script = {p.id: k for p, k in zip(problems, [10, 9, 5, 2, 0, 7])}
    calls = []
    first = curate_difficulty(store, problems[:4], scripted(script, calls), n=10, chunk=3)
    assert first.curated == 4 and first.events == 8 and calls == [(3, 10, ""), (1, 10, "")]
    states = store.prompt_labels()
    assert [states[p.id].pass_rate for p in problems[:4]] == [1.0, 0.9, 0.5, 0.2]
    assert [states[p.id].difficulty for p in problems[:4]] == [1, 1, 3, 5]
    assert {e["source"] for e in store.label_events()} == {"auto"}

    store.set_label(problems[4].id, "difficulty", 2, author="ann", source="studio")  # a person labels one first
    second = curate_difficulty(store, problems, scripted(script, calls), n=10)  # the interrupted run continues
    assert second.skipped == 4 and second.curated == 2 and second.kept_human == 1
    assert store.prompt_labels()[problems[4].id].difficulty == 2  # the person's label wins
    assert store.prompt_labels()[problems[4].id].pass_rate == 0.0 and store.prompt_labels()[problems[5].id].difficulty == 2

    before = len(store.label_events())
    again = curate_difficulty(store, problems, scripted(script, calls), n=10, redo=True)  # same answers: nothing new
    assert again.curated == 6 and again.events == 0 and len(store.label_events()) == before


def test_curate_hackable_flags_any_correct_guess_and_can_exclude(store_with_prompts):
    store, problems = store_with_prompts
    script = {problems[0].id: 1, problems[1].id: 8}
    calls = []
    report = curate_hackable(store, problems, scripted(script, calls), n=8, policy="exclude")
    assert calls == [(6, 8, "Answer:")]  # one batch, the task's no-reasoning prefix
    states = store.prompt_labels()
    assert report.flagged == 2 and states[problems[0].id].hackable and states[problems[1].id].hackable
    assert states[problems[0].id].excluded and not states[problems[2].id].excluded and not states[problems[2].id].hackable
    n_events = len(store.label_events())
    assert n_events == 6 + 2  # hackable true/false recorded for all six, and two exclusions
    rerun = curate_hackable(store, problems, scripted(script, calls), n=8, policy="exclude")
    assert rerun.skipped == 6 and rerun.events == 0 and len(calls) == 1  # nothing sampled again
    with pytest.raises(ValueError):
        curate_hackable(store, problems, scripted(script, calls), policy="drop")
    strict = curate_hackable(store, problems, scripted(script, calls), n=8, redo=True, min_correct=2)  # 1 of 8 no longer flags
    states = store.prompt_labels()
    assert strict.flagged == 1 and not states[problems[0].id].hackable and states[problems[1].id].hackable


def test_curate_commands_with_a_real_model(tmp_path, tiny_model_dir, capsys):
    from k15core.cli import main

    ws = tmp_path / "ws"
    ws.mkdir()
    store = Store(ws / "k15.db")
    store.add_prompts(RecurrenceTask().train_problems(5, seed=2), source="test")
    common = ["--workspace", str(ws), "--model", str(tiny_model_dir), "--quiet", "--max-new-tokens", "6"]
    assert main(["curate", "difficulty", *common, "--n", "3", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 prompts scored, 0 already done" in out and "difficulty histogram" in out
    labelled = store.prompt_labels()
    assert len(labelled) == 4 and all(s.pass_rate in (0.0, 1 / 3, 2 / 3, 1.0) and s.difficulty for s in labelled.values())
    assert {e["source"] for e in store.label_events()} == {"auto"}
    assert main(["curate", "difficulty", *common, "--n", "3"]) == 0  # rerun: only the fifth prompt is new
    assert "1 prompts scored, 4 already done" in capsys.readouterr().out
    assert main(["curate", "hackable", *common, "--n", "2", "--min-correct", "3"]) == 2  # said before any model loads
    assert "--min-correct must be between 1 and --n (2), got 3" in capsys.readouterr().err
    assert main(["curate", "hackable", *common, "--n", "2", "--policy", "flag"]) == 0
    assert "5 prompts scored" in capsys.readouterr().out
    assert all(e["source"] == "auto" for e in store.label_events() if e["field"] == "hackable") and len(
        [e for e in store.label_events() if e["field"] == "hackable"]) == 5
    assert main(["curate", "formats", "--workspace", str(ws), "--quiet"]) == 0
    assert "5 prompts checked, 0 flagged" in capsys.readouterr().out  # digit answers are all checkable
    assert main(["curate", "difficulty", *common, "--n", "0"]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, reference, kind", [
    ("What is 2+2?\n(A) 3\n(B) 4\n(C) 5", "B", "multiple choice"),
    ("Pick one. A. red B. blue", "A", "multiple choice"),
    ("Which of the following is prime: 4, 6, 7?", "(C)", "multiple choice"),
    ("Is 91 prime?", "No", "true/false"),
    ("True or false: every even number above 2 is a sum of two primes.", "unknown", "true/false"),
    ("The sum of two odd numbers is even.", "True.", "true/false"),
    ("Prove that there are infinitely many primes.", "Euclid", "proof"),
    ("Show that n^2 - n is always even.", "it is", "proof"),
    ("Describe the water cycle.", "Water evaporates from the sea, forms clouds, falls as rain and flows back to the sea again.", "free-form"),
])
def test_format_filters_flag_what_a_verifier_cannot_check(prompt, reference, kind):
    from k15core.curation import format_issue

    assert (format_issue(prompt, reference) or "").startswith(kind)


@pytest.mark.parametrize("prompt, reference", [
    ("Seq 372, steps: 4", "7"),
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many in all?", "72"),
    ("Compute 12+34. Answer: ?", "46"),
    ("Simplify (x+1)^2 - x^2.", "2x+1"),
    ("Plan A: walk 3 km. How far is the round trip?", "6"),
    ("e.g. find f(2) if f(x) = x^2 + 1.", "5"),
    ("What is the value of \\frac{1}{2} + \\frac{1}{3}?", "\\frac{5}{6}"),
])
def test_format_filters_leave_checkable_answers_alone(prompt, reference):
    from k15core.curation import format_issue

    assert format_issue(prompt, reference) is None


def test_curate_formats_labels_with_reasons_and_is_idempotent(tmp_path):
    from k15core.curation import curate_formats
    from k15core.tasks.problem import Problem

    store = Store(tmp_path / "k15.db")
    problems = [Problem(id="mc", prompt="2+2?\n(A) 3\n(B) 4", reference="B", task="arithmetic"),
                Problem(id="ok", prompt="2+2?", reference="4", task="arithmetic"),
                Problem(id="tf", prompt="Is 2 even?", reference="yes", task="arithmetic"),
                # a code problem's reference is its test cases (long JSON text), and "Print YES or NO" is checked by them
                Problem(id="code", prompt="Read n. Print YES or NO: is n even?", task="code",
                        reference='[{"input": "2\\n", "output": "YES\\n"}, {"input": "3\\n", "output": "NO\\n"}, {"input": "10\\n", "output": "YES\\n"}]')]
    store.add_prompts(problems, source="test")
    report = curate_formats(store, store_problems(store), policy="exclude")
    states = store.prompt_labels()
    assert report.flagged == 2 and "ok" not in states and "code" not in states
    assert states["mc"].format_issue.startswith("multiple choice") and states["mc"].excluded and states["tf"].excluded
    assert curate_formats(store, store_problems(store), policy="exclude").events == 0


LONG_Q = ("A farmer has 17 sheep and buys 5 more each week for 6 weeks, then sells a third of the flock at the market "
          "on Saturday. How many sheep does the farmer have left after the market closes?")


def test_dedup_finds_exact_and_near_copies_and_keeps_the_first():
    from k15core.curation import find_duplicates

    items = [
        ("a", LONG_Q),
        ("b", "  " + LONG_Q.upper().replace(" ", "   ") + " "),  # same text, other case and spacing
        ("c", LONG_Q.replace("at the market", "at a market")),  # one word changed
        ("d", LONG_Q.replace("17 sheep", "23 sheep").replace("6 weeks", "9 weeks").replace("a third", "a half")),  # other numbers: another problem
        ("e", "Seq 372, steps: 4"),
        ("f", "Seq 372, steps: 5"),  # a different short problem
        ("g", "seq 372 steps 4"),  # the same short problem, other punctuation
    ]
    found = {d.dropped: d for d in find_duplicates(items)}
    assert set(found) == {"b", "c", "g"}
    assert found["b"].kept == "a" and found["b"].kind == "exact" and found["b"].similarity == 1.0
    assert found["c"].kept == "a" and found["c"].kind == "near" and 0.8 <= found["c"].similarity < 1.0
    assert found["g"].kept == "e" and found["g"].kind == "exact"
    with pytest.raises(ValueError):
        find_duplicates(items, threshold=0)


def test_curate_duplicates_records_pairs_and_resets_when_fixed(tmp_path):
    from k15core.curation import curate_duplicates
    from k15core.tasks.problem import Problem

    store = Store(tmp_path / "k15.db")
    store.add_prompts([Problem(id="p1", prompt=LONG_Q, reference="46", task="arithmetic"),
                       Problem(id="p2", prompt=LONG_Q.replace("at the market", "at a market"), reference="46", task="arithmetic"),
                       Problem(id="p3", prompt="What is 2+2?", reference="4", task="arithmetic")], source="test")
    report = curate_duplicates(store, store_problems(store), policy="exclude")
    states = store.prompt_labels()
    assert report.flagged == 1 and states["p2"].duplicate_of["of"] == "p1" and states["p2"].duplicate_of["kind"] == "near"
    assert states["p2"].excluded and "p1" not in states and "p3" not in states
    assert curate_duplicates(store, store_problems(store), policy="exclude").events == 0  # rerun: nothing new
    remaining = [p for p in store_problems(store) if p.id != "p1"]  # its twin gone from the set: no longer a duplicate
    curate_duplicates(store, remaining)
    assert store.prompt_labels()["p2"].duplicate_of is None


def test_store_problems_apply_a_persons_reference_and_difficulty_as_the_trainer_does(store_with_prompts):
    store, problems = store_with_prompts
    first, second = problems[0], problems[1]
    store.set_label(first.id, "reference", "7", author="ann", source="studio")
    store.set_label(second.id, "difficulty", 5 if second.difficulty != 5 else 1, author="ann", source="studio")
    again = {p.id: p for p in store_problems(store)}
    assert again[first.id].reference == "7" and again[first.id].difficulty == first.difficulty
    assert again[second.id].difficulty == (5 if second.difficulty != 5 else 1) and again[second.id].reference == second.reference
    assert {p.id: p for p in problems}[problems[2].id] == again[problems[2].id]  # unlabelled: the task's own values
