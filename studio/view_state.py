"""A studio view as a URL query, and the views a workspace keeps by name. Pure: no Gradio here (the page's half
is studio/view_links.py).

A view is what a person set up to look at: the tab, the Runs tab's picked runs, smoothing and iteration range,
the Rollouts filters (difficulty range included), the open group and its token colouring, the Prompts filter and the prompt in focus. It is
one `ViewState`; `encode` writes it as a query string (only what differs from the default, keys in a fixed
order), `decode` reads one back:

    ?tab=rollouts&run=1&it=2-5&q=Answer&verdict=wrong&group=17

A query is untrusted (a link anyone can send), and so is a value typed into a box: `ViewState.of` takes each
value as text or as the component's own type and keeps it only if it is one of the field's values (a choice it
knows, a whole number in range, a text short enough and printable); anything else, and any key it does not
know, leaves the field at its default. Nothing here raises on bad input, and `decode(encode(v)) == v` for every
`v` that `ViewState.of` makes (tests/studio/test_view_state.py).

`SavedViews` keeps name -> view in the workspace's studio-views.json (each view stored as its query, read back
through `decode`), written whole or not at all.
"""
from __future__ import annotations

import json
import math
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

from k15core.curves import SMOOTHING_MAX

try:
    import fcntl
except ImportError:  # Windows: one studio per workspace folder is assumed there
    fcntl = None

TABS = ("runs", "rollouts", "prompts", "long2short", "launch")
SAMPLES = ("rl", "free", "all")
VERDICTS = ("any", "correct", "wrong")
TRISTATE = ("any", "yes", "no")
COLOURS = ("log-prob", "entropy", "advantage", "none")
PROMPT_STATUSES = ("all", "not reviewed", "kept", "excluded", "flagged")
"""The choices of the tabs' radios and dropdowns (rollouts_tab.COLOUR_BY, prompts_tab.STATUS_FILTERS: a test keeps them equal)."""

MAX_NUMBER = 2**53 - 1
"""The largest id or iteration a view holds (the page's numbers are JavaScript doubles)."""
MAX_DIGITS = 16
MAX_TEXT = 2000
"""The longest search text or regex a view holds; a longer one is dropped, never cut (a cut regex means another thing)."""
MAX_PROMPT_ID = 200
MAX_RUNS = 50
MAX_QUERY = 1_000_000
"""A query longer than this is not read at all."""
RESERVED = ("view", "ui", "deep_link", "write_token", "__theme", "__sign", "lang")
"""Query keys Gradio's page reads itself (?view=api, ?__theme=dark, ...): no view key is one of them, and the page
keeps them when it writes the view into the address."""


@dataclass(frozen=True)
class ViewState:
    """Everything a link restores. Defaults: the studio as it opens (Runs tab, following the newest run, no filter)."""

    tab: str = "runs"
    runs: tuple[int, ...] = ()
    """Runs tab: the runs picked to plot; () follows the newest running run."""
    smoothing: float = 0.0
    runs_from: int = 0
    runs_to: int = 0
    """Runs tab: the iteration range to open in Rollouts (brushed on a plot, or typed)."""
    run: int | None = None
    """Rollouts: the run searched (None: every run)."""
    samples: str = "rl"
    it_min: int | None = None
    it_max: int | None = None
    text: str = ""
    regex: bool = False
    verdict: str = "any"
    len_min: int | None = None
    len_max: int | None = None
    diff_min: int | None = None
    diff_max: int | None = None
    truncated: str = "any"
    repeated: str = "any"
    group: int | None = None
    """Rollouts: the open group, as the id of one of its samples."""
    colour: str = "log-prob"
    cmp: str = ""
    """Rollouts' compare panel, once Compare was pressed: the prompt, and each side's run, iteration and sample."""
    cmp_a_run: int | None = None
    cmp_a_it: int | None = None
    cmp_a_sample: int | None = None
    cmp_b_run: int | None = None
    cmp_b_it: int | None = None
    cmp_b_sample: int | None = None
    prompt: str = ""
    """Prompts: the prompt in focus."""
    prompts_text: str = ""
    prompts_status: str = "all"
    prompts_level: int = 0

    @classmethod
    def of(cls, **values) -> "ViewState":
        """A view from raw values (query text, or the components' own values); each one that is not valid for its
        field, and each name that is no field, is dropped. Never raises."""
        read = {name: _read(name, value) for name, value in values.items() if name in _READERS}
        return cls(**{name: value for name, value in read.items() if value is not _BAD})

    def __repr__(self) -> str:  # the fields that differ from the default
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) != f.default)
        return f"ViewState({shown})"

    def rollouts_set(self) -> bool:
        """Whether any Rollouts filter or the open group differs from the default."""
        return any(getattr(self, k) != getattr(DEFAULT, k) for k in _ROLLOUTS_FIELDS)


_BAD = object()


def _whole(x, lo: int = 0, hi: int = MAX_NUMBER):
    """A whole number in lo..hi from an int, an integral float or ASCII digits; else _BAD. Blank or None: None."""
    if x is None:
        return None
    if isinstance(x, bool):
        return _BAD
    if isinstance(x, float):
        if not math.isfinite(x) or not x.is_integer():
            return _BAD
        x = int(x)
    elif isinstance(x, str):
        s = x.strip()
        if not s or s.lower() == "any":
            return None
        if len(s) > MAX_DIGITS or not (s.isascii() and s.isdigit()):
            return _BAD
        x = int(s)
    if not isinstance(x, int) or not lo <= x <= hi:
        return _BAD
    return x


def _choice(options: tuple[str, ...]):
    return lambda x: x if isinstance(x, str) and x in options else _BAD


def _text(limit: int):
    def read(x):
        if x is None:
            return ""
        if not isinstance(x, str) or len(x) > limit or not x.isprintable():
            return _BAD
        return x
    return read


def _flag(x):
    if isinstance(x, bool):
        return x
    return {"1": True, "0": False}.get(x, _BAD) if isinstance(x, str) else _BAD


def _runs(x):
    """Run ids: a comma-separated text or a list, in order, each once; _BAD if any id is bad or there are too many."""
    if x is None or (isinstance(x, str) and not x.strip()):
        return ()
    if isinstance(x, str):
        x = x.split(",", MAX_RUNS)
    if not isinstance(x, (list, tuple)) or len(x) > MAX_RUNS:
        return _BAD
    ids = [_whole(i, lo=1) for i in x]
    if any(i is _BAD or i is None for i in ids):
        return _BAD
    return tuple(dict.fromkeys(ids))


def _smoothing(x):
    """The Runs tab's smoothing weight, 0..SMOOTHING_MAX, to the slider's hundredth."""
    if isinstance(x, bool) or not isinstance(x, (int, float, str)) or (isinstance(x, str) and len(x) > 32):
        return _BAD
    try:
        v = float(x)
    except ValueError:
        return _BAD
    return round(v, 2) if math.isfinite(v) and 0.0 <= v <= SMOOTHING_MAX else _BAD


def _zero_default(x, hi: int = MAX_NUMBER):
    """A whole number that is 0 when blank (the Runs tab's iteration range, the Prompts level)."""
    v = _whole(x, hi=hi)
    return 0 if v is None else v


_READERS = {
    "tab": _choice(TABS), "runs": _runs, "smoothing": _smoothing, "runs_from": _zero_default, "runs_to": _zero_default,
    "run": lambda x: _whole(x, lo=1), "samples": _choice(SAMPLES), "it_min": _whole, "it_max": _whole, "text": _text(MAX_TEXT),
    "regex": _flag, "verdict": _choice(VERDICTS), "len_min": _whole, "len_max": _whole, "diff_min": _whole, "diff_max": _whole,
    "truncated": _choice(TRISTATE),
    "repeated": _choice(TRISTATE), "group": lambda x: _whole(x, lo=1), "colour": _choice(COLOURS), "prompt": _text(MAX_PROMPT_ID),
    "cmp": _text(MAX_PROMPT_ID), **{f"cmp_{s}_{p}": (lambda x: _whole(x, lo=1)) if p == "run" else _whole for s in "ab" for p in ("run", "it", "sample")},
    "prompts_text": _text(MAX_TEXT), "prompts_status": _choice(PROMPT_STATUSES), "prompts_level": lambda x: _zero_default(x, hi=5),
}


def _read(name: str, value):
    try:
        return _READERS[name](value)
    except Exception:  # noqa: BLE001  a reader must never raise at a link: a value it cannot read is dropped
        return _BAD


DEFAULT = ViewState()
_ROLLOUTS_FIELDS = ("run", "samples", "it_min", "it_max", "text", "regex", "verdict", "len_min", "len_max", "diff_min", "diff_max", "truncated",
                    "repeated", "group")

# Query key -> the fields it holds. A range "a-b" holds two (either side may be blank: "3-" is from 3 on); a compare
# side "run-iteration-sample" three.
_KEYS: dict[str, tuple[str, ...]] = {
    "tab": ("tab",), "runs": ("runs",), "smooth": ("smoothing",), "runs_it": ("runs_from", "runs_to"), "run": ("run",),
    "samples": ("samples",), "it": ("it_min", "it_max"), "q": ("text",), "regex": ("regex",), "verdict": ("verdict",),
    "len": ("len_min", "len_max"), "diff": ("diff_min", "diff_max"), "truncated": ("truncated",), "repeated": ("repeated",), "group": ("group",),
    "colour": ("colour",), "cmp": ("cmp",), "cmp_a": ("cmp_a_run", "cmp_a_it", "cmp_a_sample"), "cmp_b": ("cmp_b_run", "cmp_b_it", "cmp_b_sample"),
    "prompt": ("prompt",), "prompts_q": ("prompts_text",), "prompts_status": ("prompts_status",), "prompts_level": ("prompts_level",),
}
KEYS = tuple(_KEYS)
"""Every query key a view writes, in the order it writes them."""


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def encode(view: ViewState) -> str:
    """The query string of a view (no leading '?'): only what differs from the default, keys in KEYS order.

    >>> encode(ViewState(tab="rollouts", run=1, it_min=2, text="x = 1", group=17))
    'tab=rollouts&run=1&it=2-&q=x%20%3D%201&group=17'
    >>> encode(ViewState())
    ''
    """
    pairs = []
    for key, names in _KEYS.items():
        values = [getattr(view, n) for n in names]
        if values == [getattr(DEFAULT, n) for n in names]:
            continue
        pairs.append((key, "-".join(_show(v) for v in values)))
    return urlencode(pairs, quote_via=quote, safe=",")


def decode(query: str | None) -> ViewState:
    """The view a query string holds (a leading '?' is allowed). Unknown keys, repeated keys after the first, and
    values a field cannot hold are ignored; never raises.

    >>> decode("?tab=prompts&prompt=%3Cscript%3E&smooth=1e999&colour=red&group=99999999999999999999&x=1")
    ViewState(tab='prompts', prompt='<script>')
    """
    if not isinstance(query, str) or len(query) > MAX_QUERY:
        return DEFAULT
    raw: dict[str, str] = {}
    try:
        pairs = parse_qsl(query.removeprefix("?"), keep_blank_values=True, errors="replace")
    except ValueError:
        return DEFAULT
    for key, value in pairs:
        names = _KEYS.get(key)
        if names is None or names[0] in raw:
            continue
        parts = [value] if len(names) == 1 else value.split("-")
        if len(parts) == len(names):
            raw.update(zip(names, parts))
    return ViewState.of(**raw)


# -- saved views ----------------------------------------------------------------------------------

VIEWS_FILE = "studio-views.json"
MAX_VIEWS = 200
NAME = re.compile(r"\w[\w .,:()#+-]{0,63}")
"""A saved view's name: a letter or digit first, then letters, digits, spaces and . , : ( ) # + -; at most 64."""
_LOCK = threading.Lock()


def check_view_name(name) -> str:
    """The name, stripped, if a saved view may have it; else ValueError saying why.

    >>> check_view_name("  bad runs, level 5 ")
    'bad runs, level 5'
    >>> check_view_name("<script>")
    Traceback (most recent call last):
    ValueError: a view's name is a letter or digit, then letters, digits, spaces and . , : ( ) # + - (at most 64)
    """
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValueError("give the view a name")
    if NAME.fullmatch(name) is None:
        raise ValueError("a view's name is a letter or digit, then letters, digits, spaces and . , : ( ) # + - (at most 64)")
    return name


class SavedViews:
    """A workspace's saved views: name -> ViewState, in `<workspace>/studio-views.json` ({"views": {name: query}}).

    Written to a temporary file and renamed into place, so a reader never sees half a file; a save or delete holds
    a lock (this process's, and an flock on studio-views.json.lock for other studios on the same folder) from its
    read to its write, so two saves at once both land. A file that cannot be read is never overwritten: saving
    says what is wrong with it instead. A hand-edited entry with a bad name or a bad query is skipped (the query
    is read through `decode`, like any link)."""

    def __init__(self, workspace_root: str | Path):
        self.path = Path(workspace_root) / VIEWS_FILE

    def _read(self) -> dict[str, str]:
        """The stored name -> query; ValueError when the file is there but not a views file."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{self.path.name} cannot be read ({err}); fix or remove it") from None
        views = data.get("views") if isinstance(data, dict) else None
        if not isinstance(views, dict):
            raise ValueError(f"{self.path.name} holds no views object; fix or remove it")
        return {k: v for k, v in views.items() if isinstance(k, str) and NAME.fullmatch(k) and isinstance(v, str)}

    def names(self) -> list[str]:
        """The saved names, sorted (none when the file cannot be read)."""
        try:
            return sorted(self._read(), key=str.casefold)
        except ValueError:
            return []

    def get(self, name: str) -> ViewState | None:
        try:
            query = self._read().get(name) if isinstance(name, str) else None
        except ValueError:
            return None
        return None if query is None else decode(query)

    def save(self, name: str, view: ViewState) -> str:
        """Save `view` as `name` (replacing a view of that name); returns what was done. ValueError: a bad name,
        too many views, or a file that cannot be read."""
        name = check_view_name(name)
        with self._locked():
            views = self._read()
            replaced = name in views
            if not replaced and len(views) >= MAX_VIEWS:
                raise ValueError(f"{MAX_VIEWS} views are saved already; delete one first")
            views[name] = encode(view)
            self._write(views)
        return f"replaced the saved view {name!r}" if replaced else f"saved the view {name!r}"

    def delete(self, name: str) -> bool:
        """Delete a saved view; False if there was none of that name."""
        with self._locked():
            views = self._read()
            if name not in views:
                return False
            del views[name]
            self._write(views)
        return True

    def _write(self, views: dict[str, str]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"views": dict(sorted(views.items()))}, f, ensure_ascii=False, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def _locked(self):
        with _LOCK:
            if fcntl is None:
                yield
                return
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
