"""`k15 config` shows every key, default and meaning whole, however narrow the terminal (it cut long key names
with an ellipsis at 80 columns, so `--set` could not be copied from it)."""
from __future__ import annotations

import pytest

from k15core.cli import main
from k15core.config import describe


@pytest.mark.parametrize("columns", [80, 60])
def test_every_key_is_shown_whole(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))  # rich sizes the table to it (the output is not a terminal here)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out  # nothing cut: key, default or meaning
    cells = {line.split("│")[1].strip() for line in out.splitlines() if line.count("│") >= 4}  # the key column's cells
    keys = [key for key, _, _ in describe()]
    assert max(map(len, keys)) > 24  # the long ones are the point of the test
    assert [key for key in keys if key not in cells] == []
    assert max(len(line) for line in out.splitlines()) <= columns
