"""Launch tab: start an RL run from a form generated from the config dataclasses, watch it, stop it
gracefully (SIGTERM: the trainer checkpoints and marks the run stopped) and resume it.

Runs are `k15 train` subprocesses in their own session, so they outlive the studio; each launch keeps
its config, log and pid in <workspace>/launches/<name>/.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd
import yaml

from k15core.config import DEMO_CONFIG, Config, describe, load_config
from k15core.errors import K15Error
from k15core.workspace import check_name


@dataclass(frozen=True)
class ConfigField:
    key: str
    type: typing.Any
    value: typing.Any
    help: str


def config_fields(preset: Config | None = None) -> list[ConfigField]:
    """Every config key with its type, its value in the preset and its documentation (the form's rows)."""
    preset = preset if preset is not None else (load_config(DEMO_CONFIG) if DEMO_CONFIG.exists() else Config())
    helps = {key: text for key, _, text in describe()}
    out: list[ConfigField] = []

    def walk(obj, prefix):
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, prefix + f.name + ".")
            else:
                out.append(ConfigField(prefix + f.name, hints[f.name], value, helps.get(prefix + f.name, "")))

    walk(preset, "")
    return out


def _as_text(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, list):
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def overrides_from_form(fields: list[ConfigField], values: list) -> list[str]:
    """`key=value` overrides for the fields whose form value differs from the preset (values are YAML)."""
    out = []
    for f, v in zip(fields, values):
        if f.type is bool:
            if bool(v) != f.value:
                out.append(f"{f.key}={'true' if v else 'false'}")
        elif f.type in (int, float):
            if v is not None and float(v) != float(f.value):
                out.append(f"{f.key}={int(v) if f.type is int else float(v)}")
        else:
            text = "" if v is None else str(v)
            if text != _as_text(f.value):
                out.append(f"{f.key}={text}")
    return out


def launches_dir(workspace_root: Path) -> Path:
    return workspace_root / "launches"


def start_run(workspace_root: Path, overrides: list[str], model: str = "warmup", out_name: str = "rl", resume: bool = False) -> dict:
    """Validate the config, write it, and start `k15 train` in its own session. Returns the launch record.

    A config that does not validate, or an output name that is not a plain name of the workspace (a path such as
    ../../x would write the model outside it), raises K15Error before anything starts.
    """
    check_name(out_name, "output model name")
    cfg = load_config(DEMO_CONFIG if DEMO_CONFIG.exists() else None, overrides)
    name = time.strftime("%Y%m%d-%H%M%S") + ("-resume" if resume else "")
    folder = launches_dir(workspace_root) / name
    folder.mkdir(parents=True, exist_ok=False)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    cmd = [sys.executable, "-P", "-m", "k15core.cli", "train", "--workspace", str(workspace_root), "--config", str(folder / "config.yaml"), "--quiet",
           "--out", out_name]
    cmd += ["--resume"] if resume else ["--model", model]
    with open(folder / "train.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(workspace_root),
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    record = {"name": name, "pid": proc.pid, "cmd": cmd, "started_at": time.time()}
    (folder / "launch.json").write_text(json.dumps(record))
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child stays a zombie until reaped; reap it so it reads as not running
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:  # not our child (started by an earlier studio): kill(0) is the answer
        return True


def launches(workspace_root: Path) -> list[dict]:
    """Every launch of this workspace, newest first, with whether its process still runs and its log's last line."""
    out = []
    folder = launches_dir(workspace_root)
    for d in sorted(folder.glob("*/launch.json"), reverse=True) if folder.exists() else []:
        rec = json.loads(d.read_text())
        log = d.parent / "train.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        out.append({**rec, "running": _alive(rec["pid"]), "last_line": lines[-1] if lines else ""})
    return out


def read_log(workspace_root: Path, name: str, lines: int = 30) -> str:
    """The last `lines` lines of launch `name`'s log; a name that is not a plain launch name reads nothing."""
    try:
        check_name(name or "", "launch name")
    except K15Error as err:
        return err.problem if name else ""
    log = launches_dir(workspace_root) / name / "train.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def stop_run(workspace_root: Path, name: str) -> str:
    """Ask a launched run to stop (SIGTERM): it finishes its iteration's checkpoint and marks the run stopped."""
    for rec in launches(workspace_root):
        if rec["name"] == name:
            if not rec["running"]:
                return f"{name} is not running"
            os.killpg(rec["pid"], signal.SIGTERM)
            return f"{name}: asked to stop (it checkpoints first; resume continues from there)"
    return f"no launch named {name!r}"


def build(ctx) -> dict:
    fields = config_fields()
    sections: dict[str, list[ConfigField]] = {}
    for f in fields:
        sections.setdefault(f.key.split(".")[0], []).append(f)
    models = sorted(p.name for p in (ctx.workspace.root / "models").iterdir() if p.is_dir()) if (ctx.workspace.root / "models").exists() else []
    gr.Markdown("Start `k15 train` with the demo preset; change any key below (each shows its documentation). "
                "The run trains in its own process: closing the studio does not stop it.")
    with gr.Row():
        model = gr.Dropdown(models or ["warmup"], value="warmup" if "warmup" in models or not models else models[0], label="starting model",
                            allow_custom_value=True)
        out_name = gr.Textbox(value="rl", label="save the final policy as")
        start_btn = gr.Button("Start run", variant="primary", elem_id="launch-start")
    message = gr.Markdown(elem_id="launch-message")
    table = gr.Dataframe(label="launches (newest first)", interactive=False, max_height=240, elem_id="launch-table")
    with gr.Row():
        which = gr.Textbox(label="launch name", scale=2)
        stop_btn = gr.Button("Stop gracefully", scale=1, elem_id="launch-stop")
        resume_btn = gr.Button("Resume the latest stopped run", scale=1, elem_id="launch-resume")
    log_view = gr.Textbox(label="log of that launch (last 30 lines)", lines=10, max_lines=10, interactive=False)
    gr.Markdown("### Settings of the next run")
    components = []
    for section, items in sections.items():
        with gr.Accordion(f"{section} settings", open=section == "rl"):
            for f in items:
                kind = f" ({getattr(f.type, '__name__', str(f.type))})"
                if f.type is bool:
                    comp = gr.Checkbox(value=f.value, label=f.key, info=f.help)
                elif f.type in (int, float):
                    comp = gr.Number(value=f.value, label=f.key + kind, info=f.help, precision=0 if f.type is int else None)
                else:
                    comp = gr.Textbox(value=_as_text(f.value), label=f.key + kind, info=f.help)
                components.append(comp)
    timer = gr.Timer(3.0)

    def table_frame():
        rows = launches(ctx.workspace.root)
        return pd.DataFrame([[r["name"], r["pid"], "running" if r["running"] else "ended", r["last_line"][-120:]] for r in rows],
                            columns=["name", "pid", "process", "last log line"])

    def log_tail(name):
        return read_log(ctx.workspace.root, name)

    def on_start(model_name, out, *values):
        try:
            rec = start_run(ctx.workspace.root, overrides_from_form(fields, list(values)), model_name, out)
        except K15Error as err:
            return f"not started: {err.problem}" + (f" — {err.fix}" if err.fix else ""), gr.skip(), gr.skip()
        return f"started {rec['name']} (pid {rec['pid']}); its curves appear in the Runs tab", table_frame(), rec["name"]

    start_btn.click(on_start, [model, out_name, *components], [message, table, which], api_name="start_run", trigger_mode="once")

    def on_resume(out, *values):
        try:
            rec = start_run(ctx.workspace.root, overrides_from_form(fields, list(values)), out_name=out, resume=True)
        except K15Error as err:
            return f"not resumed: {err.problem}", gr.skip(), gr.skip()
        return f"resuming in {rec['name']} (pid {rec['pid']})", table_frame(), rec["name"]

    resume_btn.click(on_resume, [out_name, *components], [message, table, which], api_name="resume_run", trigger_mode="once")
    stop_btn.click(lambda n: stop_run(ctx.workspace.root, n), which, message, api_name="stop_run")
    timer.tick(lambda n: (table_frame(), log_tail(n)), which, [table, log_view], api_visibility="private", show_progress="hidden")

    def pick(frame, evt: gr.SelectData):
        return evt.row_value[0] if evt.row_value else gr.skip()

    table.select(pick, table, which, api_visibility="private")
    return {"table": table}
