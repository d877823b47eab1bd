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
