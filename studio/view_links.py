"""The view in the address bar, and saved views: the page's half of studio/view_state.py.

- **Restore.** On load, the page's query (`gr.Request.query_params`: Gradio sends the page's own query with its
  first requests) is decoded and set on the components; then the Runs tab draws, and Rollouts searches when the
  view holds a filter or is on that tab. Switching the tab fires that tab's own select event, so the Prompts grid
  and the Long2short plot load as on a click; a group id set in the open-sample box opens the group as typing it does.
- **Write.** A change of any component a view holds bumps a hidden counter in the page (no round trip); the
  counter's one listener (`always_last`: a burst of changes is one call) encodes the view into a hidden box, and
  the box's change writes it into the address with `history.replaceState`: no reload, no new history entry, and
  Gradio's own keys (?view=api, ?__theme=) kept. Nothing is written until the load has restored the view (the
  first tab fires its select event before the load ends, and would write the default view over the link).
- **The tab** is the one a Tab's select event last named: Gradio fires it on a click, on the first tab shown, and
  when a handler switches tabs (Runs' "Open these iterations in Rollouts", a Long2short row).
- **Saved views**: a name and the view, per workspace (`view_state.SavedViews`); picking one sets it as a link does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from studio import rollouts_tab, runs_tab
from studio.runs_plots import literal_md
from studio.view_state import DEFAULT, KEYS, TABS, SavedViews, ViewState, decode, encode

PARTS = ("runs", "follow", "smoothing", "runs_from", "runs_to", "run", "samples", "it_min", "it_max", "text", "regex", "verdict", "len_min",
         "len_max", "diff_min", "diff_max", "truncated", "repeated", "group", "colour", "cmp", "cmp_a_run", "cmp_a_it", "cmp_a_sample", "cmp_b_run", "cmp_b_it", "cmp_b_sample", "compared", "prompt",
         "prompts_text", "prompts_status", "prompts_level")
"""The components a view is read from and set on, by name (`follow` stands for "no runs picked"; `compared`: whether the
compare inputs were compared, not only filled in with a group's defaults: only then are they part of the view)."""
CMP = ("cmp", "cmp_a_run", "cmp_a_it", "cmp_a_sample", "cmp_b_run", "cmp_b_it", "cmp_b_sample")

_WRITE = """
  if (!window.__k15ViewReady) return;
  const KEYS = __KEYS__;
  const kept = [...new URLSearchParams(window.location.search)].filter(([k]) => !KEYS.includes(k));
  const search = [q || "", new URLSearchParams(kept).toString()].filter(Boolean).join("&");
  const url = window.location.pathname + (search ? "?" + search : "") + window.location.hash;
  if (url !== window.location.pathname + window.location.search + window.location.hash) window.history.replaceState(window.history.state, "", url);
""".replace("__KEYS__", json.dumps(list(KEYS)))
WRITE_JS = "(q) => {" + _WRITE + "}"
"""The view's query (the hidden box's value) into the address; Gradio's own keys stay."""
READY_JS = "(q) => { window.__k15ViewReady = true;" + _WRITE + "}"
"""The end of the restore: from now on the address follows the page."""
NUDGE_JS = "(n) => (n || 0) + 1"


@dataclass
class Views:
    """The views bar's components and the hidden ones the address is written through."""

    tab: gr.State
    nudge: gr.Number
    query: gr.Textbox
    saved: gr.Dropdown
    name: gr.Textbox
    save: gr.Button
    delete: gr.Button
    said: gr.Markdown


def build(ctx) -> Views:
    """The saved-views bar (above the tabs) and the hidden state; `wire` connects them once the tabs exist."""
    with gr.Row(equal_height=True):
        saved = gr.Dropdown(label="saved views", choices=SavedViews(ctx.workspace.root).names(), value=None, scale=3, elem_id="views-saved",
                            info="pick one to open it; the address bar always holds the view you see: copy it to share")
        name = gr.Textbox(label="save this view as", placeholder="a name, e.g. wrong answers, level 5", scale=3, elem_id="views-name")
        save = gr.Button("Save view", scale=1, elem_id="views-save")
        delete = gr.Button("Delete the picked view", scale=1, elem_id="views-delete")
    said = gr.Markdown(elem_id="views-said")
    return Views(tab=gr.State("runs"), nudge=gr.Number(0, visible=False), query=gr.Textbox(visible=False, elem_id="views-query"), saved=saved,
                 name=name, save=save, delete=delete, said=said)


def view_of(tab, runs, follow, smoothing, runs_from, runs_to, run, samples, it_min, it_max, text, regex, verdict, len_min, len_max, diff_min,
            diff_max, truncated, repeated, group, colour, cmp, cmp_a_run, cmp_a_it, cmp_a_sample, cmp_b_run, cmp_b_it, cmp_b_sample, compared,
            prompt, prompts_text, prompts_status, prompts_level) -> ViewState:
    """The view the components show (values in PARTS order, after the tab)."""
    sides = dict(zip(CMP, (cmp, cmp_a_run, cmp_a_it, cmp_a_sample, cmp_b_run, cmp_b_it, cmp_b_sample))) if compared else {}
    return ViewState.of(**sides,
        tab=tab, runs=() if follow else runs, smoothing=smoothing, runs_from=runs_from, runs_to=runs_to, run=run, samples=samples, it_min=it_min,
        it_max=it_max, text=text, regex=regex, verdict=verdict, len_min=len_min, len_max=len_max, diff_min=diff_min,
        diff_max=diff_max, truncated=truncated, repeated=repeated,
        group=group, colour=colour, prompt=prompt, prompts_text=prompts_text, prompts_status=prompts_status, prompts_level=prompts_level,
    )


def settings(ctx, view: ViewState, changes_only: bool = False) -> list:
    """What to set on the tabs and on PARTS to show `view`. Picked runs that are not RL runs of the store are left out
    (none left: follow the newest run); a following view leaves the picker to the Runs tab's next draw.

    `changes_only` (a page loading): what holds its default is left alone (gr.skip()). The page shows the defaults
    already, and a person may have clicked in it since: a tab opened before the load answered stays open."""
    rl = runs_tab.run_choices(ctx.store)
    picked = [r for r in view.runs if r in {c[1] for c in rl}]

    def box(n: int | None) -> str:
        return "" if n is None else str(n)

    out = {
        "tab": gr.Tabs(selected=view.tab), "runs": gr.Dropdown(choices=rl, value=picked, multiselect=True) if picked else gr.skip(),
        "follow": not picked, "smoothing": view.smoothing, "runs_from": view.runs_from, "runs_to": view.runs_to,
        "run": gr.Dropdown(choices=rollouts_tab.run_choices(ctx.store), value=view.run), "samples": view.samples, "it_min": box(view.it_min),
        "it_max": box(view.it_max), "text": view.text, "regex": view.regex, "verdict": view.verdict, "len_min": box(view.len_min),
        "len_max": box(view.len_max), "diff_min": box(view.diff_min), "diff_max": box(view.diff_max), "truncated": view.truncated, "repeated": view.repeated, "group": box(view.group), "colour": view.colour,
        **{k: getattr(view, k) for k in CMP}, "compared": bool(view.cmp),
        "prompt": view.prompt, "prompts_text": view.prompts_text, "prompts_status": view.prompts_status, "prompts_level": view.prompts_level,
    }
    if changes_only:
        default = {f: getattr(DEFAULT, f) == getattr(view, f) for f in PARTS if f not in ("follow", "compared")}
        default |= {"tab": view.tab == DEFAULT.tab, "follow": not picked, "compared": not view.cmp}
        out = {k: gr.skip() if default[k] else v for k, v in out.items()}
    return [out["tab"], *(out[k] for k in PARTS)]


def wire(ctx, app: gr.Blocks, views: Views, tabs: gr.Tabs, pages: dict, runs: dict, rollouts: dict, prompts: dict) -> None:
    """Connect the address and the saved views to the tabs. `pages`: tab id -> gr.Tab; the dicts: the tabs' `build`."""
    parts = {
        "runs": runs["runs"], "follow": runs["follow"], "smoothing": runs["smoothing"], "runs_from": runs["it_lo"], "runs_to": runs["it_hi"],
        "run": rollouts["run"], "samples": rollouts["source"], "it_min": rollouts["it_min"], "it_max": rollouts["it_max"], "text": rollouts["text"],
        "regex": rollouts["regex"], "verdict": rollouts["verdict"], "len_min": rollouts["len_min"], "len_max": rollouts["len_max"],
        "diff_min": rollouts["diff_min"], "diff_max": rollouts["diff_max"], "truncated": rollouts["truncated"], "repeated": rollouts["repeated"], "group": rollouts["open_id"], "colour": rollouts["colour_by"],
        **dict(zip(CMP, rollouts["compare"]["inputs"])), "compared": rollouts["compare"]["compared"], "prompt": prompts["current"], "prompts_text": prompts["filter_text"], "prompts_status": prompts["status"], "prompts_level": prompts["level"],
    }
    assert tuple(parts) == PARTS and set(pages) == set(TABS)
    shown = [views.tab, *parts.values()]
    store = SavedViews(ctx.workspace.root)
    private = dict(api_visibility="private", show_progress="hidden")
    nudge = dict(fn=None, inputs=views.nudge, outputs=views.nudge, js=NUDGE_JS, **private)

    def query_of(*values) -> str:
        return encode(view_of(*values))

    # write: every change nudges; one listener encodes; the hidden box's change writes the address
    for component in parts.values():
        component.change(**nudge)
    views.nudge.change(query_of, shown, views.query, trigger_mode="always_last", queue=False, **private)
    views.query.change(None, views.query, None, js=WRITE_JS, **private)
    for tab_id, page in pages.items():
        page.select(lambda tab_id=tab_id: tab_id, None, views.tab, **private).then(**nudge)

    # restore: from the link on load, from a saved view when one is picked
    setting = [tabs, *parts.values()]
    state = gr.State(None)  # the view being restored, for the steps after the first

    def search_if_needed(view, *filters):
        if view is None or not (view.rollouts_set() or view.tab == "rollouts"):
            return gr.skip(), gr.skip()
        return rollouts["search"]["fn"](*filters)

    def compare_if_needed(view, *inputs):
        return rollouts["compare"]["draw"](*inputs) if view is not None and view.cmp else gr.skip()

    def then_show(event):
        """The steps after the components are set: the Runs tab draws, Rollouts searches, the address is written."""
        return (event.then(**runs["load"], **private).then(**runs["recolor"])
                .then(search_if_needed, [state, *rollouts["search"]["inputs"]], rollouts["search"]["outputs"], **private)
                .then(compare_if_needed, [state, *rollouts["compare"]["inputs"]], rollouts["compare"]["view"], **private)
                .then(query_of, shown, views.query, **private))

    def on_load(request: gr.Request):
        view = decode(str(request.query_params) if request is not None else "")
        return [*settings(ctx, view, changes_only=True), gr.Dropdown(choices=store.names()), view]

    restored = then_show(app.load(on_load, None, [*setting, views.saved, state], **private))
    restored.then(None, views.query, None, js=READY_JS, **private)

    def on_pick(name):
        view = store.get(name)
        if view is None:
            return [*[gr.skip()] * len(setting), None, f"no saved view is named **{literal_md(name)}**" if name else ""]
        return [*settings(ctx, view), view, f"opened the saved view **{literal_md(name)}**"]

    then_show(views.saved.input(on_pick, views.saved, [*setting, state, views.said], **private))

    def on_save(name, *values):
        try:
            said = store.save(name, view_of(*values))
        except ValueError as err:
            return gr.skip(), gr.skip(), f"not saved: {literal_md(str(err))}"
        return gr.Dropdown(choices=store.names(), value=name.strip()), "", f"{literal_md(said)}; pick it under **saved views** to open it again"

    for trigger in (views.save.click, views.name.submit):
        trigger(on_save, [views.name, *shown], [views.saved, views.name, views.said], trigger_mode="once", **private)

    def on_delete(name):
        if not name:
            return gr.skip(), "pick a saved view to delete"
        gone = store.delete(name)
        said = f"deleted the saved view **{literal_md(name)}**" if gone else f"no saved view is named **{literal_md(name)}**"
        return gr.Dropdown(choices=store.names(), value=None), said

    views.delete.click(on_delete, views.saved, [views.saved, views.said], trigger_mode="once", **private)
