"""`k15 judge agreement`: how often the chain-of-thought judge (report §2.3.5) agrees with people and with math-verify.

    k15 judge agreement --model smollm2 [--labelled assets/judge/agreement.jsonl] [--workspace WS] [--set judge.max_new_tokens=384]

Prints JSON: on the labelled set, the judge, math-verify (the `math` task's rule) and rule-then-judge against the human
labels (agreement, Cohen's κ), the judge against math-verify, its malformed share, and each kind of row; then the same
for the verdicts people gave in the workspace's Rollouts tab ("studio"), with the verdict stored at training time.
The judge is asked with the `judge:` config (greedy, judge.max_new_tokens, judge.batch_size), as `rl.verifier` asks it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from k15core.cli.common import add_common, setup


def register(sub) -> None:
    p = sub.add_parser("judge", help="the chain-of-thought reward model (report §2.3.5): measure its agreement with people and math-verify")
    jsub = p.add_subparsers(dest="judge_command", required=True)
    pa = jsub.add_parser("agreement", help="agreement and Cohen's κ of a judge model with human labels and math-verify (prints JSON)")
    add_common(pa)
    pa.add_argument("--model", required=True, help="judge model: a local Hugging Face folder or a workspace model name (smollm2 is imported on first use)")
    pa.add_argument("--labelled", help="labelled JSONL set (default: assets/judge/agreement.jsonl, 80 rows)")
    pa.add_argument("--limit", type=int, help="only the first N rows of the set")
    pa.add_argument("--rows", help="also write every row's verdicts and the judge's whole output to this JSONL file")
    pa.add_argument("--no-studio", action="store_true", help="leave out the verdicts people gave in the workspace's Rollouts tab")
    pa.set_defaults(func=cmd_agreement)


def cmd_agreement(args) -> int:
    from k15core.judge.agreement import SHIPPED_SET, load_labelled, set_report
    from k15core.stages import load_judge, resolve_model

    cfg, ws = setup(args)
    rows = load_labelled(args.labelled or SHIPPED_SET)[: args.limit]
    path = resolve_model(ws, args.model)
    t0 = time.perf_counter()
    judge = load_judge(path, cfg.judge)
    loaded = time.perf_counter()
    judged, rule, chained = verdicts_three_ways(judge, [r.item for r in rows])
    report = {"model": str(path), "labelled": str(args.labelled or SHIPPED_SET), **set_report(rows, judged, rule, chained)}
    report["seconds"] = {"load": round(loaded - t0, 2), "judge": round(time.perf_counter() - loaded, 2)}
    if not args.no_studio:
        report["studio"] = studio_report(ws, judge)
    if args.rows:
        with Path(args.rows).open("w", encoding="utf-8") as f:
            for r, j, m, c in zip(rows, judged, rule, chained):
                f.write(json.dumps({"id": r.id, "kind": r.kind, "label": r.label, "judge": j.correct, "malformed": j.malformed,
                                    "math_verify": m.correct, "rule_then_judge": c.correct, "judge_output": j.reasoning}, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def verdicts_three_ways(judge, items):
    """(judge, math-verify, rule-then-judge) verdicts on the same items; the chained ones reuse the other two (the judge is
    greedy by default, so asking it again would only cost time)."""
    from k15core.judge.verifiers import RuleVerifier, readable, route
    from k15core.tasks import TASKS

    task = TASKS.get("math")()
    judged, rule = judge(items), RuleVerifier(task)(items)
    use_rule = [readable(task, i.response) for i in items]
    chained = route(use_rule, [v for v, u in zip(rule, use_rule) if u], [v for v, u in zip(judged, use_rule) if not u])
    return judged, rule, chained


def studio_report(ws, judge) -> dict:
    """The workspace's human verdicts (Rollouts tab) against the judge now, math-verify, and the verdict stored at training."""
    from k15core.judge.agreement import compare, studio_rows

    if not ws.has_store():
        return {"n": 0}
    store = ws.store()
    try:
        rows, stored = studio_rows(store)
    finally:
        store.close()
    if not rows:
        return {"n": 0}
    human = [r.label for r in rows]
    judged, rule, _ = verdicts_three_ways(judge, [r.item for r in rows])
    kept = [(s.correct, h) for s, h in zip(stored, human) if s is not None]
    return {"n": len(rows), "judge_vs_human": compare([v.correct for v in judged], human),
            "judge_malformed_share": round(sum(v.malformed for v in judged) / len(rows), 4),
            "math_verify_vs_human": compare([v.correct for v in rule], human),
            "stored_verdict_vs_human": compare([k[0] for k in kept], [k[1] for k in kept])}
