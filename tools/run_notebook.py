"""Execute notebooks headless, as CI does, and print each one's time as JSON (one line per notebook).

    python tools/run_notebook.py notebooks/01_quickstart.ipynb            # full mode
    K15_QUICK=1 python tools/run_notebook.py notebooks/*.ipynb            # quick mode (CI's budgets)
    python tools/run_notebook.py NB --save executed.ipynb                 # keep the outputs to look at

The workspace is $K15_WORKSPACE (else notebooks/k15-workspace); use a fresh one to time from scratch.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def cell_seconds(cell) -> float | None:
    run = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in run or "shell.execute_reply" not in run:
        return None
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--save", type=Path, help="write the executed notebook here (one notebook only)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    args = ap.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - t0
        slowest = sorted(((cell_seconds(c) or 0.0, i) for i, c in enumerate(nb.cells) if c.cell_type == "code"), reverse=True)[:3]
        print(json.dumps({"notebook": path.name, "quick": os.environ.get("K15_QUICK", "0") not in ("", "0"), "seconds": round(seconds, 1),
                          "slowest_cells": [{"cell": i, "seconds": round(s, 1)} for s, i in slowest]}), flush=True)
        if args.save:
            nbformat.write(nb, args.save)


if __name__ == "__main__":
    main()
