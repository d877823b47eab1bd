"""Prompt sets from `datasets` objects and local dataset folders, with a column mapping: the same row checks and
messages as a prompt file, one clear error for a missing column, and never a download."""
from __future__ import annotations

import json
import socket

import pytest

datasets = pytest.importorskip("datasets")

from k15core.errors import K15Error  # noqa: E402
from k15core.tasks import problems_from_dataset, read_checked_prompt_file  # noqa: E402
from k15core.tasks.dataset_source import read_prompt_source  # noqa: E402
from k15core.tasks.prompt_file import read_prompt_file  # noqa: E402

MAPPING = "prompt=question,reference=answer,difficulty=level,id=idx"
ROWS = {"question": ["What is 1+2?", "What is 2+5?"], "answer": ["3", "007"], "level": [1, 4], "idx": [0, 1]}


def _ids_and_fields(report):
    assert report.errors == []
    return [(p.id, p.prompt, p.reference, p.difficulty) for p in report.problems]


EXPECTED = [("0", "What is 1+2?", "3", 1), ("1", "What is 2+5?", "007", 4)]


def test_an_in_memory_dataset_with_a_mapping():
    ds = datasets.Dataset.from_dict({**ROWS, "image_path": ["a.png", "b.png"]})
    assert _ids_and_fields(read_prompt_source(ds, "math", MAPPING)) == EXPECTED
    ds = ds.with_format("numpy")  # a format the user set does not leak numpy values into the problems
    problems = problems_from_dataset(ds, columns={"prompt": "question", "reference": "answer"}, default_task="math")
    assert [(p.reference, p.difficulty, p.task) for p in problems] == [("3", 0, "math"), ("007", 0, "math")]


def test_without_an_id_column_the_id_is_the_prompt_files_id(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"prompt": "What is 1+2?", "reference": "3"}) + "\n")
    from_file = read_prompt_file(f).problems[0].id
    from_dataset = read_prompt_source(datasets.Dataset.from_dict(ROWS), "math", "prompt=question,reference=answer").problems[0].id
    assert from_dataset == from_file and from_file.startswith("file:")


def test_a_dataset_dict_needs_a_split_when_it_has_several():
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(ROWS), "test": datasets.Dataset.from_dict({k: v[:1] for k, v in ROWS.items()})})
    assert len(read_prompt_source(dd, "math", MAPPING, split="test").problems) == 1
    with pytest.raises(K15Error, match=r"several splits \(train, test\)"):
        read_prompt_source(dd, "math", MAPPING)
    with pytest.raises(K15Error, match="no split 'valid'; its splits: train, test"):
        read_prompt_source(dd, "math", MAPPING, split="valid")
    assert len(read_prompt_source(datasets.DatasetDict({"train": dd["train"]}), "math", MAPPING).problems) == 2  # the only split


def test_save_to_disk_folders(tmp_path):
    ds = datasets.Dataset.from_dict(ROWS)
    ds.save_to_disk(tmp_path / "one")
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(tmp_path / "dict")
    assert _ids_and_fields(read_prompt_source(tmp_path / "one", "math", MAPPING)) == EXPECTED
    assert _ids_and_fields(read_prompt_source(str(tmp_path / "dict"), "math", MAPPING, split="train")) == EXPECTED


def test_folders_of_data_files(tmp_path):
    ds = datasets.Dataset.from_dict(ROWS)
    (tmp_path / "pq" / "data").mkdir(parents=True)
    ds.to_parquet(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet")  # a dataset repository's layout
    datasets.Dataset.from_dict({k: v[:1] for k, v in ROWS.items()}).to_parquet(tmp_path / "pq" / "data" / "test-00000-of-00001.parquet")
    (tmp_path / "pq" / "README.md").write_text("# a dataset card\n")
    assert _ids_and_fields(read_prompt_source(tmp_path / "pq", "math", MAPPING, split="train")) == EXPECTED
    assert len(read_prompt_source(tmp_path / "pq", "math", MAPPING, split="test").problems) == 1
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.jsonl").write_text("".join(json.dumps(dict(zip(ROWS, row))) + "\n" for row in zip(*ROWS.values())))
    assert _ids_and_fields(read_prompt_source(tmp_path / "js", "math", MAPPING)) == EXPECTED
    (tmp_path / "cs").mkdir()
    (tmp_path / "cs" / "a.csv").write_text("question,answer,level,idx\nWhat is 1+2?,3,1,0\nWhat is 2+5?,007,4,1\nN/A?,NA,,2\n")
    report = read_prompt_source(tmp_path / "cs", "math", MAPPING)  # CSV cells stay text, as in a CSV prompt file
    assert [(p.reference, p.difficulty) for p in report.problems] == [("3", 1), ("007", 4), ("NA", 0)] and not report.errors


def test_bad_rows_read_as_a_prompt_files_do(tmp_path):
    rows = [{"prompt": "ok", "reference": "1", "difficulty": "2"}, {"prompt": None, "reference": "1", "difficulty": ""},
            {"prompt": "p", "reference": "", "difficulty": ""}, {"prompt": "p2", "reference": "2", "difficulty": "hard"},
            {"prompt": "p3", "reference": "2", "difficulty": "11"}, {"prompt": "nul\x00", "reference": "1", "difficulty": ""},
            {"prompt": "ok", "reference": "1", "difficulty": ""}]
    f = tmp_path / "bad.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from_file = read_prompt_file(f).errors
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(tmp_path / "bad")
    for source in (ds, tmp_path / "bad"):
        from_dataset = read_prompt_source(source).errors
        assert [m for _, m in from_dataset] == [m for _, m in from_file] and len(from_file) == 6
        assert [w for w, _ in from_dataset] == [w.replace("line", "row") for w, _ in from_file]  # row N counts from 1 too
    with pytest.raises(K15Error, match=r"dataset \(7 rows\) has 6 malformed row\(s\): row 2: missing or empty 'prompt'"):
        problems_from_dataset(ds)


def test_the_verifier_check_applies_to_datasets_too():
    ds = datasets.Dataset.from_dict({"q": ["What is 2+2?", "Name the answer."], "a": ["4", "$$"]})
    report = read_checked_prompt_file(ds, "math", columns="prompt=q,reference=a")
    assert len(report.problems) == 1 and "verifier cannot match" in report.errors[0][1]


def test_a_missing_column_is_one_error_naming_the_columns(tmp_path):
    ds = datasets.Dataset.from_dict(ROWS)
    with pytest.raises(K15Error, match=r"no column 'answr' \(for reference\); its columns: question, answer, level, idx"):
        read_prompt_source(ds, "math", "prompt=question,reference=answr")
    with pytest.raises(K15Error, match="no 'prompt' column and the mapping names none; its columns: question"):
        read_prompt_source(ds)
    with pytest.raises(K15Error, match="unknown field 'question'"):
        read_prompt_source(ds, "math", "question=prompt")
    with pytest.raises(K15Error, match="'prompt' is not FIELD=COLUMN"):
        read_prompt_source(ds, "math", "prompt")


def test_a_prompt_file_takes_a_mapping_and_keeps_its_line_numbers(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"question": "What is 1+2?", "answer": "3", "idx": 0}\n{"question": "", "answer": "4", "idx": 1}\n')
    report = read_prompt_source(f, "math", "prompt=question,reference=answer,id=idx")
    assert [p.id for p in report.problems] == ["0"] and report.errors == [("line 2", "missing or empty 'prompt'")]
    with pytest.raises(K15Error, match=r"prompt file '.*p.jsonl' has no column 'level' \(for difficulty\); its columns: question, answer, idx"):
        read_prompt_source(f, "math", "prompt=question,reference=answer,difficulty=level")
    with pytest.raises(K15Error, match="single file, it has no splits"):
        read_prompt_source(f, "math", split="train")


def test_a_name_that_is_not_a_local_path_is_refused_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(datasets, "load_dataset", no_network)
    monkeypatch.setattr(datasets, "load_from_disk", no_network)
    with pytest.raises(K15Error, match="only local datasets are read") as err:
        read_prompt_source("openai/gsm8k", "math", "prompt=question,reference=answer")
    assert "save_to_disk" in err.value.fix


def test_datasets_reads_offline_and_is_left_as_it_was(tmp_path, monkeypatch):
    datasets.Dataset.from_dict(ROWS).save_to_disk(tmp_path / "one")
    seen, real = [], datasets.load_from_disk
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # the user's setting: online
    monkeypatch.setattr(datasets, "load_from_disk", lambda *a, **k: seen.append(datasets.config.HF_HUB_OFFLINE) or real(*a, **k))
    read_prompt_source(tmp_path / "one", "math", MAPPING)
    assert seen == [True] and datasets.config.HF_HUB_OFFLINE is False


def test_a_folder_without_a_dataset_or_with_mixed_formats(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello\n")
    with pytest.raises(K15Error, match="holds no dataset"):
        read_prompt_source(tmp_path / "notes")
    (tmp_path / "notes" / "a.csv").write_text("prompt,reference\nq,1\n")
    (tmp_path / "notes" / "b.jsonl").write_text('{"prompt": "q", "reference": "1"}\n')
    with pytest.raises(K15Error, match=r"mixes data formats \(csv, json\)"):
        read_prompt_source(tmp_path / "notes")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.parquet").write_text("not parquet")
    with pytest.raises(K15Error, match="cannot be read: "):
        read_prompt_source(tmp_path / "broken")


def test_the_cli_imports_a_saved_dataset_folder(tmp_path, capsys, monkeypatch):
    from k15core.cli import main
    from k15core.store import Store

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(ROWS), "test": datasets.Dataset.from_dict(ROWS)}).save_to_disk(tmp_path / "ds")
    ws = tmp_path / "ws"
    argv = ["prompts", "import", str(tmp_path / "ds"), "--columns", MAPPING, "--split", "train", "--workspace", str(ws), "--set", "task.name=math"]
    assert main(argv) == 0 and "2 prompts read, 2 new" in capsys.readouterr().out
    assert main(argv) == 0 and "0 new, 2 already" in capsys.readouterr().out
    assert [(p["id"], p["reference"], p["difficulty"], p["source"]) for p in Store(ws / "k15.db").prompts()] == [
        ("0", "3", 1, "dataset:ds:train"), ("1", "007", 4, "dataset:ds:train")]
    assert main(argv[:3] + ["--columns", "prompt=q,reference=answer", "--split", "train", "--workspace", str(ws)]) == 2
    assert "no column 'q' (for prompt); its columns: question, answer, level, idx" in capsys.readouterr().err
    assert main(["prompts", "import", "openai/gsm8k", "--workspace", str(ws)]) == 2
    assert "only local datasets are read" in capsys.readouterr().err
