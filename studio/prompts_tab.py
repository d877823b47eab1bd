"""Prompts tab: curate the prompt set the trainer draws from.

A grid (filterable; bulk actions on everything matching the filter) and a one-at-a-time focus view with
one-key decisions (typed ahead, queued in the page and applied to the prompt each key was typed on:
studio/prompt_keys.py, studio/shortcuts.py). Every action is an append-only label event written through
`Store.set_label` (idempotent: a UI event fired twice writes one row) under the user's name; Undo takes
back the user's last action; a running trainer applies the labels at its next iteration.
"""
from __future__ import annotations

import html
import json
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from k15core import labels as L
from k15core.store import Store
from k15core.store.labels import UnknownPrompts
from k15core.tasks import check_reference
from studio import annotators, prompt_keys, shortcuts
from studio.images import images_html
from studio.prompts_import import IMAGE_FILE_TYPES, PROMPT_FILE_TYPES, commit_import, preview_import  # noqa: F401  (tested as prompts_tab.*)
from studio.prompt_keys import KEYS, decide, undo_last  # noqa: F401  (decide, undo_last: the tab's handlers, tested as prompts_tab.*)

GRID_COLUMNS = ["id", "prompt", "level", "difficulty", "pass rate", "training success", "samples", "hackable", "format issue", "duplicate of",
                "tags", "status", "labels"]
STATUS_FILTERS = ("all", "not reviewed", "kept", "excluded", "flagged")
BULK_ACTIONS = ("exclude", "keep", "flag", "reset status", "difficulty 1", "difficulty 2", "difficulty 3", "difficulty 4", "difficulty 5", "mark hackable")


def prompt_table(store: Store, text: str = "", status: str = "all", level: int | None = None) -> pd.DataFrame:
    """The prompt grid: each prompt with its level, labelled difficulty, pass rate in training, flags, tags, status."""
    states = store.prompt_labels()
    stats = store.prompt_stats()
    needle = (text or "").strip().lower()
    rows = []
    for p in store.prompts():
        st = states.get(p["id"], L.DEFAULT)
        row_status = st.status or "not reviewed"
        if status not in ("all", row_status):
            continue
        if level not in (None, "", 0) and p["difficulty"] != int(level):
            continue
        if needle and needle not in p["text"].lower() and needle not in p["id"].lower() and not any(needle in t.lower() for t in st.tags):
            continue
        s = stats.get(p["id"])
        rows.append([
            p["id"], p["text"], p["difficulty"], L.labelled(st, "difficulty", p["difficulty"]), st.pass_rate, None if s is None else round(s["success"], 3),
            0 if s is None else s["samples"], st.hackable, st.format_issue or "", _duplicate_text(st.duplicate_of), ", ".join(st.tags), row_status,
            st.events,
        ])
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def _duplicate_text(dup: dict | None) -> str:
    return f"{dup['of']} ({dup['kind']}, {dup['similarity']:.2f})" if dup else ""


def focus_view(store: Store, prompt_id: str | None, images=None) -> dict:
    """Everything the focus view shows about one prompt (a dict of plain values; tested without a browser); the
    prompt's images from `images`, the workspace's image store (studio/images.py)."""
    if not prompt_id:
        return {"id": "", "card": "<p>No prompt: the filter matches nothing.</p>", "reference": "", "tags": "", "note": "", "history": _history_frame([])}
    p = store.prompt(prompt_id)
    if p is None:
        return {"id": prompt_id, "card": f"<p>No prompt with id <code>{html.escape(prompt_id)}</code>.</p>", "reference": "", "tags": "", "note": "", "history": _history_frame([])}
    st = store.prompt_labels([prompt_id]).get(prompt_id, L.DEFAULT)
    s = store.prompt_stats().get(prompt_id)
    rate = "never drawn in training" if s is None else f"training success {s['success']:.0%} over {s['samples']} samples"
    if st.pass_rate is not None:
        rate = f"curation pass rate {st.pass_rate:.0%} · {rate}"
    e = html.escape
    corrected = f" (corrected; the task says <code>{e(p['reference'])}</code>)" if st.reference else ""
    card = (
        f'<div class="k15-focus" data-prompt-id="{e(prompt_id)}"><b>{e(st.status or "not reviewed")}</b> · level {p["difficulty"]}'
        f'{f" · labelled difficulty {st.difficulty}" if st.difficulty else ""} · {e(rate)}'
        f'{" · <b>hackable</b>" if st.hackable else ""}{f" · <b>{e(st.format_issue)}</b>" if st.format_issue else ""}{f" · duplicate of <code>{e(_duplicate_text(st.duplicate_of))}</code>" if st.duplicate_of else ""} · task {e(p["task"])}'
        f'<pre class="k15-prompt">{e(p["text"])}</pre>{images_html(images, p["images"], prompt_id)}'
        f'reference answer: <code>{e(L.labelled(st, "reference", p["reference"]))}</code>{corrected}</div>'
    )
    history = store.label_events(prompt_ids=[prompt_id])
    return {"id": prompt_id, "card": card, "reference": L.labelled(st, "reference", p["reference"]), "tags": ", ".join(st.tags), "note": st.note,
            "history": _history_frame(history)}


def _history_frame(events: list[dict]) -> pd.DataFrame:
    """One prompt's label events, newest first. An undo event stores the value it restored (often null: the field had
    none), which alone reads as a label set to null; its row says which value it took back and what the field is now."""
    by_action = {e["action"]: e for e in events if not e.get("undoes")}  # an action writes one event per prompt

    def shown(v) -> str:
        return "not set" if v is None else json.dumps(v, ensure_ascii=False)

    def value(e: dict) -> str:
        if not e.get("undoes"):
            return shown(e["value"])
        undone = by_action.get(e["undoes"])
        took_back = f'{undone["field"]} = {shown(undone["value"])}' if undone else f"action {e['undoes']}"
        return f"undid {took_back} (now {shown(e['value'])})"

    rows = [[e["seq"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["created_at"])), e["author"], e["field"], value(e),
             e["source"], "undo" if e.get("undoes") else ""] for e in reversed(events)]
    return pd.DataFrame(rows, columns=["seq", "when", "who", "field", "value", "source", "kind"])


def save_reference(store: Store, prompt_id: str, reference: str, author: str) -> tuple[str | None, str]:
    """Save a corrected reference answer, if the prompt's task verifier can match it."""
    if not prompt_id:
        return None, "no prompt selected"
    p = store.prompt(prompt_id)
    if p is None:
        return None, str(UnknownPrompts([prompt_id]))
    problem = check_reference(p["task"], reference or "")
    if problem:
        return None, f"not saved: {problem}"
    value = None if reference.strip() == p["reference"] else reference.strip()  # back to the task's own answer: reset the label
    w = store.set_label(prompt_id, "reference", value, author=author, source="studio", known_only=True)
    return w.action, f"{prompt_id}: reference = {reference.strip()!r}" if w.events else f"{prompt_id}: reference unchanged"


def save_tags_and_note(store: Store, prompt_id: str, tags: str, note: str, author: str) -> tuple[list[str], str]:
    if not prompt_id:
        return [], "no prompt selected"
    if store.prompt(prompt_id) is None:
        return [], str(UnknownPrompts([prompt_id]))
    actions, said = [], []
    tag_list = [t for t in (tags or "").split(",") if t.strip()]
    for field, value in (("tags", tag_list or None), ("note", (note or "").strip() or None)):
        w = store.set_label(prompt_id, field, value, author=author, source="studio", known_only=True)
        if w.events:
            actions.append(w.action)
            said.append(field)
    return actions, f"{prompt_id}: saved {' and '.join(said)}" if said else f"{prompt_id}: tags and note unchanged"


def bulk_apply(store: Store, prompt_ids: list[str], action: str, author: str) -> tuple[str | None, str]:
    """One label on every prompt of the current filter, as one undoable action."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"unknown bulk action {action!r}")
    if not prompt_ids:
        return None, "the filter matches no prompt"
    field, value = {
        "exclude": ("status", "excluded"), "keep": ("status", "kept"), "flag": ("status", "flagged"), "reset status": ("status", None),
        "mark hackable": ("hackable", True),
    }.get(action) or ("difficulty", int(action.split()[-1]))
    try:
        w = store.set_label(prompt_ids, field, value, author=author, source="studio", known_only=True)
    except UnknownPrompts as err:
        return None, f"{action}: {err}"
    return w.action, f"{action}: {w.events} of {len(prompt_ids)} prompts changed (Undo takes the whole action back)"


def export_curated(store: Store, directory: Path, fmt: str) -> Path:
    """Write every prompt with its current labels (JSONL or Parquet); returns the file's path."""
    states, stats = store.prompt_labels(), store.prompt_stats()
    records = []
    for p in store.prompts():
        st, s = states.get(p["id"], L.DEFAULT), stats.get(p["id"])
        records.append({
            "id": p["id"], "prompt": p["text"], "reference": L.labelled(st, "reference", p["reference"]), "task": p["task"], "level": p["difficulty"],
            "difficulty": L.labelled(st, "difficulty", p["difficulty"]), "status": st.status or "not reviewed", "excluded": st.excluded,
            "hackable": st.hackable, "format_issue": st.format_issue, "duplicate_of": st.duplicate_of, "tags": list(st.tags), "note": st.note, "pass_rate": st.pass_rate, "training_success": None if s is None else s["success"],
            "training_samples": 0 if s is None else s["samples"], "label_events": st.events, "source": p["source"],
        })
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = directory / f"prompts-{stamp}.parquet"
        pq.write_table(pa.Table.from_pylist(records), out)
    else:
        out = directory / f"prompts-{stamp}.jsonl"
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return out


def default_task(store: Store) -> str:
    runs = store.runs(kind="rl")
    return runs[-1]["config"].get("task", {}).get("name", "recurrence") if runs else "recurrence"


def build(ctx) -> dict:
    with gr.Row():
        filter_text = gr.Textbox(label="filter: prompt text, id or tag", scale=3, elem_id="prompts-filter")
        status = gr.Dropdown(list(STATUS_FILTERS), value="all", label="status", scale=1)
        level = gr.Number(label="level (0: all)", value=0, precision=0, minimum=0, maximum=5, scale=1)
        refresh_btn = gr.Button("Apply filter", scale=1, elem_id="prompts-refresh")
    grid = gr.Dataframe(headers=GRID_COLUMNS, interactive=False, max_height=300, max_chars=60, elem_id="prompts-grid")
    with gr.Row():
        bulk_action = gr.Dropdown(list(BULK_ACTIONS), value="exclude", label="bulk action on every prompt matching the filter", scale=3)
        bulk_btn = gr.Button("Apply to all matching", scale=1, elem_id="prompts-bulk")
    queue = gr.State([])
    with gr.Row():
        with gr.Column(scale=3):
            current = gr.Textbox(label="prompt id", interactive=True, elem_id="prompt-id", info="type an id and press Enter, or click a row")
            card = gr.HTML(elem_id="prompt-card")
            with gr.Row():
                buttons = {
                    "keep": gr.Button("Keep (a)", elem_id=KEYS["keep"][1], variant="primary"),
                    "exclude": gr.Button("Exclude (x)", elem_id=KEYS["exclude"][1], variant="stop"),
                    "flag": gr.Button("Flag (f)", elem_id=KEYS["flag"][1]),
                }
            with gr.Row():
                for d in range(1, 6):
                    buttons[f"d{d}"] = gr.Button(f"Difficulty {d} ({d})", elem_id=KEYS[f"d{d}"][1], size="sm")
            with gr.Row():
                prev_btn = gr.Button("← Previous (p)", elem_id=KEYS["prev"][1], size="sm")
                next_btn = gr.Button("Next (n) →", elem_id=KEYS["next"][1], size="sm")
                undo_btn = gr.Button("Undo my last action (u)", elem_id=KEYS["undo"][1], size="sm")
            mine = annotators.build_bar()  # "next for me" and the progress counter (many annotators)
            key_panel = gr.HTML(prompt_keys.panel_value([]), html_template=shortcuts.PANEL_TEMPLATE, js_on_load=shortcuts.keys_js(), elem_id="prompt-keys")
            applied = gr.State(0)  # the highest key seq this page's queue has had applied (prompt_keys.apply_keys)
            message = gr.Markdown(elem_id="prompt-message")
        with gr.Column(scale=2):
            reference = gr.Textbox(label="reference answer", elem_id="prompt-reference")
            ref_btn = gr.Button("Save reference (checked by the task's verifier)", size="sm", elem_id="prompt-save-reference")
            tags = gr.Textbox(label="tags (comma-separated)", elem_id="prompt-tags")
            note = gr.Textbox(label="note", lines=2, elem_id="prompt-note")
            tags_btn = gr.Button("Save tags and note", size="sm", elem_id="prompt-save-tags")
            gr.Markdown("Keys: **a** keep · **x** exclude · **f** flag · **1–5** difficulty · **u** undo · **n**/**p** next/previous · **m** next for me. "
                        "Keys do nothing while a text box has focus (press Esc or click outside it). Type ahead freely: "
                        "each key labels the prompt on screen when you pressed it, and waiting keys are saved in order.")
    history = gr.Dataframe(label="history of this prompt (who, what, when)", interactive=False, max_height=200, elem_id="prompt-history")
    annotators.build_panel(ctx)  # guidelines, overlap and assignments, agreement and conflicts
    with gr.Accordion("Import and export", open=False):
        with gr.Row():
            upload = gr.File(label="import prompts (JSONL, CSV or Parquet, with the images an `images` column names)", file_count="multiple",
                             file_types=[*PROMPT_FILE_TYPES, *IMAGE_FILE_TYPES], type="filepath", elem_id="prompts-upload")
            with gr.Column():
                import_msg = gr.Markdown()
                import_btn = gr.Button("Import", interactive=False, elem_id="prompts-import")
        import_ok = gr.Dataframe(label="preview (first 50 rows)", interactive=False, max_height=200)
        import_bad = gr.Dataframe(label="rows that are wrong", interactive=False, max_height=200)
        with gr.Row():
            export_fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label="export format")
            export_btn = gr.Button("Export the curated set with its labels", elem_id="prompts-export")
            export_file = gr.File(label="download", interactive=False)

    focus_outputs = [current, card, reference, tags, note, history]

    def show(pid):
        v = focus_view(ctx.store, pid, ctx.workspace.images)
        return [v["id"], v["card"], v["reference"], v["tags"], v["note"], v["history"]]

    annotators.wire_bar(ctx, mine, focus_outputs, show)

    def load_grid_and_focus(text, st, lvl, pid):
        frame = prompt_table(ctx.store, text, st, lvl)
        ids = frame["id"].tolist()
        return [frame, ids, prompt_keys.panel_value(ids), *show(pid if pid in ids else (ids[0] if ids else None))]

    grid_inputs, grid_outputs = [filter_text, status, level], [grid, queue, key_panel]
    refresh_btn.click(load_grid_and_focus, [*grid_inputs, current], [*grid_outputs, *focus_outputs], api_name="prompt_grid")
    filter_text.submit(load_grid_and_focus, [*grid_inputs, current], [*grid_outputs, *focus_outputs], api_visibility="private")

    def step(pid, ids, delta):
        if not ids:
            return show(None)
        i = ids.index(pid) if pid in ids else -delta
        return show(ids[max(0, min(len(ids) - 1, i + delta))])

    next_btn.click(lambda pid, ids: step(pid, ids, 1), [current, queue], focus_outputs, api_visibility="private")
    prev_btn.click(lambda pid, ids: step(pid, ids, -1), [current, queue], focus_outputs, api_visibility="private")
    current.submit(show, current, focus_outputs, api_visibility="private")

    def pick(frame, evt: gr.SelectData):
        return show(evt.row_value[0]) if evt.row_value else [gr.skip()] * len(focus_outputs)

    grid.select(pick, grid, focus_outputs, api_visibility="private")

    # The page's key queue (studio/shortcuts.py): keys arrive in batches carrying the ids they were typed on;
    # one batch at a time, in order (concurrency 1), each key applied to its own id. The focus box is not an
    # output: the page moved it already, and an answer must never move it back.
    def on_keys(ids, done, evt: gr.EventData, request: gr.Request):
        data = evt._data if isinstance(evt._data, dict) else {}
        results, done = prompt_keys.apply_keys(ctx.store, data.get("keys"), ctx.author(request), done)
        return prompt_keys.panel_value(ids, done, results), done

    # No progress overlays: the panel counts the waiting keys itself, and a card not yet caught up is dimmed.
    key_panel.apply_keys(on_keys, [queue, applied], [key_panel, applied], trigger_mode="multiple", concurrency_limit=1, show_progress="hidden",
                         api_visibility="private")
    key_panel.show_focus(lambda pid: show(pid)[1:], current, focus_outputs[1:], trigger_mode="always_last", show_progress="hidden",
                         api_visibility="private")

    # The API's decisions (/decide_keep, ..., /undo): in the page, the script sends these buttons' clicks
    # through the key queue instead; these handlers serve API clients, and the page if its script is missing.
    for name, btn in buttons.items():
        def on_decide(pid, ids, request: gr.Request, _name=name):
            _, said = decide(ctx.store, pid, _name, ctx.author(request))
            nxt = step(pid, ids, 1) if _name in ("keep", "exclude", "flag") and ids and pid in ids and ids.index(pid) < len(ids) - 1 else show(pid)
            return [*nxt, said]

        btn.click(on_decide, [current, queue], [*focus_outputs, message], api_name=f"decide_{name}", trigger_mode="once")

    def on_undo(pid, request: gr.Request):
        target, said = undo_last(ctx.store, ctx.author(request))
        return [*show(target or pid), said]

    undo_btn.click(on_undo, current, [*focus_outputs, message], api_name="undo", trigger_mode="once")

    def on_reference(pid, ref, request: gr.Request):
        _, said = save_reference(ctx.store, pid, ref, ctx.author(request))
        return [*show(pid), said]

    ref_btn.click(on_reference, [current, reference], [*focus_outputs, message], api_name="save_reference", trigger_mode="once")

    def on_tags(pid, tag_text, note_text, request: gr.Request):
        _, said = save_tags_and_note(ctx.store, pid, tag_text, note_text, ctx.author(request))
        return [*show(pid), said]

    tags_btn.click(on_tags, [current, tags, note], [*focus_outputs, message], api_name="save_tags", trigger_mode="once")

    def on_bulk(text, st, lvl, action, pid, request: gr.Request):
        ids = prompt_table(ctx.store, text, st, lvl)["id"].tolist()
        _, said = bulk_apply(ctx.store, ids, action, ctx.author(request))
        return [*load_grid_and_focus(text, st, lvl, pid), said]

    bulk_btn.click(on_bulk, [*grid_inputs, bulk_action, current], [*grid_outputs, *focus_outputs, message], api_name="bulk", trigger_mode="once")

    def on_upload(path):
        good, bad, said, ok = preview_import(path, default_task(ctx.store))
        return good, bad, said, gr.Button(interactive=ok)

    upload.change(on_upload, upload, [import_ok, import_bad, import_msg, import_btn], api_visibility="private")

    def on_import(path, text, st, lvl, pid):
        said = commit_import(ctx.store, path, default_task(ctx.store), ctx.workspace.images)
        return [said, gr.Button(interactive=False), *load_grid_and_focus(text, st, lvl, pid)]

    import_btn.click(on_import, [upload, *grid_inputs, current], [import_msg, import_btn, *grid_outputs, *focus_outputs], api_visibility="private",
                     trigger_mode="once")
    export_btn.click(lambda fmt: str(export_curated(ctx.store, ctx.workspace.root / "exports", fmt)), export_fmt, export_file, api_name="export")
    return {"grid": grid, "queue": queue, "message": message, "load": load_grid_and_focus, "load_inputs": [*grid_inputs, current],
            "load_outputs": [*grid_outputs, *focus_outputs], "filter_text": filter_text, "status": status, "level": level, "current": current}
