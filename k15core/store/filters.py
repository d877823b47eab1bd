"""`TrajectoryFilter`: what the Rollouts tab filters trajectories on, as SQLAlchemy conditions.

Kept apart from the store so a filter can be built, compared and turned into SQL without a database;
`TrajectoriesMixin.where` adds the id bounds that only the data can give. `TimedRegexp` is the REGEXP
function a regex filter runs with on SQLite when its caller sets a time limit (the studio does: the pattern is user
input); PostgreSQL runs its own `~` under statement_timeout instead (backends.py). `AnyCaseLike` is the substring
filter, blind to ASCII case on both databases.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import regex

from sqlalchemy import Boolean, ColumnElement, literal, or_, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from k15core.store import schema as S


@dataclass(frozen=True)
class TrajectoryFilter:
    """What the Rollouts tab filters on. None means "any".

    >>> [str(c) for c in TrajectoryFilter(run_id=1, tag="rl").conditions()]
    ['trajectories.run_id = :run_id_1', 'trajectories.group_id IS NOT NULL']
    >>> [str(c) for c in TrajectoryFilter(tag="free").conditions()]
    ['trajectories.tag = :tag_1']
    """

    run_id: int | None = None
    iteration_min: int | None = None
    iteration_max: int | None = None
    prompt_id: str | None = None
    text: str | None = None
    """Matched against prompt and response: a substring, or a regular expression when `regex`."""
    regex: bool = False
    correct: bool | None = None
    length_min: int | None = None
    length_max: int | None = None
    truncated: bool | None = None
    repeated: bool | None = None
    difficulty_min: int | None = None
    difficulty_max: int | None = None
    """The prompt's difficulty level when it was sampled (the `difficulty` column), both ends included."""
    tag: str | None = None
    """'rl' for training samples (those with an RL group), an evaluation style ('free', 'long', ...) or an exact tag."""

    def conditions(self) -> list:
        T = S.trajectories
        out = []
        if self.run_id is not None:
            out.append(T.c.run_id == self.run_id)
        # `+ 0`: the planner stays off the (run_id, iteration) index; Store.where walks the (run_id, id) index
        # inside id bounds instead, newest first, and stops at its limit
        if self.iteration_min is not None:
            out.append(T.c.iteration + 0 >= self.iteration_min)
        if self.iteration_max is not None:
            out.append(T.c.iteration + 0 <= self.iteration_max)
        if self.prompt_id:
            out.append(T.c.prompt_id == self.prompt_id)
        if self.text:
            if self.regex:
                re.compile(self.text)  # a bad pattern is the user's error, said before SQL sees it
                out.append(or_(T.c.response.regexp_match(self.text), T.c.prompt.regexp_match(self.text)))
            else:
                needle = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                out.append(or_(AnyCaseLike(T.c.response, needle), AnyCaseLike(T.c.prompt, needle)))
        if self.correct is not None:
            out.append(T.c.correct > 0 if self.correct else T.c.correct <= 0)
        if self.length_min is not None:
            out.append(T.c.length >= self.length_min)
        if self.length_max is not None:
            out.append(T.c.length <= self.length_max)
        if self.truncated is not None:
            out.append(T.c.truncated == self.truncated)
        if self.repeated is not None:
            out.append(T.c.repeated == self.repeated)
        if self.difficulty_min is not None:
            out.append(T.c.difficulty >= self.difficulty_min)
        if self.difficulty_max is not None:
            out.append(T.c.difficulty <= self.difficulty_max)
        if self.tag:
            out.append(T.c.group_id.is_not(None) if self.tag == "rl" else T.c.tag == self.tag)
        return out


class AnyCaseLike(ColumnElement[bool]):
    """`column LIKE pattern ESCAPE '\\'`, blind to the case of ASCII letters on both databases: SQLite's LIKE is, and
    PostgreSQL's is not, so there it is ILIKE (which also folds non-ASCII letters).

    >>> str(AnyCaseLike(S.trajectories.c.response, "%x%"))
    "trajectories.response LIKE :param_1 ESCAPE '\\\\'"
    """

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("pattern", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, pattern: str):
        self.column, self.pattern = column, literal(pattern)


@compiles(AnyCaseLike)
def _like(element: AnyCaseLike, compiler, **kw) -> str:
    return compiler.process(element.column.like(element.pattern, escape="\\"), **kw)


@compiles(AnyCaseLike, "postgresql")
def _ilike(element: AnyCaseLike, compiler, **kw) -> str:
    return compiler.process(element.column.ilike(element.pattern, escape="\\"), **kw)


class RegexTimeout(TimeoutError):
    """A regex filter ran past its time limit; the query was abandoned (nothing partial is returned)."""

    def __init__(self, pattern: str, seconds: float):
        self.pattern = pattern
        self.seconds = seconds
        super().__init__(f"the regular expression {pattern!r} took longer than {seconds:g} s")


class TimedRegexp:
    """SQLite's REGEXP(pattern, value) for one query, under one deadline for the whole query.

    Why the `regex` package and not a guard around `re`: `re` holds the GIL for the whole of one match, so
    a pattern with catastrophic backtracking (`(.|.)*!`) freezes every thread of the process, the studio's
    event loop included, and nothing can stop it: SQLite's progress handler runs between VM steps, never
    inside a user function, and Python cannot kill a thread (a worker process per search could be killed,
    but needs its own store and a process start per search). `regex` releases the GIL while it matches a
    str (other threads, the event loop included, keep running) and takes `timeout=`, so each row's match
    gets the time left before the deadline and the query ends within it (it also fails many such patterns
    at once: `(.|.)*!` on a text without '!').
    It is re-compatible in its default VERSION0 mode; the filter still validates the pattern with `re`.

    A user function cannot stop a query cleanly: raising in it makes sqlite3 abort the statement with
    "user-defined function raised exception"; `timed_out` says the abort was this deadline.

    >>> m = TimedRegexp(r"(.|.)*[#~]", seconds=0.2)
    >>> m(r"(.|.)*[#~]", "Answer: 42"), m(r"(.|.)*[#~]", None)
    (False, None)
    >>> try:
    ...     m(r"(.|.)*[#~]", "Answer: the sequence goes 1, 2, 3, 5, 8 and so on, so x = 42")
    ... except TimeoutError:
    ...     print("timed out:", m.timed_out)
    timed out: True
    """

    def __init__(self, pattern: str, seconds: float):
        self.pattern = pattern
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.timed_out = False
        self._compiled = {pattern: self._compile(pattern)}

    @staticmethod
    def _compile(pattern: str) -> regex.Pattern:
        try:
            return regex.compile(pattern)
        except regex.error as err:  # one `re` accepted: still the user's pattern, said as a bad pattern
            raise re.error(str(err)) from None

    def __call__(self, pattern: str, value: str | None) -> bool | None:
        if value is None:
            return None
        compiled = self._compiled.get(pattern) or self._compiled.setdefault(pattern, self._compile(pattern))
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("regex timed out")
            return compiled.search(value, timeout=left) is not None
        except TimeoutError:
            self.timed_out = True
            raise


def plain_regexp(pattern: str, value: str | None) -> bool | None:
    """SQLAlchemy's own REGEXP for SQLite (`re.search`, NULL for NULL), put back on a connection after a timed query."""
    if value is None:
        return None
    return re.search(pattern, value) is not None


# The smallest and largest trajectory id at the iterations [lo, hi] of one run: a recursive walk from one
# recorded iteration to the next through the (run_id, iteration) index, two seeks per iteration.
ID_BOUNDS = text("""
WITH RECURSIVE its(i) AS (
    SELECT min(iteration) FROM trajectories WHERE run_id = :run AND iteration >= :lo
    UNION ALL
    SELECT (SELECT min(iteration) FROM trajectories WHERE run_id = :run AND iteration > its.i) FROM its WHERE its.i < :hi
)
SELECT min((SELECT min(id) FROM trajectories WHERE run_id = :run AND iteration = its.i)),
       max((SELECT max(id) FROM trajectories WHERE run_id = :run AND iteration = its.i))
FROM its WHERE its.i <= :hi
""")
