"""Every notebook executes headless in quick mode (K15_QUICK=1), in order, in one shared workspace, and is
committed without outputs."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
# One worker runs them all, in order: they share one workspace (`quick_env`), a later one reusing an earlier one's models.
pytestmark = pytest.mark.xdist_group("notebooks")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def quick_env(tmp_path_factory):
    """Quick mode and one workspace for all notebooks (a later one reuses the warm-up of an earlier one)."""
    saved = {k: os.environ.get(k) for k in ("K15_QUICK", "K15_WORKSPACE", "TRANSFORMERS_VERBOSITY")}
    os.environ.update(K15_QUICK="1", K15_WORKSPACE=str(tmp_path_factory.mktemp("nb-workspace")), TRANSFORMERS_VERBOSITY="error")
    yield os.environ["K15_WORKSPACE"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_notebooks_exist():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)] and len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing (Jupyter: Edit > Clear Outputs of All Cells)"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, quick_env):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    # every notebook ends on something to look at: a figure or a table
    kinds = {k for o in last.outputs for k in o.get("data", {})}
    assert kinds & {"application/vnd.plotly.v1+json", "text/html", "application/vnd.jupyter.widget-view+json"}, f"{path.name} ends without a figure or table: {kinds}"
