"""How far annotators agree: Cohen's kappa per field between each pair of people, and the prompts where they differ.

Pure functions over each person's own labels (`k15core.annotators.own_values`). Kappa compares two people over
the prompts both of them labelled in that field: p_o the share where they gave the same value, p_e the share
expected by chance from how often each used each value, kappa = (p_o - p_e) / (1 - p_e). (No sklearn in this
environment, and the formula is four lines.)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Hashable, Sequence

FIELDS = ("status", "difficulty")
"""The fields compared: the one-key decisions of the focus view."""


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels of the same items; None when undefined (no items, or chance agreement is
    already 1: both gave one and the same value to everything, where kappa is 0/0).

    >>> cohen_kappa(["y", "y", "n", "n"], ["y", "n", "n", "n"])
    0.5
    """
    if len(a) != len(b):
        raise ValueError(f"two raters must label the same items ({len(a)} vs {len(b)} labels)")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[v] * cb[v] for v in ca) / (n * n)
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class PairAgreement:
    field: str
    a: str
    b: str
    n: int
    """Prompts both people labelled in this field."""
    observed: float | None
    """Share of those where they gave the same value."""
    kappa: float | None


def _per_field(values: dict[tuple[str, str], Any], fld: str) -> dict[str, Any]:
    return {pid: v for (pid, slot), v in values.items() if slot == fld and v is not None}


def agreement(own: dict[str, dict[tuple[str, str], Any]], fields: Sequence[str] = FIELDS) -> list[PairAgreement]:
    """One row per field and pair of people (in name order) who labelled at least one prompt in common."""
    rows = []
    for fld in fields:
        by_person = {who: _per_field(v, fld) for who, v in own.items()}
        for a, b in combinations(sorted(by_person), 2):
            common = sorted(by_person[a].keys() & by_person[b].keys())
            if not common:
                continue
            xa, xb = [by_person[a][p] for p in common], [by_person[b][p] for p in common]
            rows.append(PairAgreement(fld, a, b, len(common), sum(x == y for x, y in zip(xa, xb)) / len(common), cohen_kappa(xa, xb)))
    return rows


@dataclass(frozen=True)
class Conflict:
    prompt_id: str
    field: str
    values: tuple[tuple[str, Any], ...]
    """(person, their latest value) of everyone who labelled the field, by name."""


def conflicts(own: dict[str, dict[tuple[str, str], Any]], fields: Sequence[str] = FIELDS) -> list[Conflict]:
    """The prompts where two people's latest values of a field differ, by prompt then field."""
    out = []
    for fld in fields:
        seen: dict[str, list[tuple[str, Any]]] = {}
        for who in sorted(own):
            for pid, v in _per_field(own[who], fld).items():
                seen.setdefault(pid, []).append((who, v))
        out += [Conflict(pid, fld, tuple(vals)) for pid, vals in seen.items() if len({repr(v) for _, v in vals}) > 1]
    order = {f: i for i, f in enumerate(fields)}
    return sorted(out, key=lambda c: (c.prompt_id, order[c.field]))
