"""Prompts and their label history: idempotent label writes and undo (the fold itself is `k15core.labels`)."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from k15core import annotators, labels
from k15core.store import schema as S
from k15core.store.base import StoreBase


@dataclass(frozen=True)
class LabelWrite:
    """What a label write did: the action id of the rows it wrote (None: nothing changed) and how many."""

    action: str | None
    events: int
    undid: str | None = None
    """For an undo: the action it took back."""


class UnknownPrompts(ValueError):
    """A label write named prompt ids the store does not hold; nothing was written."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        super().__init__(f"no prompt with id{'s' if len(missing) > 1 else ''} {shown} (nothing written)")


def _prompt_row(row) -> dict:
    """A prompts row as callers read it: the JSON `images` column as a list of addresses."""
    out = dict(row)
    out["images"] = json.loads(out["images"]) if out.get("images") else []
    return out


def _new_action() -> str:
    return uuid.uuid4().hex[:16]


class LabelsMixin(StoreBase):
    """The `prompts` table and the append-only `label_events` table."""

    def add_prompts(self, problems: list, source: str) -> int:
        """Insert problems (objects with id, prompt, reference, task, difficulty and, for image prompts, `images`: the
        addresses of images already in the workspace's image store); existing ids are kept as they are,
        and so is the first of several problems with one id in `problems`.

        Returns the number of new prompts. All rows go in one transaction: a failure adds none.
        """
        now = time.time()
        first: dict[str, dict] = {}
        for p in problems:
            images = list(getattr(p, "images", ()) or ())
            first.setdefault(p.id, dict(id=p.id, text=p.prompt, reference=p.reference, task=p.task, difficulty=int(p.difficulty),
                                        source=source, created_at=now, images=json.dumps(images) if images else None))
        rows = list(first.values())

        def write(conn: Connection) -> int:
            existing = set(conn.execute(select(S.prompts.c.id).where(S.prompts.c.id.in_([r["id"] for r in rows]))).scalars())
            new = [r for r in rows if r["id"] not in existing]
            if new:
                conn.execute(S.prompts.insert(), new)
            return len(new)

        return self._write(write) if rows else 0

    def prompt(self, prompt_id: str) -> dict | None:
        row = self._read(lambda c: c.execute(select(S.prompts).where(S.prompts.c.id == prompt_id)).mappings().first())
        return _prompt_row(row) if row else None

    def prompts(self) -> list[dict]:
        """Every prompt row, by id; `images` is the list of its image addresses ([] for a text prompt)."""
        return [_prompt_row(r) for r in self._read(lambda c: c.execute(select(S.prompts).order_by(S.prompts.c.id)).mappings().all())]

    def add_label_event(self, prompt_id: str, field: str, value: Any, author: str, source: str) -> int:
        """Append one raw label event (no check, no de-duplication). Tools should prefer `set_label`."""
        row = dict(prompt_id=prompt_id, field=field, value=json.dumps(value), author=author, source=source, created_at=time.time(), action=_new_action())
        return self._write(lambda c: c.execute(S.label_events.insert().values(**row)).inserted_primary_key[0])

    def set_label(self, prompt_ids: str | list[str], field: str, value: Any, author: str, source: str, *,
                  known_only: bool = False) -> LabelWrite:
        """Give one label to one or many prompts as one user action; idempotent.

        Only prompts whose recorded value differs, or (a person, not a machine source) whose value from this
        author differs, get an event, so a UI event that fires twice writes one row, and a bulk action over a filter writes rows for the prompts it changes. All rows go in
        one transaction and share one action id (undo takes the whole action back). ValueError for a
        label that does not validate (nothing is written). With `known_only` (the studio: ids typed by
        a person or sent to its API), UnknownPrompts when any id is not in the prompts table, checked in
        the same transaction (nothing is written).
        """
        ids = [prompt_ids] if isinstance(prompt_ids, str) else list(dict.fromkeys(prompt_ids))
        field, value = labels.normalise(field, value)
        action = _new_action()

        def write(conn: Connection) -> int:
            if known_only:
                missing = self._missing_prompts(conn, ids)
                if missing:
                    raise UnknownPrompts(missing)
            events = self._events_of(conn, ids)
            recorded = labels.last_values(events)
            # per person: another person's equal value is not this person's review (agreement, the queue's overlap)
            mine = {} if source in annotators.MACHINE_SOURCES else annotators.own_values(events).get(author, {})
            now = time.time()
            rows = [
                dict(prompt_id=pid, field=field, value=json.dumps(value), author=author, source=source, created_at=now, action=action)
                for pid in ids
                if recorded.get((pid, labels.slot(field, value))) != value
                or (source not in annotators.MACHINE_SOURCES and mine.get((pid, labels.slot(field, value))) != value)
            ]
            if rows:
                conn.execute(S.label_events.insert(), rows)
            return len(rows)

        written = self._write(write) if ids else 0
        return LabelWrite(action=action if written else None, events=written)

    def undo(self, author: str, action: str | None = None) -> LabelWrite:
        """Take back `author`'s newest action that is not undone yet (or exactly `action`, if still undone-able).

        Writes, for every event of that action, an event restoring the value the field had before it;
        the new events record the action they undo. Undoing an action twice does nothing the second
        time, so a double-fired Undo button cannot take back two actions.
        """
        E = S.label_events

        def write(conn: Connection) -> LabelWrite:
            undone = set(conn.execute(select(E.c.undoes).where(E.c.undoes.is_not(None))).scalars())
            if action is None:
                q = select(E.c.action).where(E.c.author == author, E.c.undoes.is_(None)).order_by(E.c.seq.desc())
                target = next((a for a in conn.execute(q).scalars() if a not in undone), None)
            else:
                target = action if action not in undone else None
            if target is None:
                return LabelWrite(action=None, events=0, undid=None)
            events = conn.execute(select(E).where(E.c.action == target).order_by(E.c.seq)).mappings().all()
            if not events:
                return LabelWrite(action=None, events=0, undid=None)
            new_action, now, rows = _new_action(), time.time(), []
            for ev in events:
                before = conn.execute(select(E).where(E.c.prompt_id == ev["prompt_id"], E.c.seq < ev["seq"]).order_by(E.c.seq)).mappings().all()
                state = labels.fold({**b, "value": json.loads(b["value"])} for b in before).get(ev["prompt_id"], labels.DEFAULT)
                field, _ = labels.normalise(ev["field"], None)
                try:  # the undone event's own value says which trajectory a verdict was about
                    _, like = labels.normalise(field, json.loads(ev["value"]))
                except ValueError:
                    like = None
                rows.append(dict(prompt_id=ev["prompt_id"], field=field, value=json.dumps(labels.value_of(state, field, like)), author=author,
                                 source=ev["source"], created_at=now, action=new_action, undoes=target))
            conn.execute(E.insert(), rows)
            return LabelWrite(action=new_action, events=len(rows), undid=target)

        return self._write(write)

    @staticmethod
    def _missing_prompts(conn: Connection, prompt_ids: list[str]) -> list[str]:
        found: set[str] = set()
        for i in range(0, len(prompt_ids), 500):  # stay under SQLite's bound-parameter limit
            found.update(conn.execute(select(S.prompts.c.id).where(S.prompts.c.id.in_(prompt_ids[i:i + 500]))).scalars())
        return [pid for pid in prompt_ids if pid not in found]

    @staticmethod
    def _events_of(conn: Connection, prompt_ids: list[str]) -> list[dict]:
        rows: list[dict] = []
        for i in range(0, len(prompt_ids), 500):  # stay under SQLite's bound-parameter limit
            q = select(S.label_events).where(S.label_events.c.prompt_id.in_(prompt_ids[i:i + 500]))
            rows += [{**r, "value": json.loads(r["value"])} for r in conn.execute(q).mappings()]
        return sorted(rows, key=lambda r: r["seq"])

    def label_events(self, since_seq: int = 0, prompt_ids: list[str] | None = None) -> list[dict]:
        """Label events with seq > since_seq (of these prompts, if given), oldest first."""
        if prompt_ids is not None:
            return [r for r in self._read(lambda c: self._events_of(c, list(prompt_ids))) if r["seq"] > since_seq]
        q = select(S.label_events).where(S.label_events.c.seq > since_seq).order_by(S.label_events.c.seq)
        return [{**r, "value": json.loads(r["value"])} for r in self._read(lambda c: c.execute(q).mappings().all())]

    def prompt_labels(self, prompt_ids: list[str] | None = None) -> dict[str, labels.PromptLabels]:
        """Current labels of the prompts that have any (all of them, or these)."""
        return labels.fold(self.label_events(prompt_ids=prompt_ids))
