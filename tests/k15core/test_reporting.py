"""Experiment trackers (k15core.reporting): TensorBoard and trackio get exactly what the run store gets, read back
with each library's own reader; a bad name stops the command before anything starts; a failing tracker never
stops training."""
from __future__ import annotations

import socket
import sqlite3
import uuid

import numpy as np
import pytest

from k15core import reporting, stages
from k15core.cli import main
from k15core.config import load_config
from k15core.reporting import REPORTERS, ReportConfig, Reporter, RunInfo, TensorBoardReporter, TrackioReporter

TINY_RL = ["rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8", "rl.minibatches=1", "rl.pool_size=10",
           "task.eval_per_level=2", "rl.doctor=false"]  # the doctor would stop the untrained model's run
TINY_SFT = ["sft.examples=48", "sft.batch_size=16", "task.eval_per_level=2", "eval.max_new_tokens=8", "eval.styles=[free]"]


def _sets(overrides: list[str]) -> list[str]:
    return [a for kv in overrides for a in ("--set", kv)]


def _stored(ws) -> dict[tuple[int, str], float]:
    return {(m["iteration"], m["name"]): m["value"] for m in ws.store().metrics(ws.store().runs()[-1]["id"])}


def tensorboard_scalars(log_dir) -> dict[tuple[int, str], float]:
    """(step, tag) -> value of every scalar in a run folder, as TensorBoard's own EventAccumulator reads it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every event
    events.Reload()
    return {(e.step, tag): e.value for tag in events.Tags()["scalars"] for e in events.Scalars(tag)}


def as_float32(metrics: dict) -> dict:
    """The store's values as TensorBoard keeps them (32-bit floats)."""
    return {key: float(np.float32(value)) for key, value in metrics.items()}


def tensorboard_hparams(log_dir) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(log_dir))
    events.Reload()
    start = metadata.parse_session_start_info_plugin_data(events.PluginTagToContent("hparams")[metadata.SESSION_START_INFO_TAG])
    return {k: v.number_value if v.HasField("number_value") else v.string_value for k, v in start.hparams.items()}


def trackio_logged(project: str, run: str) -> dict[tuple[int, str], float]:
    """(step, name) -> value of a trackio run, read back from trackio's local database."""
    from trackio.sqlite_storage import SQLiteStorage

    return {(row["step"], k): v for row in SQLiteStorage.get_logs(project, run) for k, v in row.items() if k not in ("step", "timestamp")}


def test_rl_run_reports_to_tensorboard_and_trackio_exactly_what_the_store_gets(capsys, workspace, tiny_model_dir, trackio_dir):
    import trackio.utils
    from trackio.sqlite_storage import SQLiteStorage

    assert trackio.utils.TRACKIO_DIR == trackio_dir  # the session's folder (conftest), not the user's
    project = f"k15-test-{uuid.uuid4().hex[:8]}"
    argv = ["train", "--workspace", str(workspace.root), "--model", str(tiny_model_dir), "--out", "rl-rep", "--quiet",
            "--report-to", "tensorboard", "trackio"] + _sets(TINY_RL + [f"report.project={project}"])
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err
    run = workspace.store().runs(kind="rl")[-1]
    stored = _stored(workspace)
    assert {it for it, _ in stored} == {0, 1}
    assert {(0, "rl/reward"), (1, "rl/reward"), (0, "time/store_s"), (1, "rl/loss")} <= set(stored)

    label = f"{run['id']}-rl-rl-rep"
    assert tensorboard_scalars(workspace.root / "tensorboard" / label) == as_float32(stored)  # every name and step, the same values
    hp = tensorboard_hparams(workspace.root / "tensorboard" / label)
    assert hp["rl.k"] == 2 and hp["rl.loss"] == run["config"]["rl"]["loss"] and hp["base_model"] == str(tiny_model_dir)

    assert trackio_logged(project, label) == stored
    config = SQLiteStorage.get_run_config(project, label)
    assert {k: v for k, v in config.items() if not k.startswith("_")} == run["config"]
    assert config["_Group"] == "rl" and config["_Username"] is None


def test_a_failing_tracker_never_stops_training(capsys, monkeypatch, workspace, tiny_model_dir, tmp_path):
    class BrokenLog(Reporter):
        def log(self, step, metrics):
            raise RuntimeError("disk full")

    class BrokenOpen(Reporter):
        def __init__(self, run, cfg, resume_from=None):
            raise OSError("no such folder")

    monkeypatch.setitem(REPORTERS._items, "broken-log", BrokenLog)
    monkeypatch.setitem(REPORTERS._items, "broken-open", BrokenOpen)
    cfg = load_config(overrides=TINY_SFT + ["report.to=[broken-log, tensorboard, broken-open]", f"report.tensorboard_dir={tmp_path / 'tb'}"])
    store = workspace.store()
    result = stages.run_sft(workspace, store, cfg, tiny_model_dir, progress=False)
    assert result.steps == 3
    stages.run_eval(workspace, store, cfg, workspace.model_dir("warmup"), name="warmup", progress=False)
    err = capsys.readouterr().err
    runs = store.runs()
    assert [(r["kind"], r["status"]) for r in runs] == [("sft", "finished"), ("eval", "finished")]
    for r in runs:  # each failing tracker said so once per run, and the run went on
        assert err.count(f"warning: the broken-log tracker failed (RuntimeError: disk full); run {r['id']} goes on without it") == 1
        assert err.count(f"warning: the broken-open tracker failed (OSError: no such folder); run {r['id']} goes on without it") == 1
        stored = {(m["iteration"], m["name"]): m["value"] for m in store.metrics(r["id"])}
        label = RunInfo(r["id"], r["name"], r["kind"], {}, workspace.root).label
        assert stored and tensorboard_scalars(tmp_path / "tb" / label) == as_float32(stored)  # the healthy tracker got everything
    assert {n for _, n in _stored(workspace)} >= {"eval/free/accuracy"}
    assert err.count("warning:") == 4


@pytest.mark.parametrize("argv, says", [
    (["train", "--report-to", "wandb"], "report.to names 'wandb', which is not one of the trackers: tensorboard, trackio"),
    (["demo", "--no-studio", "--report-to", "tensorboard", "mlflow"], "report.to names 'mlflow'"),
    (["sft", "--set", "report.to=[tensorbord]"], "report.to names 'tensorbord'"),
])
def test_an_unknown_tracker_stops_the_command_before_anything_starts(capsys, workspace, tiny_model_dir, argv, says):
    code = main(argv[:1] + ["--workspace", str(workspace.root), "--quiet"] + argv[1:])
    out = capsys.readouterr()
    assert code == 2 and says in out.err and "fix: e.g. --report-to tensorboard trackio" in out.err and "Traceback" not in out.err
    assert list((workspace.root / "models").iterdir()) == [] and not (workspace.root / "tensorboard").exists()  # no model built
    assert not workspace.db_path.exists() or sqlite3.connect(workspace.db_path).execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_a_tracker_whose_library_is_missing_stops_the_stage_before_it_loads_or_records(capsys, monkeypatch, workspace, tiny_model_dir):
    monkeypatch.setattr(reporting, "_installed", lambda module: module != "trackio")
    argv = ["train", "--workspace", str(workspace.root), "--model", str(tiny_model_dir), "--quiet", "--report-to", "trackio"]
    assert main(argv + _sets(TINY_RL)) == 2
    err = capsys.readouterr().err
    assert "report.to names trackio, and its library (trackio) is not installed" in err and "k15-studio[trackers]" in err
    assert workspace.store().runs() == []


def test_report_to_is_an_override_in_command_line_order():
    from k15core.cli import build_parser

    args = build_parser().parse_args(["train", "--set", "rl.k=2", "--report-to", "tensorboard", "trackio", "--set", "report.to=[]"])
    assert args.overrides == ["rl.k=2", 'report.to=["tensorboard", "trackio"]', "report.to=[]"]
    assert load_config(overrides=args.overrides).report.to == []
    assert build_parser().parse_args(["eval", "--report-to", "none"]).overrides == ["report.to=[]"]
    assert build_parser().parse_args(["sft"]).overrides == [] and load_config().report.to == []  # off by default


def test_a_resumed_run_purges_what_tensorboard_got_after_its_checkpoint(tmp_path):
    run = RunInfo(7, "rl:resumed", "rl", {"rl": {"k": 2, "levels": [1, 2]}}, tmp_path)
    cfg = ReportConfig(to=["tensorboard"])
    first = TensorBoardReporter(run, cfg)
    for step in range(4):  # the stopped trainer got to iteration 3; its checkpoint is at 2
        first.log(step, {"rl/reward": step / 10})
    first.close()
    again = TensorBoardReporter(run, cfg, resume_from=2)
    for step in (2, 3):
        again.log(step, {"rl/reward": 1 + step / 10})
    again.close()
    log_dir = tmp_path / "tensorboard" / "7-rl-resumed"
    assert tensorboard_scalars(log_dir) == as_float32({(0, "rl/reward"): 0.0, (1, "rl/reward"): 0.1, (2, "rl/reward"): 1.2, (3, "rl/reward"): 1.3})
    assert tensorboard_hparams(log_dir) == {"rl.k": 2, "rl.levels": "[1, 2]"}


def test_trackio_stays_offline_with_a_hub_token_and_a_space_in_the_environment(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_TOKEN", "hf_k15_test_not_a_token")  # trackio.Run would ask the hub who this is
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("TRACKIO_SPACE_ID", "someone/space")  # trackio.init would log there
    monkeypatch.setenv("TRACKIO_SERVER_URL", "http://127.0.0.1:9/?write_token=x")
    reached = []

    def refuse(*args, **kwargs):
        reached.append(args)
        raise OSError("k15 test: no network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # a host name's look-up comes first
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "bind", refuse)  # nor a dashboard's server
    project = f"k15-test-{uuid.uuid4().hex[:8]}"
    tracker = TrackioReporter(RunInfo(3, "sft:warmup", "sft", {"sft": {"lr": 0.001}}, tmp_path), ReportConfig(to=["trackio"], project=project))
    tracker.log(0, {"sft/loss": 2.5})
    tracker.log(1, {"sft/loss": 2.25, "sft/lr": 0.001})
    tracker.close()
    assert reached == []
    assert trackio_logged(project, "3-sft-warmup") == {(0, "sft/loss"): 2.5, (1, "sft/loss"): 2.25, (1, "sft/lr"): 0.001}
