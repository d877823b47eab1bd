"""Which responses long2short learns from (report §2.4): the shortest correct one, and DPO pairs, automatic or
marked by people.

Pure functions over `Sample`s (one prompt's sampled responses) and people's marks, so the rules are tested on
hand-made inputs. Lengths are in tokens.

Choices the report leaves open (spec §7.3):
- "1.5 times longer" reads as `length >= ratio * chosen` by default (`inclusive=False` for `>`).
- Every rejected response of a prompt makes a pair with its chosen response (no cap unless
  `max_pairs` is given); ties in length are broken by sample order, so results are reproducible.

Human pairs (not in the report; the studio's group view): a person marks stored responses chosen or rejected
(`preference` label events, k15core.labels), and `human_pairs` makes every chosen x every rejected response of
one group a pair. `choose_pairs` is `k15 long2short dpo --pairs auto|human|both`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, TypeVar

from k15core.labels import HumanMark


@dataclass(frozen=True)
class Sample:
    """One sampled response to a prompt."""

    text: str
    length: int
    correct: bool
    index: int = 0
    token_ids: tuple[int, ...] = ()  # the response's tokens as generated (DPO scores exactly these)


def shortest_correct(samples: list[Sample]) -> Sample | None:
    """The shortest correct response (the first such on a tie), or None when none is correct."""
    correct = [s for s in samples if s.correct]
    return min(correct, key=lambda s: (s.length, s.index)) if correct else None


def dpo_pairs(samples: list[Sample], ratio: float = 1.5, inclusive: bool = True, max_pairs: int | None = None) -> list[tuple[Sample, Sample]]:
    """(chosen, rejected) pairs: chosen is the shortest correct response; rejected are the wrong
    responses longer than it and the correct ones at least `ratio` times as long. Longest first,
    so `max_pairs` keeps the clearest contrasts."""
    if ratio < 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}")
    chosen = shortest_correct(samples)
    if chosen is None:
        return []

    def too_long(s: Sample) -> bool:
        return s.length >= ratio * chosen.length if inclusive else s.length > ratio * chosen.length

    rejected = [s for s in samples if s is not chosen and s.length > chosen.length and (not s.correct or too_long(s))]
    rejected.sort(key=lambda s: (-s.length, s.index))
    return [(chosen, r) for r in rejected[:max_pairs]]


@dataclass(frozen=True)
class HumanPair:
    """A DPO pair people made in the studio: two responses of one group, stored in the run store."""

    run: int
    prompt: str
    """The prompt's id."""
    chosen: int
    """Trajectory id of the preferred response."""
    rejected: int
    """Trajectory id of the other."""
    author: str
    """Who made the pair: the author of the later of its two marks (the one that completed it)."""
    at: float
    """When: that mark's time (UNIX seconds)."""


def human_pairs(marks: Iterable[HumanMark]) -> list[HumanPair]:
    """The pairing rule: within one group (same run and group: the k samples of one prompt a person saw side by
    side), every response marked chosen pairs with every response marked rejected. Marks in different groups never
    pair, even on the same prompt; a group with only one kind of mark gives none. Sorted by (run, group, chosen,
    rejected), so the order is reproducible.

    >>> m = lambda t, mark, at, group=10: HumanMark(t, mark, run=1, group=group, prompt="p", author=f"a{t}", at=at)
    >>> [(p.chosen, p.rejected, p.author) for p in human_pairs([m(10, "chosen", 1.0), m(11, "rejected", 2.0),
    ...                                                         m(12, "rejected", 0.5), m(20, "rejected", 3.0, group=20)])]
    [(10, 11, 'a11'), (10, 12, 'a10')]
    """
    groups: dict[tuple[int, int], list[HumanMark]] = defaultdict(list)
    for m in marks:
        groups[m.run, m.group].append(m)
    out = []
    for key in sorted(groups):
        chosen = sorted((m for m in groups[key] if m.mark == "chosen"), key=lambda m: m.trajectory)
        rejected = sorted((m for m in groups[key] if m.mark == "rejected"), key=lambda m: m.trajectory)
        for c in chosen:
            for r in rejected:
                last = max(c, r, key=lambda m: (m.at, m.seq))
                out.append(HumanPair(key[0], c.prompt, c.trajectory, r.trajectory, last.author, last.at))
    return out


PAIR_SOURCES = ("auto", "human", "both")
"""`k15 long2short dpo --pairs`: the automatic pairs (default), people's pairs only, or both."""


def pair_content(prompt: str, chosen: Sample, rejected: Sample) -> tuple:
    """What makes two pairs the same training example: the prompt and both responses' tokens (texts without them)."""
    if chosen.token_ids and rejected.token_ids:
        return prompt, chosen.token_ids, rejected.token_ids
    return prompt, chosen.text, rejected.text


Item = TypeVar("Item")
"""A pair, or a pair with what else makes it one training example (`choose_pairs`)."""


def choose_pairs(source: str, auto: list[Item], human: list[Item], key: Callable[[Item], Hashable] | None = None) -> list[Item]:
    """The (prompt, chosen, rejected) pairs DPO trains on for `--pairs source`:

    - auto: `auto` as it is (today's behaviour: `dpo_pairs` decides, repeats included);
    - human: `human`, each pair once (two groups can hold the same two responses);
    - both: `auto`, then every human pair that is not already there.

    Two pairs are the same when prompt, chosen and rejected tokens are (`pair_content`); `key(item)` says what
    makes two items the same instead, for items that carry more than the pair (an image prompt's pictures).

    >>> a, b, c = (Sample(t, len(t), True) for t in ("a", "bb", "ccc"))
    >>> [(x.text, y.text) for _, x, y in choose_pairs("both", [("q", a, b)], [("q", a, b), ("q", a, c), ("q", a, c)])]
    [('a', 'bb'), ('a', 'ccc')]
    """
    if source not in PAIR_SOURCES:
        raise ValueError(f"unknown pair source {source!r}; use one of {', '.join(PAIR_SOURCES)}")
    key = key or (lambda pair: pair_content(*pair))
    out = list(auto) if source != "human" else []
    seen = {key(p) for p in out}
    for p in human if source != "auto" else []:
        if key(p) not in seen:
            seen.add(key(p))
            out.append(p)
    return out
