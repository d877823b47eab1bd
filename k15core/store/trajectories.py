"""Trajectories: every sampled response with its tokens, and the questions the studio asks of them."""
from __future__ import annotations

import json
from typing import Callable, Iterator, TypeVar

from sqlalchemy import Float, func, select
from sqlalchemy.engine import Connection, RowMapping

from k15core.store import schema as S
from k15core.store.base import StoreBase
from k15core.store.codec import decode_floats, decode_ints, encode_floats, encode_ints
from k15core.store.filters import ID_BOUNDS, TrajectoryFilter
from k15core.types import TrajectoryRecord, Verdict

T_ = TypeVar("T_")


def trajectory_row(run_id: int, iteration: int, t: TrajectoryRecord) -> dict:
    """The `trajectories` row of one record (written by `RunsMixin.record_iteration`, with its iteration's metrics)."""
    return dict(
        run_id=run_id, iteration=iteration, prompt_id=t.prompt_id, sample_index=t.sample_index,
        prompt=t.prompt, response=t.response, token_ids=encode_ints(t.token_ids), logprobs=encode_floats(t.logprobs),
        entropies=encode_floats(t.entropies) if t.entropies else None,
        reward=float(t.reward), reward_parts=json.dumps(t.reward_parts), correct=float(t.correct), length=int(t.length),
        finished=bool(t.finished), truncated=bool(t.truncated), repeated=bool(t.repeated), segments=int(t.segments),
        difficulty=int(t.difficulty), tag=t.tag, group_id=None if t.group is None else int(t.group),
        verdict=None if t.verdict is None else json.dumps(t.verdict.to_json()),
    )


def _record(r: RowMapping) -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=r["prompt_id"], sample_index=r["sample_index"], prompt=r["prompt"], response=r["response"],
        token_ids=decode_ints(r["token_ids"]), logprobs=decode_floats(r["logprobs"]), reward=r["reward"],
        correct=r["correct"], length=r["length"], reward_parts=json.loads(r["reward_parts"]), finished=r["finished"],
        truncated=r["truncated"], repeated=r["repeated"], segments=r["segments"], difficulty=r["difficulty"], tag=r["tag"],
        entropies=decode_floats(r["entropies"]) if r["entropies"] else [], group=r["group_id"],
        verdict=Verdict.from_json(json.loads(r["verdict"])) if r["verdict"] else None,
    )


def _full_trajectory(r: RowMapping) -> dict:
    return {**r, "token_ids": decode_ints(r["token_ids"]), "logprobs": decode_floats(r["logprobs"]), "reward_parts": json.loads(r["reward_parts"]),
            "entropies": decode_floats(r["entropies"]) if r["entropies"] else [],
            "verdict": Verdict.from_json(json.loads(r["verdict"])) if r["verdict"] else None}


class TrajectoriesMixin(StoreBase):
    """The `trajectories` table: records back, filtered lists for the Rollouts tab, per-group and per-prompt statistics."""

    def trajectories(self, run_id: int, iteration: int | None = None, tag: str | None = None, limit: int | None = None) -> list[TrajectoryRecord]:
        q = select(S.trajectories).where(S.trajectories.c.run_id == run_id).order_by(S.trajectories.c.id)
        if iteration is not None:
            q = q.where(S.trajectories.c.iteration == iteration)
        if tag is not None:
            q = q.where(S.trajectories.c.tag == tag)
        if limit is not None:
            q = q.limit(limit)
        return [_record(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def count_trajectories(self, run_id: int, iteration: int | None = None) -> int:
        q = select(func.count()).select_from(S.trajectories).where(S.trajectories.c.run_id == run_id)
        if iteration is not None:
            q = q.where(S.trajectories.c.iteration == iteration)
        return self._read(lambda c: c.execute(q).scalar())

    # -- the Rollouts tab ------------------------------------------------------------------------
    def where(self, f: TrajectoryFilter) -> list:
        """The filter's conditions, plus, for an iteration range within one run, the id bounds of that range.

        Every row of iterations [a, b] has an id between the smallest and the largest id recorded at those
        iterations. Ids grow with iterations (a resumed run records a few again, later: still exact, a little
        less tight), so the query walks the (run_id, id) index newest first inside the bounds and stops at its
        limit. Without them SQLite takes the (run_id, iteration) index and sorts every row of the range by id
        first: 3.7 s for a regex over half of a 1M-trajectory store (benchmarks/studio_queries.py). The bounds
        come from a skip-scan of that index, a few seeks per iteration in the range, not a scan of its rows."""
        out = f.conditions()
        if f.run_id is None or (f.iteration_min is None and f.iteration_max is None):
            return out
        lo = -(2**62) if f.iteration_min is None else f.iteration_min
        hi = 2**62 if f.iteration_max is None else f.iteration_max
        low, high = self._read(lambda c: c.execute(ID_BOUNDS, {"run": f.run_id, "lo": lo, "hi": hi}).one())
        if low is None:  # no row in the range
            return [*out, S.trajectories.c.id < 0]
        return [*out, S.trajectories.c.id.between(low, high)]

    def _read_filtered(self, f: TrajectoryFilter, fn: Callable[[Connection], T_], regex_timeout_s: float | None) -> T_:
        """`_read(fn)` for a query with the filter's conditions; a regex filter runs under the backend's `regex_limit`:
        RegexTimeout once `regex_timeout_s` passes (SQLite: `TimedRegexp` as the connection's REGEXP; PostgreSQL:
        statement_timeout), re.error for a pattern the database cannot read."""
        if not (f.text and f.regex):
            return self._read(fn)

        def limited(conn: Connection) -> T_:
            with self.backend.regex_limit(conn, f.text, regex_timeout_s):
                return fn(conn)

        return self._read(limited)

    def find_trajectories(self, f: TrajectoryFilter, limit: int = 200, *, regex_timeout_s: float | None = None) -> list[dict]:
        """Trajectories matching a filter, newest first, without their token arrays (a table's worth).

        Each row: id, run_id, iteration, prompt_id, sample_index, tag, reward, correct, length,
        truncated, repeated, difficulty, and `preview` (the first 160 characters of the response).
        With `regex_timeout_s`, a regex filter that runs longer raises RegexTimeout (see `TimedRegexp`).
        """
        T = S.trajectories
        q = select(
            T.c.id, T.c.run_id, T.c.iteration, T.c.prompt_id, T.c.sample_index, T.c.tag, T.c.reward, T.c.correct, T.c.length,
            T.c.truncated, T.c.repeated, T.c.difficulty, func.substr(T.c.response, 1, 160).label("preview"),
        ).where(*self.where(f)).order_by(T.c.id.desc()).limit(limit)
        return [dict(r) for r in self._read_filtered(f, lambda c: c.execute(q).mappings().all(), regex_timeout_s)]

    def matching_pages(self, f: TrajectoryFilter, columns: list[str], page_size: int = 1000, *,
                       regex_timeout_s: float | None = None) -> Iterator[list[dict]]:
        """Every trajectory matching a filter, newest first, as pages of at most `page_size` rows of these columns
        (`id` always among them): for an export of a whole filtered table without holding it in memory.

        Keyset pages (`id < the last page's smallest id`), each its own short read: a page costs the same at the end
        of 100k rows as at the start (OFFSET would rescan what was skipped), and the writer is never held off for
        the whole export. Rows recorded while it runs are newer than the first page, so they are not in it.
        `regex_timeout_s` is per page, as in `find_trajectories`."""
        T = S.trajectories
        unknown = [c for c in columns if c not in T.c]
        if unknown:
            raise ValueError(f"no trajectory column {unknown}; known: {list(T.c.keys())}")
        cols = [T.c.id] + [T.c[c] for c in columns if c != "id"]
        conditions = self.where(f)
        last: int | None = None
        while True:
            q = select(*cols).where(*conditions, *([] if last is None else [T.c.id < last])).order_by(T.c.id.desc()).limit(page_size)
            rows = [dict(r) for r in self._read_filtered(f, lambda c: c.execute(q).mappings().all(), regex_timeout_s)]
            if rows:
                yield [{c: r[c] for c in columns} for r in rows]
            if len(rows) < page_size:
                return
            last = rows[-1]["id"]

    def count_matching(self, f: TrajectoryFilter, cap: int | None = None, *, regex_timeout_s: float | None = None) -> int:
        """How many trajectories match; with `cap`, counting stops at cap + 1 (a big store need not be scanned to the end).
        `regex_timeout_s` as in `find_trajectories`."""
        if cap is None:
            q = select(func.count()).select_from(S.trajectories).where(*self.where(f))
        else:
            inner = select(S.trajectories.c.id).where(*self.where(f)).order_by(S.trajectories.c.id.desc()).limit(cap + 1).subquery()
            q = select(func.count()).select_from(inner)
        return self._read_filtered(f, lambda c: c.execute(q).scalar(), regex_timeout_s)

    def trajectory_group(self, trajectory_id: int) -> list[dict]:
        """Every sample of the group a trajectory belongs to, with tokens: the same RL group (group_id), or for an
        evaluation sample the same run, iteration, tag (its style) and prompt."""
        T = S.trajectories
        one = self._read(lambda c: c.execute(select(T).where(T.c.id == trajectory_id)).mappings().first())
        if one is None:
            return []
        if one["group_id"] is not None:
            same = [T.c.group_id == one["group_id"]]
        else:
            same = [T.c.group_id.is_(None), T.c.tag == one["tag"]]
        q = select(T).where(T.c.run_id == one["run_id"], T.c.iteration == one["iteration"], T.c.prompt_id == one["prompt_id"], *same)
        rows = self._read(lambda c: c.execute(q.order_by(T.c.sample_index, T.c.id)).mappings().all())
        return [_full_trajectory(r) for r in rows]

    def responses(self, ids: list[int]) -> dict[int, dict]:
        """Id -> {id, run_id, prompt_id, prompt, response, correct, verdict (a Verdict or None)} of these trajectories
        (those that exist), without their token arrays: what a person's verdict on a response is checked against."""
        T = S.trajectories
        out: dict[int, dict] = {}
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            q = select(T.c.id, T.c.run_id, T.c.prompt_id, T.c.prompt, T.c.response, T.c.correct, T.c.verdict).where(T.c.id.in_(ids[i:i + 500]))
            for r in self._read(lambda c: c.execute(q).mappings().all()):
                out[r["id"]] = {**r, "verdict": Verdict.from_json(json.loads(r["verdict"])) if r["verdict"] else None}
        return out

    def prompt_over_iterations(self, run_id: int, prompt_id: str) -> list[dict]:
        """One row per iteration a prompt was trained in: samples, accuracy, mean reward and length, one response."""
        T = S.trajectories
        q = (
            select(T.c.iteration, func.count().label("samples"), func.avg(T.c.correct).label("accuracy"), func.avg(T.c.reward).label("reward"),
                   func.avg(T.c.length, type_=Float).label("len_mean"), func.min(T.c.id).label("first_id"))
            .where(T.c.run_id == run_id, T.c.prompt_id == prompt_id).group_by(T.c.iteration).order_by(T.c.iteration)
        )
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    # -- RL samples only (group_id set): the suspicion queue, the Prompts tab ---------------------
    def group_stats(self, run_id: int) -> list[dict]:
        """Per RL group (iteration, group_id, tag, prompt): size, distinct responses, min/max reward. For the suspicion queue."""
        T = S.trajectories
        keys = (T.c.iteration, T.c.group_id, T.c.tag, T.c.prompt_id, T.c.difficulty)
        q = (
            select(*keys, func.count().label("k"), func.count(T.c.response.distinct()).label("distinct"),
                   func.min(T.c.reward).label("reward_min"), func.max(T.c.reward).label("reward_max"), func.min(T.c.id).label("first_id"))
            .where(T.c.run_id == run_id, T.c.group_id.is_not(None)).group_by(*keys)
        )
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def correct_lengths(self, run_id: int) -> list[dict]:
        """id, difficulty, length, reward of every correct RL response of a run (for length outliers)."""
        T = S.trajectories
        q = select(T.c.id, T.c.iteration, T.c.prompt_id, T.c.difficulty, T.c.length, T.c.reward).where(
            T.c.run_id == run_id, T.c.correct > 0, T.c.group_id.is_not(None))
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def prompt_stats(self) -> dict[str, dict]:
        """Per prompt id: RL samples drawn and their success rate (over every run)."""
        T = S.trajectories
        q = select(T.c.prompt_id, func.count().label("samples"), func.avg(T.c.correct).label("success")).where(T.c.group_id.is_not(None)).group_by(T.c.prompt_id)
        return {r["prompt_id"]: dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())}
