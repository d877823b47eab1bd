"""`TrajectoryFilter`: what the Rollouts tab filters trajectories on, as SQLAlchemy conditions.

Kept apart from the store so a filter can be built, compared and turned into SQL without a database;
`TrajectoriesMixin.where` adds the id bounds that only the data can give.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, text

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
                out.append(or_(T.c.response.like(needle, escape="\\"), T.c.prompt.like(needle, escape="\\")))
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
        if self.tag:
            out.append(T.c.group_id.is_not(None) if self.tag == "rl" else T.c.tag == self.tag)
        return out


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
