"""The chain-of-thought reward model of report §2.3.5, and the verifiers that choose between it and the task's rule.

    verdict.py     pure: the judge's question (`judge_prompt`) and the strict reading of its answer (`read_verdict`)
    model.py       `CoTJudge` over a `Completer` (`HFCompleter`: any local Hugging Face causal LM, batched)
    verifiers.py   the `VERIFIERS` registry (`rl.verifier`): rule | judge | rule_then_judge
    agreement.py   how often the judge agrees with people and with math-verify (`k15 judge agreement`)
    config.py      `JudgeConfig`, the `judge:` config section
"""
from k15core.judge.config import JudgeConfig
from k15core.judge.model import CoTJudge, HFCompleter, VerifyItem, malformed_share
from k15core.judge.verdict import judge_prompt, read_verdict, strict_verdict
from k15core.judge.verifiers import VERIFIERS, make_verifier, verify_finished

__all__ = ["JudgeConfig", "CoTJudge", "HFCompleter", "VerifyItem", "malformed_share", "judge_prompt", "read_verdict", "strict_verdict",
           "VERIFIERS", "make_verifier", "verify_finished"]
