"""The environment files agree, and the two README commands are the ones CI and the Makefile use."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert {_norm(r) for r in pip_section} == wanted
    assert "python=3.11" in env["dependencies"]
    assert not any("vllm" in r for r in pip_section), "vLLM is GPU-only: it must stay out of the CPU environment"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)


def test_make_tests_xdist_groups_keep_a_group_on_one_worker(tmp_path):
    """`make test` (-n 2 --dist loadgroup) relies on xdist_group to keep a module's expensive fixture (the notebooks'
    workspace, SmolLM2's import, the PostgreSQL server) on one worker; pytest 9.2 with xdist 3.8 silently stopped
    grouping, so this runs a group of six under the installed versions and checks that one worker ran them all."""
    import subprocess
    import sys

    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "@pytest.mark.xdist_group('one')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_member(i, tmp_path_factory):\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'worker-{{i}}'), 'w').write(os.environ['PYTEST_XDIST_WORKER'])\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
                          "-p", "no:randomly", str(tmp_path / "test_grouped.py")], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    workers = {(tmp_path / f"worker-{i}").read_text() for i in range(6)}
    assert len(workers) == 1, workers
