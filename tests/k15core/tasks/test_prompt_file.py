"""Prompt files: JSONL and CSV, and every kind of bad row reported with its line number."""
from __future__ import annotations

import pytest

from k15core.errors import K15Error
from k15core.tasks.prompt_file import load_prompt_file


def test_jsonl_and_csv(tmp_path):
    j = tmp_path / "p.jsonl"
    j.write_text('{"prompt": "Q: 1+2\\n", "reference": "3", "difficulty": 1}\n\n{"prompt": "Q: 4+5\\n", "answer": 9, "id": "x"}\n')
    problems = load_prompt_file(j)
    assert [(p.prompt, p.reference, p.difficulty) for p in problems] == [("Q: 1+2\n", "3", 1), ("Q: 4+5\n", "9", 0)]
    assert problems[1].id == "x" and problems[0].id.startswith("file:")
    c = tmp_path / "p.csv"
    c.write_text("prompt,reference,difficulty\nQ: 1+2,3,2\n")
    assert load_prompt_file(c)[0].difficulty == 2


def test_every_bad_row_is_named(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(
        '{"prompt": "ok", "reference": "1"}\n'
        "{not json\n"
        '{"reference": "1"}\n'
        '{"prompt": "p", "reference": ""}\n'
        '{"prompt": "p2", "reference": "2", "difficulty": "hard"}\n'
        '[1, 2]\n'
        '{"prompt": "ok", "reference": "1"}\n'
    )
    with pytest.raises(K15Error) as err:
        load_prompt_file(f)
    msg = err.value.problem
    assert "6 malformed row(s)" in msg
    for expected in ("line 2: not valid JSON", "line 3: missing or empty 'prompt'", "line 4: missing or empty 'reference'",
                     "line 5: 'difficulty' must be an integer", "line 6: not an object", "line 7: duplicate id"):
        assert expected in msg


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.jsonl", None, "does not exist"),
        ("empty.jsonl", "", "holds no prompts"),
        ("latin1.jsonl", b"\xff\xfe\x00bad", "not UTF-8"),
        ("prompts.txt", "x", "unknown extension"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    f = tmp_path / name
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    with pytest.raises(K15Error, match=message):
        load_prompt_file(f)


def test_limits_are_bad_rows_with_their_reason(tmp_path):
    from k15core.tasks.prompt_file import MAX_TEXT_CHARS

    f = tmp_path / "limits.jsonl"
    f.write_text(
        '{"prompt": "ok", "reference": "1", "difficulty": 2.0}\n'
        '{"prompt": "inf", "reference": "1", "difficulty": 1e999}\n'
        '{"prompt": "huge", "reference": "1", "difficulty": 100000000000000000000000000000}\n'
        '{"prompt": "half", "reference": "1", "difficulty": 2.5}\n'
        '{"prompt": "flag", "reference": "1", "difficulty": true}\n'
        '{"prompt": "nul\\u0000byte", "reference": "1"}\n'
        + '{"prompt": "' + "x" * (MAX_TEXT_CHARS + 1) + '", "reference": "1"}\n'
    )
    with pytest.raises(K15Error) as err:
        load_prompt_file(f)
    msg = err.value.problem
    assert "6 malformed row(s)" in msg and "line 1" not in msg
    for expected in ("line 2: 'difficulty' must be an integer", "line 3: 'difficulty' must be an integer from 0 to 10",
                     "line 4: 'difficulty' must be an integer", "line 5: 'difficulty' must be an integer",
                     "line 6: 'prompt' contains a NUL character", f"line 7: 'prompt' is {MAX_TEXT_CHARS + 1:,} characters long"):
        assert expected in msg, expected


def test_a_csv_field_too_large_to_read_is_one_clear_error(tmp_path):
    from k15core.tasks.prompt_file import MAX_TEXT_CHARS

    f = tmp_path / "big.csv"
    f.write_text("prompt,reference\nshort,1\n" + "y" * (5 * MAX_TEXT_CHARS) + ",2\n")
    with pytest.raises(K15Error, match="cannot be read as CSV at line 3"):
        load_prompt_file(f)
    g = tmp_path / "long.csv"
    g.write_text("prompt,reference\n" + "y" * (MAX_TEXT_CHARS + 5) + ",2\n")
    with pytest.raises(K15Error, match="line 2: 'prompt' is"):
        load_prompt_file(g)


def test_the_cli_and_the_studio_accept_exactly_the_same_files(tmp_path, capsys):
    """A reference the task's verifier can never match is a bad row for both imports (it was for the studio only)."""
    import json

    from k15core.cli import main
    from k15core.store import Store
    from studio.prompts_tab import commit_import, preview_import

    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"prompt": "What is 2+2?", "reference": "4", "task": "math"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + json.dumps({"prompt": "Name the answer.", "reference": "$$", "task": "math"}) + "\n")
    for f, accepted in ((good, True), (bad, False)):
        ws = tmp_path / f"ws-{f.stem}"
        code = main(["prompts", "import", str(f), "--workspace", str(ws)])
        assert (code == 0) == accepted, capsys.readouterr()
        assert preview_import(str(f), "math")[3] == accepted
        store = Store(tmp_path / f"studio-{f.stem}.db")
        commit_import(store, str(f), "math")
        assert (len(store.prompts()) == 1) == accepted and (accepted or not store.prompts())
    assert "verifier cannot match" in capsys.readouterr().err


def test_an_id_of_zero_is_kept(tmp_path):
    """A dataset's row index starts at 0: that id is an id, not a missing one to replace by the prompt's hash."""
    f = tmp_path / "ids.jsonl"
    f.write_text('{"prompt": "a", "reference": "1", "id": 0}\n{"prompt": "b", "reference": "2", "id": ""}\n')
    ids = [p.id for p in load_prompt_file(f)]
    assert ids[0] == "0" and ids[1].startswith("file:")
