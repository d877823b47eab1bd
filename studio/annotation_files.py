"""What a workspace keeps for its annotators (files next to its store, shared by everyone's studio on it), and who is
looking at which prompt now (in the studio's memory).

    annotation.json   {"overlap": k, "assignments": {prompt id: [user, ...]}}   (k15core.annotators.QueueSettings)
    guidelines.md     the labelling guidelines, Markdown, edited in the Prompts tab

Files are replaced whole (written aside, then renamed), so a reader never sees half of one.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from k15core.annotators import QueueSettings

SETTINGS_FILE = "annotation.json"
GUIDELINES_FILE = "guidelines.md"
MAX_GUIDELINES = 100_000
"""Characters; guidelines are a page or two, and every Prompts tab renders them."""
CLAIM_S = 600.0
"""How long a prompt handed out by "next for me" stays that person's while they have not labelled it."""


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_settings(root: Path) -> QueueSettings:
    """The workspace's queue settings; the defaults (overlap 1, nothing assigned) when it has none or they do not read."""
    try:
        raw = json.loads((root / SETTINGS_FILE).read_text(encoding="utf-8"))
        overlap = int(raw.get("overlap", 1))
        assignments = {str(p): tuple(str(u) for u in users) for p, users in (raw.get("assignments") or {}).items() if users}
    except (OSError, ValueError, TypeError, AttributeError):
        return QueueSettings()
    return QueueSettings(max(1, overlap), assignments)


def write_settings(root: Path, settings: QueueSettings) -> None:
    body = {"overlap": settings.overlap, "assignments": {p: list(u) for p, u in sorted(settings.assignments.items())}}
    _replace(root / SETTINGS_FILE, json.dumps(body, indent=1, ensure_ascii=False) + "\n")


def parse_assignments(text: str) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Lines `prompt id: user, user` -> (assignments, problems). Blank lines and lines starting with # are skipped."""
    out, problems = {}, []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pid, sep, users = line.partition(":")
        names = tuple(dict.fromkeys(u.strip() for u in users.split(",") if u.strip()))
        if not sep or not pid.strip() or not names:
            problems.append(f"line {n}: write `prompt id: user, user`")
            continue
        out[pid.strip()] = names
    return out, problems


def assignments_text(settings: QueueSettings) -> str:
    return "".join(f"{p}: {', '.join(u)}\n" for p, u in sorted(settings.assignments.items()))


def read_guidelines(root: Path) -> str:
    try:
        return (root / GUIDELINES_FILE).read_text(encoding="utf-8")
    except OSError:
        return ""


def write_guidelines(root: Path, text: str) -> str:
    """Save the guidelines; returns what was saved (cut at MAX_GUIDELINES characters)."""
    text = (text or "")[:MAX_GUIDELINES]
    _replace(root / GUIDELINES_FILE, text)
    return text


class Claims:
    """user -> (prompt, since): the prompt "next for me" last handed each person. Kept in this studio's memory:
    another studio process on the same workspace does not see them (its people may then be handed the same
    unlabelled prompt; a label, once written, is seen by all)."""

    def __init__(self, ttl_s: float = CLAIM_S, clock=time.monotonic):
        self._by_user: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._ttl, self._clock = ttl_s, clock

    def claim(self, user: str, prompt_id: str | None) -> None:
        with self._lock:
            if prompt_id:
                self._by_user[user] = (prompt_id, self._clock())
            else:
                self._by_user.pop(user, None)

    def current(self) -> dict[str, str]:
        """user -> prompt, for the claims not expired."""
        now = self._clock()
        with self._lock:
            self._by_user = {u: c for u, c in self._by_user.items() if now - c[1] < self._ttl}
            return {u: p for u, (p, _) in self._by_user.items()}
