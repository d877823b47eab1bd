"""Rollouts tab: find samples, see a prompt's k samples side by side down to the token with each one's verdict (the
rule's or the CoT judge's, with its reasoning; studio/verdicts.py) and overrule it, mark samples chosen or rejected
for DPO by keyboard (studio/pair_marks.py), follow a prompt across iterations, and triage a run (studio/triage.py): its
suspicious groups (possible reward hacking) and the doctor's alarms in one queue, one click from their tokens.

Model text is untrusted: every piece of it goes through `html.escape` before it reaches the page.
"""
from __future__ import annotations

import html
import math
import re
import statistics
import time

import gradio as gr
import pandas as pd

from k15core import labels as L
from k15core import tasks as task_registry
from k15core.prompting import render_prompt, uses_chat_template
from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.store.filters import RegexTimeout
from studio import compare, export, key_queue, pair_marks, triage, verdicts
from studio.images import images_html

RESULT_COLUMNS = ["id", "run", "iteration", "prompt_id", "sample", "reward", "correct", "length", "truncated", "repeated", "difficulty", "response"]
HISTORY_COLUMNS = ["iteration", "samples", "accuracy", "reward", "len_mean", "first_id"]
COLOUR_BY = ("log-prob", "entropy", "advantage", "none")
ANY, YES, NO = "any", "yes", "no"
COUNT_CAP = 10_000
"""Counting matches stops here: the summary says "more than 10,000" instead of scanning a huge store to the end."""
REGEX_TIME_LIMIT_S = 5.0
"""A search's regex (user input) gets this long for the listing and the count together, then the search ends with
a message: one catastrophic pattern must not hold a worker (or, with `re`, the whole studio) for minutes.
Gradio runs this sync handler in its worker threads, off the event loop; the store's `TimedRegexp` matches
without the GIL, so the other requests keep being answered while it runs. A well-formed regex over half of a
1M-trajectory store takes well under it (benchmarks/studio_queries.py)."""


def _tri(choice: str) -> bool | None:
    return None if choice in (ANY, None, "") else choice in (YES, "correct")


def _int_or_none(x) -> int | None:
    """An optional whole number from a form field: blank means "any"; anything else that is not a number is a ValueError."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, str):
        x = x.strip()
        if not x or x.lower() == "any":
            return None
        try:
            return int(x)
        except ValueError:
            raise ValueError(f"{x!r} is not a whole number") from None
    return int(x)


def make_filter(run_id, it_min, it_max, text, regex, verdict, len_min, len_max, truncated, repeated, source="rl", diff_min=None,
                diff_max=None) -> TrajectoryFilter:
    return TrajectoryFilter(
        run_id=_int_or_none(run_id), iteration_min=_int_or_none(it_min), iteration_max=_int_or_none(it_max),
        text=(text or "").strip() or None, regex=bool(regex), correct=_tri(verdict), length_min=_int_or_none(len_min),
        length_max=_int_or_none(len_max), truncated=_tri(truncated), repeated=_tri(repeated), tag=None if source == "all" else source,
        difficulty_min=_int_or_none(diff_min), difficulty_max=_int_or_none(diff_max),
    )


def search(store: Store, f: TrajectoryFilter, limit: int = 200) -> tuple[pd.DataFrame, str]:
    """The newest `limit` samples matching the filter, and a one-line summary (or what is wrong with the filter)."""
    deadline = time.monotonic() + REGEX_TIME_LIMIT_S
    try:
        rows = store.find_trajectories(f, limit=limit, regex_timeout_s=REGEX_TIME_LIMIT_S)
        total = store.count_matching(f, cap=COUNT_CAP, regex_timeout_s=max(0.0, deadline - time.monotonic()))
    except re.error as err:  # a bad pattern: said to the user, never raised at them
        return pd.DataFrame(columns=RESULT_COLUMNS), f"not a valid regular expression: {err}"
    except RegexTimeout:
        return pd.DataFrame(columns=RESULT_COLUMNS), f"the regex took longer than {REGEX_TIME_LIMIT_S:g} s; simplify it"
    frame = pd.DataFrame(
        [[r["id"], r["run_id"], r["iteration"], r["prompt_id"], r["sample_index"], round(r["reward"], 3), r["correct"] > 0, r["length"],
          bool(r["truncated"]), bool(r["repeated"]), r["difficulty"], r["preview"]] for r in rows],
        columns=RESULT_COLUMNS,
    )
    shown = f"showing the newest {len(rows)}" if total > len(rows) else "showing all"
    count = f"more than {COUNT_CAP:,}" if total > COUNT_CAP else f"{total}"
    return frame, f"{count} samples match; {shown}. Click a row to open its group."


def _colour(value: float, lo: float, hi: float) -> str:
    """Red (lo) through white to green (hi), as a CSS background."""
    if hi <= lo:
        return "transparent"
    t = min(1.0, max(0.0, (value - lo) / (hi - lo)))
    if t < 0.5:
        return f"rgba(220, 60, 60, {0.55 * (1 - 2 * t):.2f})"
    return f"rgba(40, 160, 70, {0.55 * (2 * t - 1):.2f})"


def token_pieces(tokenizer, token_ids: list[int]) -> list[str]:
    """The text each token adds, so that the pieces join back into the decoded response."""
    if tokenizer is None:
        return [f"<{t}>" for t in token_ids]
    pieces, previous = [], ""
    for i in range(len(token_ids)):  # incremental decode: correct for byte-level and multi-token characters
        text = tokenizer.decode(token_ids[: i + 1], skip_special_tokens=False)
        pieces.append(text[len(previous):] if text.startswith(previous) else tokenizer.decode([token_ids[i]], skip_special_tokens=False))
        previous = text
    return pieces


def tokens_html(pieces: list[str], token_ids: list[int], logprobs: list[float], advantage: float, colour_by: str,
                entropies: list[float] = ()) -> str:
    """Spans, one per token, coloured by log-prob (red: unlikely), entropy (red: uncertain, 2+ nats) or the
    sample's advantage; hovering shows all three. All text escaped."""
    spans = []
    for i, (piece, tid) in enumerate(zip(pieces, token_ids)):
        lp = logprobs[i] if i < len(logprobs) else float("nan")
        ent = entropies[i] if i < len(entropies) else float("nan")
        if colour_by == "log-prob":
            bg = _colour(lp, -4.0, 0.0) if not math.isnan(lp) else "transparent"
        elif colour_by == "entropy":
            bg = _colour(-ent, -2.0, 0.0) if not math.isnan(ent) else "transparent"
        elif colour_by == "advantage":
            bg = _colour(advantage, -1.0, 1.0)
        else:
            bg = "transparent"
        ent_text = "not recorded" if math.isnan(ent) else f"{ent:.3f}"
        tip = f"#{i} token {tid} {piece!r} · log-prob {lp:.3f} · p {math.exp(lp):.3f} · entropy {ent_text} · advantage {advantage:+.3f}"
        shown = html.escape(piece).replace("\n", "↵<br>")
        spans.append(f'<span class="k15-tok" style="background:{bg}" title="{html.escape(tip, quote=True)}">{shown}</span>')
    return "".join(spans)


def group_html(group: list[dict], tokenizer, colour_by: str = "log-prob", reference: str | None = None, human: dict | None = None,
               marks: dict | None = None, pictures: str = "", flagged: dict | None = None) -> str:
    """The k samples of one prompt side by side: verdict (who decided, the judge's reasoning, a person's verdict from
    `human`: trajectory id -> HumanVerdict), DPO mark (`marks`: trajectory id -> HumanMark), reward and its parts,
    answer vs reference, flags, tokens. `pictures`: the prompt's images, as studio/images.py draws them. `flagged`: trajectory
    id -> what the triage queue says of it; those samples are outlined (`k15-flagged`) with the queue's words."""
    if not group:
        return "<p>No sample selected.</p>"
    first = group[0]
    mean_reward = statistics.fmean(t["reward"] for t in group)
    task = _task_for(first)
    head = (
        f'<div class="k15-group-head"><b>run #{first["run_id"]}, iteration {first["iteration"]}</b> · prompt '
        f'<code>{html.escape(first["prompt_id"])}</code> · difficulty {first["difficulty"]} · {len(group)} samples · '
        f'mean reward {mean_reward:.3f}{pair_marks.pairs_html(group, marks or {})}{prompt_html(first["prompt"], tokenizer, task)}{pictures}</div>'
    )
    cards = []
    for t in group:
        advantage = t["reward"] - mean_reward
        answer = task.extract_answer(t["response"]) if task is not None else None
        parts = " · ".join(f"{html.escape(k)} {v:+.3f}" for k, v in sorted(t["reward_parts"].items()))
        flags = [name for name in ("truncated", "repeated") if t[name]] + ([f"{t['segments']} segments"] if t["segments"] > 1 else [])
        verdict = "✓ correct" if t["correct"] > 0 else "✗ wrong"
        ref = f' vs reference <code>{html.escape(reference)}</code>' if reference else ""
        pieces = token_pieces(tokenizer, t["token_ids"])
        cards.append(
            f'<div class="k15-card {"k15-ok" if t["correct"] > 0 else "k15-bad"}{" k15-flagged" if int(t["id"]) in (flagged or {}) else ""}" '
            f'data-trajectory="{int(t["id"])}">{triage.flag_note(flagged, t["id"])}'
            f'<div class="k15-card-head"><b>sample {t["sample_index"]}</b> <small>id {int(t["id"])}</small> {verdict} · reward {t["reward"]:.3f} '
            f'(advantage {advantage:+.3f}) · {t["length"]} tokens{" · " + html.escape(", ".join(flags)) if flags else ""}</div>'
            f'{verdicts.verdict_html(t.get("verdict"), (human or {}).get(int(t["id"])))}{pair_marks.mark_html((marks or {}).get(int(t["id"])))}'
            f'<div class="k15-parts">{parts}</div>'
            f'<div class="k15-answer">answer <code>{html.escape(str(answer))}</code>{ref}</div>'
            f'<div class="k15-tokens">{tokens_html(pieces, t["token_ids"], t["logprobs"], advantage, colour_by, t.get("entropies", ()))}</div></div>'
        )
    return head + '<div class="k15-cards">' + "".join(cards) + "</div>"


def prompt_html(prompt: str, tokenizer, task) -> str:
    """The prompt as the model read it: a chat model's through its chat template with the task's answer
    instruction (`k15core.prompting.render_prompt`, as the trainer renders it), special tokens and all; any
    other model's as stored. Escaped: a prompt is user data."""
    if tokenizer is None or not uses_chat_template(tokenizer):
        return f'<pre class="k15-prompt">{html.escape(prompt)}</pre>'
    rendered = render_prompt(tokenizer, prompt, task.instruction if task is not None else "")
    return f'<div class="k15-prompt-caption">as the model read it (its chat template)</div><pre class="k15-prompt k15-chat">{html.escape(rendered)}</pre>'


def _task_for(traj: dict):
    """The task that can parse this sample's answer (from the prompt's task name; None if unknown)."""
    name = traj.get("task")
    if name and name in task_registry.TASKS.names():
        return task_registry.TASKS.get(name)()
    return None


def open_group(ctx, trajectory_id: int | None, colour_by: str, flagged: dict | None = None) -> tuple[str, pd.DataFrame, str]:
    """Group HTML, the prompt's history over iterations, and the prompt id, for one trajectory id (`flagged`: group_html's)."""
    empty = pd.DataFrame(columns=HISTORY_COLUMNS)
    if trajectory_id is None:
        return "<p>No sample selected.</p>", empty, ""
    group = ctx.store.trajectory_group(int(trajectory_id))
    if not group:
        return f"<p>No sample with id {int(trajectory_id)}.</p>", empty, ""
    prompt = ctx.store.prompt(group[0]["prompt_id"])
    state = ctx.store.prompt_labels([group[0]["prompt_id"]]).get(group[0]["prompt_id"], L.DEFAULT)
    reference = L.labelled(state, "reference", prompt["reference"] if prompt else None)
    run = ctx.store.run(group[0]["run_id"])
    for t in group:
        t["task"] = prompt["task"] if prompt else (run or {}).get("config", {}).get("task", {}).get("name")
    tokenizer = ctx.tokenizer_for_run(run)
    history = pd.DataFrame(ctx.store.prompt_over_iterations(group[0]["run_id"], group[0]["prompt_id"]), columns=empty.columns).round(3)
    human = verdicts.human_verdicts(ctx.store, group[0]["prompt_id"])
    marks = pair_marks.group_marks(ctx.store, group[0]["prompt_id"])
    pictures = images_html(ctx.workspace.images, prompt["images"] if prompt else [], group[0]["prompt_id"])
    return group_html(group, tokenizer, colour_by, reference, human, marks, pictures, flagged), history, group[0]["prompt_id"]


def run_choices(store: Store) -> list[tuple[str, int]]:
    """Every run, newest first, labelled with its kind and status."""
    return [(f"#{r['id']} {r['name']} ({r['kind']}, {r['status']})", r["id"]) for r in reversed(store.runs())]


def build(ctx) -> dict:
    with gr.Row():
        run_box = gr.Dropdown(label="run", choices=run_choices(ctx.store), value=None, scale=2, elem_id="rollouts-run", allow_custom_value=True)
        source = gr.Radio(["rl", "free", "all"], value="rl", label="samples", info="rl: training samples; free: held-out evaluation", scale=2,
                          elem_id="rollouts-samples")
        it_min = gr.Textbox(label="iteration from", placeholder="any", scale=1, elem_id="rollouts-it-min")
        it_max = gr.Textbox(label="to", placeholder="any", scale=1, elem_id="rollouts-it-max")
        diff_min = gr.Textbox("", label="difficulty ≥", placeholder="any", scale=1, elem_id="rollouts-diff-min")
        diff_max = gr.Textbox("", label="difficulty ≤", placeholder="any", scale=1, elem_id="rollouts-diff-max")
    with gr.Row():
        text = gr.Textbox(label="prompt or response contains", placeholder="text, or a regular expression", scale=3, elem_id="rollouts-text")
        regex = gr.Checkbox(label="regex", value=False, scale=1)
        verdict = gr.Radio([ANY, "correct", "wrong"], value=ANY, label="verdict", scale=2, elem_id="rollouts-verdict-filter")
        len_min = gr.Textbox(label="length ≥", placeholder="any", scale=1)
        len_max = gr.Textbox(label="length ≤", placeholder="any", scale=1)
        truncated = gr.Radio([ANY, YES, NO], value=ANY, label="truncated", scale=1)
        repeated = gr.Radio([ANY, YES, NO], value=ANY, label="repeated", scale=1)
    filters = [run_box, it_min, it_max, text, regex, verdict, len_min, len_max, truncated, repeated, source, diff_min, diff_max]
    search_btn = gr.Button("Search", variant="primary", elem_id="rollouts-search")
    summary = gr.Markdown()
    export.build(ctx, filters, make_filter, REGEX_TIME_LIMIT_S)  # every matching row to a file, not only the table's 200
    results = gr.Dataframe(headers=RESULT_COLUMNS, interactive=False, max_height=320, wrap=False, max_chars=80, elem_id="rollouts-results")
    flagged = gr.State({})  # trajectory id -> what the triage queue says of it: outlined in the group view
    with gr.Row():
        colour_by = gr.Radio(list(COLOUR_BY), value="log-prob", label="colour tokens by", info="hover a token for its values", elem_id="rollouts-colour")
        open_id = gr.Textbox(label="open sample id", placeholder="click a row, or type an id and press Enter", elem_id="rollouts-open-id")
    with gr.Row():  # DPO marks on the open group's samples (studio/pair_marks.py); the page's script sends the clicks as keys
        for action, label, variant in (("prev", "← Previous sample (k)", "secondary"), ("next", "Next sample (j) →", "secondary"),
                                       ("chosen", "Chosen (c)", "primary"), ("rejected", "Rejected (r)", "stop"),
                                       ("clear", "Clear mark (e)", "secondary"), ("undo", "Undo my last action (z)", "secondary")):
            gr.Button(label, size="sm", elem_id=pair_marks.KEYS[action][1], variant=variant)
    pair_panel = gr.HTML(key_queue.panel_value([]), html_template=key_queue.PANEL_TEMPLATE, js_on_load=pair_marks.keys_js(), elem_id="rollouts-keys")
    pairs_applied = gr.State(0)  # the highest key seq this page's queue has had applied (key_queue.apply_in_order)
    gr.Markdown(pair_marks.HELP, elem_id="rollouts-keys-help")
    triage.build(ctx, run_box, open_id, flagged)  # above the group view its clicks open
    group_view = gr.HTML(elem_id="rollouts-group")
    with gr.Row():  # a person's verdict on one sample of the open group: a label event, with its author and time
        verdict_sample = gr.Dropdown(label="your verdict on sample", choices=[], value=None, scale=2, elem_id="rollouts-verdict-sample")
        verdict_buttons = [(gr.Button(f"{name}", scale=1, elem_id=f"rollouts-verdict-{key}"), value)
                           for key, name, value in (("correct", "Correct", True), ("wrong", "Wrong", False), ("clear", "Take mine back", None))]
        verdict_said = gr.Markdown(elem_id="rollouts-verdict-said")
    history = gr.Dataframe(headers=HISTORY_COLUMNS, label="this prompt across iterations (look down the column; click a row to open that iteration's group)",
                           interactive=False, max_height=240, elem_id="rollouts-history")
    current_prompt = gr.Textbox(visible=False)
    compared = compare.build(ctx, current_prompt, lambda: run_choices(ctx.store), token_pieces)

    def do_search(*values):
        try:
            f = make_filter(*values)
        except ValueError as err:
            return pd.DataFrame(columns=RESULT_COLUMNS), f"check the filter: {err}"
        return search(ctx.store, f)

    search_event = dict(fn=do_search, inputs=filters, outputs=[results, summary])
    search_btn.click(**search_event, api_name="search_rollouts")
    text.submit(**search_event, api_visibility="private")

    def pick_row(frame, evt: gr.SelectData):
        row = evt.row_value if evt.row_value is not None else None
        return str(int(row[0])) if row else gr.skip()

    results.select(pick_row, results, open_id, api_visibility="private")

    def pick_queue(frame, evt: gr.SelectData):
        return str(int(evt.row_value[-1])) if evt.row_value else gr.skip()

    history.select(pick_queue, history, open_id, api_visibility="private")  # a history row opens that iteration's group (its first_id)

    def do_open(tid, colour, flags=None, keep=None):
        """The group of sample `tid`; the verdict dropdown on `keep` if it is one of its samples (after a verdict), else on `tid`."""
        try:
            tid = _int_or_none(tid)
            page, past, pid = open_group(ctx, tid, colour, flags)
        except ValueError as err:
            return f"<p>{html.escape(str(err))}</p>", gr.skip(), gr.skip(), gr.skip()
        choices = verdicts.sample_choices(ctx.store.trajectory_group(tid)) if pid else []
        value = keep if keep in [c[1] for c in choices] else (tid if pid else None)
        return page, past, pid, gr.Dropdown(choices=choices, value=value)

    opened = [group_view, history, current_prompt, verdict_sample]
    open_id.change(do_open, [open_id, colour_by, flagged], opened, api_name="open_group")
    colour_by.change(do_open, [open_id, colour_by, flagged], opened, api_visibility="private")
    for button, value in verdict_buttons:
        def give(sample, request: gr.Request, value=value):
            return verdicts.overrule(ctx.store, sample, value, ctx.author(request))

        button.click(give, verdict_sample, verdict_said, api_name=f"verdict_{'clear' if value is None else str(value).lower()}",
                     trigger_mode="once").then(do_open, [open_id, colour_by, flagged, verdict_sample], opened, api_visibility="private")

    # The page's key queue over the open group (studio/key_queue.py): one batch at a time, in order, each key on the
    # sample id it carries; then the group is drawn again with its marks. The buttons' clicks take the same path.
    def on_pair_keys(done, evt: gr.EventData, request: gr.Request):
        data = evt._data if isinstance(evt._data, dict) else {}
        results, done = pair_marks.apply_keys(ctx.store, data.get("keys"), ctx.author(request), done)
        return key_queue.panel_value([], done, results), done

    pair_panel.apply_keys(on_pair_keys, pairs_applied, [pair_panel, pairs_applied], trigger_mode="multiple", concurrency_limit=1,
                          show_progress="hidden", api_visibility="private")
    pair_panel.show_focus(lambda tid, colour, flags: do_open(tid, colour, flags)[0], [open_id, colour_by, flagged], group_view, trigger_mode="always_last",
                          show_progress="hidden", api_visibility="private")

    def mark_pair(trajectory_id: int, mark: str, request: gr.Request) -> str:
        """Mark a stored response "chosen" or "rejected" for DPO ("clear": take the mark back), as the keys c / r / e do."""
        if mark not in pair_marks.MARK_OF:
            return f"mark must be one of {', '.join(pair_marks.MARK_OF)}"
        return pair_marks.mark(ctx.store, trajectory_id, pair_marks.MARK_OF[mark], ctx.author(request))

    gr.api(mark_pair, api_name="mark_pair")
    return {"run": run_box, "source": source, "it_min": it_min, "it_max": it_max, "text": text, "regex": regex, "verdict": verdict, "len_min": len_min,
            "len_max": len_max, "diff_min": diff_min, "diff_max": diff_max, "truncated": truncated, "repeated": repeated, "search": search_event, "filters": filters, "results": results,
            "summary": summary, "open_id": open_id, "colour_by": colour_by, "compare": compared}
