"""Export of a filtered Rollouts table (studio/export.py): written, read back with pandas, equal to the store's rows for
the filter, in each format; pages of any size give the same file."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.types import TrajectoryRecord
from studio import export as E

TEXT = ['Answer: 3, "quoted", comma', "line one\nline two", "", "=1+1 <b>not html</b>", "ünïcødé ✓"]


def _traj(i: int) -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=f"{i % 6}", sample_index=i % 4, prompt=f"Q{i}: {TEXT[i % 5]}", response=TEXT[(i + 2) % 5], token_ids=[1, 2, 3],
        logprobs=[-0.1] * 3, reward=0.25 * (i % 5), correct=float(i % 2), length=3 + i % 9, reward_parts={"correct": float(i % 2), "length": -0.5},
        truncated=i % 3 == 0, repeated=i % 7 == 0, difficulty=1 + i % 4, tag="free", segments=1 + i % 2, finished=i % 3 != 0,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("export") / "k15.db")
    run = s.create_run("a", "rl", {})
    for it in range(3):
        s.record_iteration(run, it, {}, [_traj(30 * it + j) for j in range(23)])
    yield s
    s.close()


READ = {  # how a user reads each format back: text columns as text (a prompt id "3" stays "3", "" stays "")
    "jsonl": lambda p: pd.read_json(p, lines=True, dtype={c: str for c in ("prompt_id", "tag", "prompt", "response", "reward_parts")}),
    "csv": lambda p: pd.read_csv(p, keep_default_na=False, dtype={c: str for c in ("prompt_id", "tag", "prompt", "response", "reward_parts")}),
    "parquet": pd.read_parquet,
}
FILTER = TrajectoryFilter(iteration_min=1, difficulty_min=2, correct=False)


def _want(store: Store, f: TrajectoryFilter) -> pd.DataFrame:
    """The store's rows for the filter, straight from SQL (not through the export's pages)."""
    from sqlalchemy import select

    from k15core.store.schema import trajectories as T

    q = select(*[T.c[c] for c in E.COLUMNS]).where(*f.conditions()).order_by(T.c.id.desc())
    rows = store._read(lambda c: [dict(r) for r in c.execute(q).mappings()])
    frame = pd.DataFrame(rows, columns=list(E.COLUMNS))
    return frame.astype({"truncated": bool, "repeated": bool, "finished": bool})


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_an_export_reads_back_as_the_stores_rows_for_the_filter(store, tmp_path, fmt):
    want = _want(store, FILTER)
    assert 5 < len(want) < store.count_matching(TrajectoryFilter())  # the filter keeps some rows and drops others
    result = E.export(store, FILTER, fmt, tmp_path / f"out.{fmt}", page_rows=4)  # pages of 4: many pages, a short last one
    assert result.rows == len(want) == store.count_matching(FILTER)
    got = READ[fmt](result.path)
    assert list(got.columns) == list(E.COLUMNS)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert set(got["response"]) >= {"", "line one\nline two", '=1+1 <b>not html</b>'}  # the awkward text came back as it went
    assert json.loads(got["reward_parts"][0])["length"] == -0.5


def test_page_size_does_not_change_the_file(store, tmp_path):
    a = E.export(store, FILTER, "csv", tmp_path / "a.csv", page_rows=1)
    b = E.export(store, FILTER, "csv", tmp_path / "b.csv", page_rows=1000)
    assert a.path.read_bytes() == b.path.read_bytes()


def test_an_empty_result_is_a_file_with_no_rows(store, tmp_path):
    for fmt in E.WRITERS.names():
        r = E.export(store, TrajectoryFilter(difficulty_min=99), fmt, tmp_path / f"none.{fmt}")
        assert r.rows == 0
        if fmt == "jsonl":  # pandas cannot read an empty JSONL file; it is empty
            assert r.path.read_text() == ""
        else:
            assert len(READ[fmt](r.path)) == 0


def test_download_says_the_count_and_a_bad_regex_is_said_not_raised(store, monkeypatch, tmp_path):
    monkeypatch.setattr(E, "EXPORT_ROOT", tmp_path / "exports")
    path, said = E.export_for_download(store, FILTER, "parquet", regex_timeout_s=5.0)
    assert len(pd.read_parquet(path)) == store.count_matching(FILTER) and f"exported {store.count_matching(FILTER):,} rows (parquet" in said
    path, said = E.export_for_download(store, TrajectoryFilter(text="(", regex=True), "csv", regex_timeout_s=5.0)
    assert path is None and said.startswith("not a valid regular expression")


@pytest.mark.slow  # a subprocess that imports gradio (through benchmarks/studio_queries.py) and builds a store
def test_the_export_benchmark_runs_and_exports_every_row(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "studio_export.py"), "--trajectories", "300"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {fmt: r["rows"] for fmt, r in result["formats"].items()} == {"csv": 300, "jsonl": 300, "parquet": 300}
    assert all(r["file_mb"] >= 0 and r["peak_python_mb"] > 0 for r in result["formats"].values())
