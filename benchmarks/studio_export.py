"""How long the Rollouts tab's export takes and how much memory it holds on a big store. Prints one JSON object.

    python benchmarks/studio_export.py [--trajectories 100000] [--filter-fraction 1.0]

Builds the store of benchmarks/studio_queries.py (N RL samples of one run), then exports every row (studio/export.py,
pages of export.PAGE_ROWS) in each format and reports per format: rows, seconds, file MB, and the peak memory the export
held: Python's (tracemalloc, on a second export: tracing slows every allocation) and pyarrow's pool's growth
(Parquet). For scale, `all_rows_in_memory_mb` is tracemalloc's peak for
reading the same rows into one list first (what an export without pages would hold before writing).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import pyarrow as pa

from k15core.store.db import TrajectoryFilter
from studio import export as E


def _queries_module():
    spec = importlib.util.spec_from_file_location("studio_queries", Path(__file__).with_name("studio_queries.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, run, _, _ = _queries_module().build_store(Path(tmp) / "k15.db", args.trajectories)
        f = TrajectoryFilter(run_id=run)
        out = {"trajectories": args.trajectories, "page_rows": E.PAGE_ROWS, "formats": {}}
        for fmt in E.WRITERS.names():
            pool = pa.default_memory_pool()
            arrow_before = pool.max_memory() or 0
            t0 = time.perf_counter()  # timed alone: tracemalloc slows every allocation
            result = E.export(store, f, fmt, Path(tmp) / f"out.{fmt}")
            seconds = time.perf_counter() - t0
            tracemalloc.start()
            E.export(store, f, fmt, Path(tmp) / f"again.{fmt}")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out["formats"][fmt] = {"rows": result.rows, "seconds": round(seconds, 2), "file_mb": round(result.path.stat().st_size / 1e6, 1),
                                   "peak_python_mb": round(peak / 1e6, 1), "peak_arrow_mb": round(((pool.max_memory() or 0) - arrow_before) / 1e6, 1)}
        tracemalloc.start()
        rows = [r for page in store.matching_pages(f, list(E.COLUMNS), page_size=args.trajectories + 1) for r in page]
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["all_rows_in_memory_mb"] = round(peak / 1e6, 1)
        del rows
        store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
