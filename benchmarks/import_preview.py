"""The studio's import preview of a large prompt file: seconds to read and check every row, next to reading alone.

    python benchmarks/import_preview.py                 # 100,000 math rows with plain-number answers
    python benchmarks/import_preview.py --rows 2000 --latex   # answers as LaTeX fractions (every row through math-verify)
    python benchmarks/import_preview.py --smoke

The preview (`studio.prompts_tab.preview_import`) reads the file and checks each reference with its task's verifier,
as `k15 prompts import` does (`tasks.read_checked_prompt_file`); the baseline in the same run is the syntactic read
alone (`tasks.prompt_file.read_prompt_file`). The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--latex", action="store_true", help="references like \\frac{i}{7} instead of plain numbers")
    ap.add_argument("--repeats", type=int, default=3, help="alternated timings of each side")
    ap.add_argument("--smoke", action="store_true", help="1,000 rows (a check that the script runs)")
    args = ap.parse_args()
    rows = 1000 if args.smoke else args.rows
    from k15core.tasks.prompt_file import read_prompt_file
    from studio.prompts_tab import preview_import

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prompts.jsonl"
        with path.open("w") as f:
            for i in range(rows):
                answer = f"\\frac{{{i + 1}}}{{7}}" if args.latex else str(i + 1)
                f.write(json.dumps({"prompt": f"What is {i} + 1{' over 7' if args.latex else ''}?", "reference": answer, "task": "math",
                                    "difficulty": 1 + i % 5}) + "\n")
        warm = Path(tmp) / "warm.jsonl"  # the first call pays for imports and the verifier's set-up: not timed
        warm.write_text(json.dumps({"prompt": "1 + 1?", "reference": "2", "task": "math"}) + "\n")
        preview_import(str(warm), "math")
        read_times, preview_times = [], []
        for _ in range(args.repeats):  # alternated, the median of each quoted
            t0 = time.perf_counter()
            read = read_prompt_file(path, "math")
            read_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, bad, message, ok = preview_import(str(path), "math")
            preview_times.append(time.perf_counter() - t0)
        read_s, preview_s = statistics.median(read_times), statistics.median(preview_times)
    print(json.dumps({"benchmark": "import_preview", "smoke": args.smoke, "rows": rows, "latex": args.latex, "read_s": round(read_s, 4),
                      "preview_s": round(preview_s, 4), "preview_over_read": round(preview_s / max(read_s, 1e-9), 2),
                      "rows_read": len(read.problems), "importable": ok, "bad_rows": len(bad), "message": message}))


if __name__ == "__main__":
    main()
