"""Questions a researcher asks of a run in the store, as plain functions (the studio and notebooks show the answers)."""
from __future__ import annotations

import statistics

from k15core.store import Store

SUSPICION_ORDER = {"odd length, high reward": 0, "identical samples": 1, "same reward": 2}


def suspicious_groups(store: Store, run_id: int, limit: int = 100) -> list[dict]:
    """Groups worth a human look, most telling first, each with the id of a sample to open (`open_id`):

    - `identical samples`: a group whose k responses are all the same text (a collapsed policy, or a
      template that games the verifier);
    - `same reward`: every sample got the same reward (nothing to learn; often all-correct easy prompts
      or a broken verifier);
    - `odd length, high reward`: a correct response whose length is far outside the usual range of
      correct responses at its difficulty (below half or above twice the median; levels with at least 8
      correct responses). A correct answer with almost no reasoning on a hard prompt is how a hack
      usually looks.
    Each item: reason, iteration, prompt_id, difficulty, detail, open_id.
    """
    items = []
    for g in store.group_stats(int(run_id)):
        base = {"iteration": g["iteration"], "prompt_id": g["prompt_id"], "difficulty": g["difficulty"], "open_id": g["first_id"]}
        if g["k"] > 1 and g["distinct"] == 1:
            items.append({"reason": "identical samples", **base, "detail": f"all {g['k']} responses identical"})
        if g["k"] > 1 and g["reward_min"] == g["reward_max"]:
            items.append({"reason": "same reward", **base, "detail": f"all {g['k']} got {g['reward_min']:.2f}"})
    correct = store.correct_lengths(int(run_id))
    by_level: dict[int, list[int]] = {}
    for r in correct:
        by_level.setdefault(r["difficulty"], []).append(r["length"])
    medians = {d: statistics.median(v) for d, v in by_level.items() if len(v) >= 8}
    for r in correct:
        med = medians.get(r["difficulty"])
        if med and (r["length"] < 0.5 * med or r["length"] > 2 * med):
            items.append({"reason": "odd length, high reward", "iteration": r["iteration"], "prompt_id": r["prompt_id"], "difficulty": r["difficulty"],
                          "detail": f"{r['length']} tokens vs median {med:.0f}, reward {r['reward']:.2f}", "open_id": r["id"]})
    items.sort(key=lambda x: (SUSPICION_ORDER[x["reason"]], -x["iteration"]))
    return items[:limit]
