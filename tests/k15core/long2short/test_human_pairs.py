"""DPO pairs marked by people: the pairing rule, `--pairs auto|human|both`, the marks as label events, and a real DPO
run on human pairs that widens the trained model's log-prob margin between chosen and rejected responses."""
from __future__ import annotations

import pytest
import torch

from k15core import labels
from k15core.errors import K15Error
from k15core.labels import HumanMark
from k15core.long2short.selection import HumanPair, Sample, choose_pairs, human_pairs
from k15core.long2short.stages import human_training_pairs, stored_human_pairs
from k15core.store import Store


def mark(tid, m, at, group=100, run=1, author=None, seq=0):
    return HumanMark(tid, m, run, group, prompt=f"p{group}", author=author or f"a{tid}", at=at, seq=seq)


def test_every_chosen_pairs_with_every_rejected_of_its_own_group_only():
    marks = [mark(101, "rejected", 1.0), mark(100, "chosen", 2.0), mark(102, "rejected", 3.0), mark(103, "chosen", 0.5),
             mark(200, "chosen", 1.0, group=200),  # another group of the same run: only chosen, so no pair
             mark(300, "rejected", 1.0, group=300, run=2), mark(301, "chosen", 1.0, group=300, run=2, seq=9)]
    pairs = human_pairs(marks)
    assert [(p.run, p.chosen, p.rejected) for p in pairs] == [(1, 100, 101), (1, 100, 102), (1, 103, 101), (1, 103, 102), (2, 301, 300)]
    # author and time: those of the mark that completed the pair (the later one; the same second: the later event)
    assert [(p.author, p.at) for p in pairs] == [("a100", 2.0), ("a102", 3.0), ("a101", 1.0), ("a102", 3.0), ("a301", 1.0)]
    assert pairs[0].prompt == "p100"
    assert human_pairs([mark(1, "chosen", 1.0, group=1), mark(2, "rejected", 1.0, group=2)]) == []  # two groups of one prompt never pair
    assert human_pairs([]) == []


def test_marks_fold_like_labels_a_mark_changed_or_taken_back_changes_the_pairs():
    def ev(seq, tid, m, author="ann", pid="p"):
        return {"seq": seq, "prompt_id": pid, "field": "preference", "author": author, "created_at": float(seq),
                "value": {"trajectory": tid, "run": 1, "group": 10, "mark": m}}

    events = [ev(1, 10, "chosen"), ev(2, 11, "rejected"), ev(3, 12, "rejected", "bob"), ev(4, 12, None),  # 12 taken back
              ev(5, 13, "chosen"), ev(6, 13, "rejected", "bob"),  # 13 changed its mind
              {"seq": 7, "prompt_id": "p", "field": "verdict", "author": "ann", "created_at": 7.0, "value": {"trajectory": 10, "correct": False}}]
    marks = labels.human_marks(events)
    assert {t: (m.mark, m.author) for t, m in marks.items()} == {10: ("chosen", "ann"), 11: ("rejected", "ann"), 13: ("rejected", "bob")}
    assert [(p.chosen, p.rejected, p.author) for p in human_pairs(marks.values())] == [(10, 11, "ann"), (10, 13, "bob")]
    assert labels.human_marks([*events, {**ev(8, 0, None), "value": None}]) == {}  # a bare null resets the prompt's marks


@pytest.mark.parametrize("value", [
    {"trajectory": 1, "run": 1, "group": 1, "mark": "best"}, {"trajectory": 1, "run": 1, "mark": "chosen"},
    {"trajectory": True, "run": 1, "group": 1, "mark": "chosen"}, {"trajectory": 1, "run": 1, "group": -1, "mark": "chosen"}, "chosen",
])
def test_a_preference_label_must_name_its_response_group_and_a_mark(value):
    with pytest.raises(ValueError):
        labels.normalise("preference", value)


def pair(prompt, chosen, rejected, ids=True):
    def s(text):
        return Sample(text, len(text), True, token_ids=tuple(ord(c) for c in text) if ids else ())
    return prompt, s(chosen), s(rejected)


def _texts(pairs):
    return [(p, c.text, r.text) for p, c, r in pairs]


def test_pairs_auto_is_todays_human_is_the_marks_both_is_the_union_once():
    auto = [pair("q1", "a", "bbb"), pair("q1", "a", "bbb"), pair("q2", "c", "ddd")]  # dpo_pairs may repeat a pair (identical samples)
    human = [pair("q2", "c", "ddd"), pair("q1", "a", "eee"), pair("q1", "a", "eee"), pair("q2", "c", "bbb")]
    assert choose_pairs("auto", auto, human) == auto  # the default: exactly what DPO trained on before, human pairs ignored
    assert _texts(choose_pairs("human", auto, human)) == [("q2", "c", "ddd"), ("q1", "a", "eee"), ("q2", "c", "bbb")]
    assert _texts(choose_pairs("both", auto, human)) == [("q1", "a", "bbb"), ("q1", "a", "bbb"), ("q2", "c", "ddd"),
                                                         ("q1", "a", "eee"), ("q2", "c", "bbb")]
    assert choose_pairs("human", [], []) == [] and choose_pairs("both", auto, []) == auto
    # the same texts on another prompt, or swapped, are other pairs; without token ids the texts decide
    assert len(choose_pairs("both", [pair("q1", "a", "b")], [pair("q2", "a", "b"), pair("q1", "b", "a"), pair("q1", "a", "b")])) == 3
    assert len(choose_pairs("human", [], [pair("q1", "a", "b", ids=False), pair("q1", "a", "b", ids=False)])) == 1
    with pytest.raises(ValueError, match="auto, human, both"):
        choose_pairs("people", auto, human)


def test_image_prompt_pairs_are_the_same_only_when_their_pictures_are():
    """The visual task's prompts of one level share one text and differ by picture: two pairs with the same text and
    tokens but other pictures are two training examples, each kept with its own encoded prompt."""
    from k15core.long2short.vision import choose_visual_pairs
    from k15core.vlm.inputs import EncodedPrompt

    def enc(address):
        return EncodedPrompt([1, 2], None, (address,))

    auto = [pair("q", "a", "bbb")]
    human = [pair("q", "a", "bbb"), pair("q", "a", "bbb"), pair("q", "a", "bbb")]
    chosen, encoded = choose_visual_pairs("both", auto, [enc("red")], human, [enc("red"), enc("blue"), enc("blue")])
    assert len(chosen) == 2 and [e.images for e in encoded] == [("red",), ("blue",)]
    chosen, encoded = choose_visual_pairs("human", auto, [enc("red")], human, [enc("red"), enc("blue"), enc("blue")])
    assert [e.images for e in encoded] == [("red",), ("blue",)] and chosen == human[:2]
    with pytest.raises(ValueError):  # a pair without its encoded prompt
        choose_visual_pairs("both", auto, [], human, [enc("red")] * 3)


STYLES = ("short", "long", "medium", "long")
"""The samples of each stored group: sample 0 is the one people prefer (shortest), the others are marked rejected."""


def stored_groups(ws, tokenizer, prompts: int = 3) -> tuple[Store, list[list[int]]]:
    """A workspace store holding one RL iteration: `prompts` groups of 4 responses (STYLES) written by the recurrence
    task's own solutions, tokenized by `tokenizer`. Returns the store and each group's trajectory ids."""
    from k15core.tasks import RecurrenceTask
    from k15core.types import TrajectoryRecord

    task, store = RecurrenceTask(), ws.store()
    problems = task.train_problems(prompts, seed=5)
    store.add_prompts(problems, source="test")
    run = store.create_run("rl:test", "rl", {})
    records = []
    for g, p in enumerate(problems):
        for s, style in enumerate(STYLES):
            text = task.solution(p, style)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            records.append(TrajectoryRecord(prompt_id=p.id, sample_index=s, prompt=p.prompt, response=text, token_ids=ids, logprobs=[-1.0] * len(ids),
                                            reward=1.0, correct=1.0, length=len(ids), reward_parts={}, difficulty=p.difficulty, tag=f"group:{g}", group=g))
    store.record_iteration(run, 0, {}, records)
    groups = [[t["id"] for t in store.trajectory_group(first)] for first in range(1, 4 * prompts + 1, 4)]
    return store, groups


def mark_group(store: Store, ids: list[int], author: str = "ann") -> None:
    """What the studio's c / r keys write: sample 0 chosen, the others rejected (`preference` label events)."""
    for i, tid in enumerate(ids):
        t = next(t for t in store.trajectory_group(tid) if t["id"] == tid)
        store.set_label(t["prompt_id"], "preference", {"trajectory": tid, "run": t["run_id"], "group": min(ids), "mark": "rejected" if i else "chosen"},
                        author=author, source="studio")


def test_marks_in_the_store_become_pairs_with_the_stored_tokens_and_undo_takes_one_back(workspace, tiny_model_dir):
    from k15core.models import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    store, groups = stored_groups(workspace, tok, prompts=2)
    mark_group(store, groups[0])
    mark_group(store, groups[1][:2], author="bob")
    pairs = stored_human_pairs(store)
    assert [(p.chosen, p.rejected, p.author) for p in pairs] == [(groups[0][0], t, "ann") for t in groups[0][1:]] + [(groups[1][0], groups[1][1], "bob")]
    assert store.undo("bob").events == 1  # bob's last mark (the rejected one) taken back: his group has no pair left
    assert [p.chosen for p in stored_human_pairs(store)] == [groups[0][0]] * 3
    assert store.set_label(pairs[0].prompt, "preference", {"trajectory": groups[0][1], "run": 1, "group": groups[0][0], "mark": "rejected"},
                           author="ann", source="studio").events == 0  # marking again as it is: nothing written
    triples, missing = human_training_pairs(store, stored_human_pairs(store), tok, "recurrence")
    assert missing == 0 and len(triples) == 3
    prompt, chosen, rejected = triples[0]
    row = store.trajectory_group(groups[0][0])
    assert prompt == row[0]["prompt"] and chosen.token_ids == tuple(row[0]["token_ids"]) and rejected.text == row[1]["response"]
    with pytest.raises(K15Error, match="task 'recurrence'.*task is 'math'"):
        human_training_pairs(store, stored_human_pairs(store), tok, "math")

    class OtherTokenizer:  # a long model of another family: its ids mean other text
        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(65 + i % 26) for i in ids)

    with pytest.raises(K15Error, match="does not read the stored tokens"):
        human_training_pairs(store, stored_human_pairs(store), OtherTokenizer(), "recurrence")
    gone = HumanPair(1, pairs[0].prompt, chosen=9999, rejected=groups[0][1], author="ann", at=0.0)  # its iteration was rolled back
    assert human_training_pairs(store, [gone, *stored_human_pairs(store)], tok, "recurrence")[1] == 1
    store.close()


def test_pairs_human_with_no_marks_is_a_clear_error(workspace, capsys):
    from k15core.cli import main

    assert main(["long2short", "dpo", "--workspace", str(workspace.root), "--quiet", "--pairs", "human"]) == 2
    err = capsys.readouterr().err
    assert "--pairs human, but nobody has marked a DPO pair" in err and "Rollouts tab" in err


def _margins(model_dir, tokenizer, triples) -> torch.Tensor:
    """log pi(chosen) - log pi(rejected) of each pair under the model in `model_dir` -> (P,)."""
    from k15core.long2short.train import _pair_sequences, sequence_logprobs
    from k15core.models import load_model

    model, _ = load_model(model_dir)
    model.eval()
    seqs = [s for prompt, c, r in triples for s in _pair_sequences(tokenizer, prompt, c, r)]
    with torch.no_grad():
        logp = sequence_logprobs(model, seqs, tokenizer.pad_token_id, torch.device("cpu")).view(-1, 2)  # (P, 2)
    return logp[:, 0] - logp[:, 1]


@pytest.mark.slow
def test_dpo_on_human_pairs_widens_the_margin_between_chosen_and_rejected(workspace, tiny_model_dir, capsys):
    """`k15 long2short dpo --pairs human` on the tiny model: it trains on exactly the marked pairs, and afterwards the
    model gives every chosen response more log-probability relative to its rejected one than before."""
    from k15core.cli import main
    from k15core.models import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    store, groups = stored_groups(workspace, tok, prompts=3)
    for ids in groups:
        mark_group(store, ids)
    triples, _ = human_training_pairs(store, stored_human_pairs(store), tok, "recurrence")
    store.close()
    sets = ["long2short.dpo_lr=1e-3", "long2short.dpo_epochs=4", "long2short.dpo_batch_size=3", "long2short.dpo_nll=0"]
    argv = ["long2short", "dpo", "--workspace", str(workspace.root), "--quiet", "--long", str(tiny_model_dir), "--pairs", "human", "--out", "dpo-h"]
    assert main([*argv, *[x for kv in sets for x in ("--set", kv)]]) == 0
    out = capsys.readouterr().out
    # 3 groups x (1 chosen x 3 rejected) = 9 pairs; samples 1 and 3 of a group are the same long answer: 6 distinct
    assert "DPO: 6 pairs marked by people on 3 prompts; 3 duplicate pairs dropped" in out, out
    before, after = _margins(tiny_model_dir, tok, triples), _margins(workspace.model_dir("dpo-h"), tok, triples)
    print(f"margin chosen - rejected, mean over {len(triples)} pairs: {before.mean():.2f} -> {after.mean():.2f} nats")
    assert after.mean() > before.mean() + 1.0 and bool((after > before).all()), (before, after)
    runs = Store(workspace.root / "k15.db").runs(kind="long2short")
    assert runs[-1]["config"]["pairs"] == "human"
