"""Launch tab: start an RL run from a form generated from the config dataclasses, watch it, stop it gracefully
(SIGTERM: the trainer checkpoints and marks the run stopped) and resume it.

The form's data and its overrides: launch_form.py. What is checked before anything starts (the config as the
trainer builds it, the model, the output name and its overwrite): launch_plan.py. The processes, their logs and
how they ended: launch_procs.py. This module only draws the tab and wires its events.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from k15core.errors import K15Error
from studio.launch_form import ConfigField, as_text, config_fields, form_message, in_form_terms, overrides_from_form
from studio.launch_plan import next_free_name, plan_launch
from studio.launch_procs import launches, read_log, running_outs, start_run, stop_run

COLUMNS = ["launch", "run", "saves as", "pid", "process", "exit status", "last log line (the error, if it failed)"]


def table_frame(workspace_root) -> pd.DataFrame:
    rows = launches(workspace_root)
    return pd.DataFrame([[r["name"], "" if r["run_id"] is None else str(r["run_id"]), r.get("out", ""), r["pid"],
                          "running" if r["running"] else "ended", r["exit"], _cut(in_form_terms(r["last_line"]))] for r in rows], columns=COLUMNS)


def _cut(line: str, most: int = 300) -> str:
    """A line's start, where an error says what went wrong (the whole line is in the log)."""
    return line if len(line) <= most else line[:most - 1] + "…"


def field_component(f: ConfigField):
    """The form's input for one config key: a drop-down of the registered names for a choice, else by its type."""
    kind = f" ({getattr(f.type, '__name__', str(f.type))})"
    if f.choices:
        return gr.Dropdown(list(f.choices), value=f.value, label=f.key, info=f.help, allow_custom_value=False)
    if f.type is bool:
        return gr.Checkbox(value=f.value, label=f.key, info=f.help)
    if f.type in (int, float):
        return gr.Number(value=f.value, label=f.key + kind, info=f.help, precision=0 if f.type is int else None)
    return gr.Textbox(value=as_text(f.value), label=f.key + kind, info=f.help)


def build(ctx) -> dict:
    root = ctx.workspace.root
    fields = config_fields()
    sections: dict[str, list[ConfigField]] = {}
    for f in fields:
        sections.setdefault(f.key.split(".")[0], []).append(f)
    models = sorted(p.name for p in (root / "models").iterdir() if p.is_dir()) if (root / "models").exists() else []
    gr.Markdown("Start `k15 train` with the demo preset; change any key below (each shows its documentation). "
                "Everything is checked as the trainer checks it before a process starts. "
                "The run trains in its own process: closing the studio does not stop it.")
    with gr.Row():
        model = gr.Dropdown(models, value="warmup" if "warmup" in models else (models[0] if models else None), label="starting model",
                            info="a model of the workspace, or type a model folder's path", allow_custom_value=True, elem_id="launch-model")
        # a callable value is computed at each page load: the next free name then, not when the studio started
        out_name = gr.Textbox(value=lambda: next_free_name(root, set(running_outs(root))), label="save the final policy as",
                              info="a new name by default; an existing model's name asks before it is overwritten", elem_id="launch-out")
        overwrite = gr.Checkbox(False, label="overwrite it", info="replace the model (or a running launch's output) of that name",
                                elem_id="launch-overwrite")
        start_btn = gr.Button("Start run", variant="primary", elem_id="launch-start")
    message = gr.Markdown(elem_id="launch-message")
    table = gr.Dataframe(label="launches (newest first)", interactive=False, max_height=320, wrap=True, elem_id="launch-table",
                         column_widths=["13%", "5%", "12%", "7%", "8%", "10%", "45%"])  # the error line wraps in the widest column
    with gr.Row():
        which = gr.Textbox(label="launch name", scale=2, elem_id="launch-which")
        stop_btn = gr.Button("Stop gracefully", scale=1, elem_id="launch-stop")
        resume_btn = gr.Button("Resume the latest stopped run", scale=1, elem_id="launch-resume")
    log_view = gr.Textbox(label="log of that launch (last 30 lines)", lines=10, max_lines=10, interactive=False, elem_id="launch-log")
    gr.Markdown("### Settings of the next run")
    components = []
    for section, items in sections.items():
        with gr.Accordion(f"{section} settings", open=section == "rl"):
            components += [field_component(f) for f in items]
    timer = gr.Timer(3.0)

    def launch(model_name, out, confirmed, values, resume):
        """Check everything, then start; on a refusal nothing starts and only the message changes."""
        running = running_outs(root)
        try:
            plan = plan_launch(root, overrides_from_form(fields, values), model_name, out, resume=resume, overwrite=confirmed,
                               running=running, store=ctx.store)
        except K15Error as err:
            return form_message(err, "not resumed" if resume else "not started"), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        rec = start_run(root, plan, ctx.workspace.store_url)
        said = f"{'resuming' if resume else 'started'} {rec['name']} (pid {rec['pid']}), saving the policy as {plan.out_name}"
        said += f" (it will overwrite {plan.overwrites})" if plan.overwrites else ""
        said += "; its progress shows in the log below, its curves in the Runs tab"
        # the next launch gets a fresh name and must confirm an overwrite again
        return said, table_frame(root), rec["name"], next_free_name(root, set(running) | {plan.out_name}), False

    outputs = [message, table, which, out_name, overwrite]
    start_btn.click(lambda m, o, c, *v: launch(m, o, c, list(v), False), [model, out_name, overwrite, *components], outputs,
                    api_name="start_run", trigger_mode="once")
    resume_btn.click(lambda m, o, c, *v: launch(m, o, c, list(v), True), [model, out_name, overwrite, *components], outputs,
                     api_name="resume_run", trigger_mode="once")
    stop_btn.click(lambda n: stop_run(root, n), which, message, api_name="stop_run")
    timer.tick(lambda n: (table_frame(root), read_log(root, n)), which, [table, log_view], api_visibility="private", show_progress="hidden")

    def pick(frame, evt: gr.SelectData):
        return evt.row_value[0] if evt.row_value else gr.skip()

    table.select(pick, table, which, api_visibility="private")
    return {"table": table}
