"""Format filters (report §2.1, "accurate evaluability"): answers a verifier cannot check reliably.

Multiple-choice and true/false questions reward a guess; proofs and free-form text have no single
final answer to compare. Each rule looks at the prompt and its reference answer and returns the
reason it fired, so a person can judge the call in the studio. The rules are heuristics (choice):
they aim to catch the common phrasings of those formats and to leave numeric and expression answers
(what the verifiers check well) alone.
"""
from __future__ import annotations

import re

_OPTION = re.compile(r"(?:^|\s|\n)\(?([A-Ea-e])[\).:]\s+\S", re.M)
_MC_PHRASE = re.compile(r"\bwhich of the following\b|\bchoose (?:the|one)\b|\bselect (?:the|one)\b|\boptions?:", re.I)
_LETTER_ANSWER = re.compile(r"^\(?[A-E]\)?\.?$")
_TF_PHRASE = re.compile(r"\btrue or false\b|\btrue/false\b|\(t/f\)|\byes or no\b|\byes/no\b", re.I)
_TF_ANSWER = {"true", "false", "yes", "no", "t", "f", "correct", "incorrect"}
_PROOF_PHRASE = re.compile(r"\bprove\b|\bproof\b|\bshow that\b|\bdemonstrate that\b|\bjustify why\b", re.I)
FREE_FORM_WORDS = 12
"""A reference of more words than this is free text, not a final answer a verifier can match."""


def format_issue(prompt: str, reference: str) -> str | None:
    """Why this prompt's answer cannot be verified reliably ("multiple choice: ...", ...), or None."""
    ref = reference.strip()
    letters = {m.group(1).upper() for m in _OPTION.finditer(prompt)}
    if len(letters) >= 2 and ({"A", "B"} <= letters):
        return f"multiple choice: options {', '.join(sorted(letters))} in the prompt"
    if _MC_PHRASE.search(prompt) and _LETTER_ANSWER.match(ref):
        return f"multiple choice: asks to choose, answer {ref!r}"
    if ref.lower().rstrip(".") in _TF_ANSWER:
        return f"true/false: the answer is {ref!r}"
    if _TF_PHRASE.search(prompt):
        return "true/false: the prompt asks for true or false"
    if _PROOF_PHRASE.search(prompt):
        return f"proof: the prompt asks to {_PROOF_PHRASE.search(prompt).group(0).lower()}"
    if not ref:
        return "no reference answer"
    if len(ref.split()) > FREE_FORM_WORDS:
        return f"free-form answer: the reference has {len(ref.split())} words"
    return None
