"""The k15 studio: a Gradio 6 Blocks app over one workspace's run store.

    python -m studio --workspace DIR [--host 127.0.0.1] [--port N] [--auth FILE]   (what `k15 studio` runs)

`build_app(workspace)` makes the Blocks; `serve(...)` launches it with the safe settings (loopback by
default, a non-loopback host only with --auth, run history and monitoring off, and on loopback without
--auth only requests addressed to the loopback address: studio/host_check.py; with --auth, sign-in
attempts limited: studio/login_limit.py). The module-level
`demo` (for `gradio studio/app.py`) is built on first access from $K15_WORKSPACE, so importing this
module opens nothing. The studio talks to training only through the store and the `k15` command, so
it can be restarted while a run trains.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home, before gradio is imported

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from k15core.errors import K15Error  # noqa: E402
from studio import launch_tab, long2short_tab, prompts_refresh, prompts_tab, rollouts_tab, runs_tab, view_links  # noqa: E402
from studio.context import StudioContext  # noqa: E402
from studio.host_check import HostCheck, allowed_hosts  # noqa: E402
from studio.login_limit import LoginLimit, LoginLimiter  # noqa: E402
from studio.shortcuts import shortcuts_head  # noqa: E402

CSS = """
.k15-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 10px; }
.k15-card { border: 1px solid #ccc; border-radius: 6px; padding: 8px; font-size: 13px; }
.k15-ok { border-left: 5px solid #2a9d4b; } .k15-bad { border-left: 5px solid #d64545; }
.k15-tokens { font-family: ui-monospace, monospace; white-space: normal; word-break: break-all; margin-top: 6px; line-height: 1.6; }
.k15-tok { border-radius: 2px; } .k15-tok:hover { outline: 1px solid #333; }
.k15-prompt { white-space: pre-wrap; background: #f6f6f6; padding: 6px; }
.k15-keys { font-size: 13px; color: #555; } .k15-stale { opacity: 0.45; }
.k15-verdict { margin-top: 4px; } .k15-human { color: #8a4b00; }
.k15-reasoning pre { white-space: pre-wrap; background: #f6f6f6; padding: 4px; max-height: 220px; overflow: auto; }
.k15-focus { outline: 3px solid #2f6fde; outline-offset: 1px; } .k15-pairs { margin: 4px 0; }
.k15-flagged { box-shadow: 0 0 0 4px #f0b400; }  /* not an outline: the key focus (.k15-focus) is one, and both show */ .k15-flag { color: #8a5a00; font-weight: 600; margin-bottom: 4px; }
.k15-mark { margin-top: 4px; } .k15-mark-chosen { color: #1d7a3a; } .k15-mark-rejected { color: #b03030; }
"""


def build_app(workspace: str | Path | None = None, ctx: StudioContext | None = None) -> gr.Blocks:
    """The studio's Blocks for one workspace (default: $K15_WORKSPACE or ./k15-workspace)."""
    ctx = ctx or StudioContext.open(workspace)
    with gr.Blocks(title="k15 studio") as app:
        gr.Markdown(f"## k15 studio · workspace `{ctx.workspace.root}`")
        views = view_links.build(ctx)
        with gr.Tabs(selected="runs") as tabs:
            with gr.Tab("Runs", id="runs") as runs_page:
                runs = runs_tab.build(ctx)
            with gr.Tab("Rollouts", id="rollouts") as rollouts_page:
                rollouts = rollouts_tab.build(ctx)
            with gr.Tab("Prompts", id="prompts") as prompts_page:
                prompts = prompts_tab.build(ctx)
                prompts_refresh.wire(ctx, prompts["grid"], prompts["queue"], prompts["message"])
            with gr.Tab("Long2short", id="long2short") as l2s_page:
                l2s = long2short_tab.build(ctx)
            with gr.Tab("Launch", id="launch") as launch_page:
                launch_tab.build(ctx)

        def all_runs():
            return rollouts_tab.run_choices(ctx.store)

        def fill_runs(current):
            choices = all_runs()
            ids = [c[1] for c in choices]
            rl = [r["id"] for r in reversed(ctx.store.runs(kind="rl"))]
            return gr.Dropdown(choices=choices, value=current if current in ids else (rl[0] if rl else (ids[0] if ids else None)))

        rollouts_page.select(fill_runs, rollouts["run"], rollouts["run"], api_visibility="private")
        prompts_page.select(prompts["load"], prompts["load_inputs"], prompts["load_outputs"], api_visibility="private")

        def open_in_rollouts(selected, lo, hi):
            run_id = selected[0] if selected else None
            choices = all_runs()
            return gr.Tabs(selected="rollouts"), gr.Dropdown(choices=choices, value=run_id), str(int(lo or 0)), str(int(hi or 0))

        runs["open"].click(
            open_in_rollouts, [runs["runs"], runs["it_lo"], runs["it_hi"]], [tabs, rollouts["run"], rollouts["it_min"], rollouts["it_max"]],
            api_visibility="private",
        ).then(**rollouts["search"], api_visibility="private")
        l2s_page.select(**l2s["refresh"], api_visibility="private")

        def open_evaluation(frame, evt: gr.SelectData):
            if not evt.row_value:
                return gr.skip(), gr.skip(), gr.skip()
            return gr.Tabs(selected="rollouts"), gr.Dropdown(choices=all_runs(), value=int(evt.row_value[1])), "free"

        l2s["runs"].select(open_evaluation, l2s["runs"], [tabs, rollouts["run"], rollouts["source"]], api_visibility="private").then(
            **rollouts["search"], api_visibility="private")
        # the view in the address bar and saved views; its load restores a link's view, then the Runs tab draws
        pages = {"runs": runs_page, "rollouts": rollouts_page, "prompts": prompts_page, "long2short": l2s_page, "launch": launch_page}
        view_links.wire(ctx, app, views, tabs, pages, runs, rollouts, prompts)
    app.k15_context = ctx  # for tests and serve()
    return app


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """`user:password` per line (# comments and blank lines ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise K15Error(f"cannot read the auth file {str(path)!r}: {err.strerror}", "pass --auth FILE with lines user:password") from None
    pairs = []
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise K15Error(f"auth file {str(path)!r} line {n} is not user:password", "one user:password per line")
        pairs.append((user.strip(), password))
    if not pairs:
        raise K15Error(f"auth file {str(path)!r} names no user", "one user:password per line")
    return pairs


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, auth: list[tuple[str, str]] | None = None,
          block: bool = True, quiet: bool = False, login_limiter: LoginLimiter | None = None) -> str:
    """Launch the studio with its safe settings; returns the local URL (blocks until Ctrl-C when `block`).

    With `auth`, sign-in attempts are limited (`login_limiter`, default LoginLimiter(): 5 free failures per user)."""
    if not is_loopback(host) and not auth:
        raise K15Error(f"refusing to serve the studio on {host} without authentication", "pass --auth FILE (lines user:password), or use --host 127.0.0.1")
    app.queue(default_concurrency_limit=4)
    port = port or free_port(host if is_loopback(host) else "0.0.0.0")
    # Gradio builds its FastAPI app inside launch(); app_kwargs go to that app's constructor, so these
    # middlewares are in place before the first request (ssr_mode off: no Node proxy in front of them).
    if auth:
        middleware = [Middleware(LoginLimit, limiter=login_limiter or LoginLimiter())]
    else:
        middleware = [Middleware(HostCheck, allowed=allowed_hosts(host, port))] if is_loopback(host) else []
    _, url, _ = app.launch(
        server_name=host, server_port=port, auth=auth,
        auth_message="k15 studio: sign in; your labels are recorded under this name.",
        prevent_thread_lock=not block, quiet=quiet, show_error=True, run_history=False, enable_monitoring=False,
        footer_links=["api"], head=shortcuts_head(), css=CSS, ssr_mode=False, app_kwargs={"middleware": middleware},
    )
    return url


def __getattr__(name: str):  # PEP 562: `demo` is built on first access, never at import
    if name == "demo":
        global demo
        demo = build_app(os.environ.get("K15_WORKSPACE"))
        return demo
    raise AttributeError(name)
