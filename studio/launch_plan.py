"""Everything the Launch tab checks before it starts a process: the config built as `k15 train` will build it, the
starting model or the run to resume found as the trainer will find it, and the output name, which must be a plain
name and, if a model of that name exists or a running launch will save one, needs an explicit overwrite.

`plan_launch` returns what to start (a LaunchPlan) or raises the K15Error the trainer would have died with, so a
launch that cannot train never starts and the form says why at once.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import yaml

from k15core.config import DEMO_CONFIG, Config, config_from_dict, load_config
from k15core.errors import K15Error
from k15core.stages import check_model_ref, latest_rl_run, rl_checkpoint_dir
from k15core.store import Store
from k15core.workspace import Workspace, check_name


@dataclass(frozen=True)
class LaunchPlan:
    config_yaml: str
    """The config file `k15 train --config` reads (a new run; a resume trains with its stored config instead)."""
    args: list[str]
    """`k15 train` arguments besides --workspace, --config and the output flags: --model M, or --resume --set k=v ..."""
    out_name: str
    """models/<out_name> receives the final policy."""
    overwrites: str | None
    """What the launch will overwrite (the person confirmed it), or None."""


def next_free_name(root: Path, running_outs: set[str] = frozenset(), prefix: str = "rl", today: datetime.date | None = None) -> str:
    """`<prefix>-<YYYYMMDD>-<n>` with the smallest n (from 1) that no model folder and no running launch has taken.

    >>> import tempfile; root = Path(tempfile.mkdtemp()); (root / "models" / "rl-20261120-1").mkdir(parents=True)
    >>> next_free_name(root, {"rl-20261120-2"}, today=datetime.date(2026, 11, 20))
    'rl-20261120-3'
    """
    stem = f"{prefix}-{(today or datetime.date.today()):%Y%m%d}"
    n = 1
    while (root / "models" / f"{stem}-{n}").exists() or f"{stem}-{n}" in running_outs:
        n += 1
    return f"{stem}-{n}"


def what_would_be_overwritten(root: Path, name: str, running: dict[str, str] | None = None, store: Store | None = None) -> str | None:
    """What saving a policy as models/<name> would replace, in words, or None: a model folder (with the run that
    saved it and when, where the store knows), or the policy a running launch (`running`: out name -> launch) will save."""
    said = []
    folder = root / "models" / name
    if folder.exists():
        when = datetime.datetime.fromtimestamp(folder.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        made = [r for r in (store.runs() if store is not None else []) if r["name"] in (f"rl:{name}", f"sft:{name}")]
        by = f", by {made[-1]['kind'].upper()} run {made[-1]['id']}" if made else ""
        said.append(f"the model {folder} (saved {when}{by})")
    if name in (running or {}):
        said.append(f"the policy the running launch {running[name]} will save as {name}")
    return " and ".join(said) or None


def plan_launch(root: Path, overrides: list[str], model: str, out_name: str, *, resume: bool = False, overwrite: bool = False,
                running: dict[str, str] | None = None, store: Store | None = None) -> LaunchPlan:
    """What to start, every check `k15 train` makes before training done here first (K15Error on the first that fails).
    `running`: out name -> launch name of the launches still running (their policies are not saved yet)."""
    running = running or {}
    check_name(out_name or "", "output model name")
    ws = Workspace(root)
    if resume:
        cfg, args = _resume_config(ws, overrides, store)
    else:
        cfg, args = _new_config(ws, overrides, model)
    config_yaml = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    config_from_dict(yaml.safe_load(config_yaml))  # the file as the trainer will read it back (load_config), checked again
    overwrites = what_would_be_overwritten(root, out_name, running, store)
    if overwrites and not overwrite:
        raise K15Error(f"saving the policy as {out_name!r} would overwrite {overwrites}",
                       f"tick 'overwrite it' to replace it, or save as a new name such as {next_free_name(root, set(running))}")
    return LaunchPlan(config_yaml, args, out_name, overwrites)


def _new_config(ws: Workspace, overrides: list[str], model: str) -> tuple[Config, list[str]]:
    """A new run's config: the preset with the form's overrides, built by the trainer's own `load_config`; and its model."""
    cfg = load_config(DEMO_CONFIG if DEMO_CONFIG.exists() else None, overrides)
    if not (model or "").strip():
        raise K15Error("no starting model chosen", "choose a model of the workspace, or type a model folder's path")
    check_model_ref(ws, model)
    return cfg, ["--model", model]


def _resume_config(ws: Workspace, overrides: list[str], store: Store | None) -> tuple[Config, list[str]]:
    """A resume's config as `k15 train --resume --set ...` builds it: the latest resumable run's stored config with the
    form's overrides on top; refused, like the trainer refuses it, when there is no such run, a live process trains
    it, or it has no checkpoint."""
    previous = latest_rl_run(store) if store is not None else None
    if previous is None:
        raise K15Error("there is no stopped RL run with a checkpoint to resume in this workspace", "start a new run")
    if previous["status"] == "running":
        owner = previous.get("owner") or {}
        raise K15Error(f"RL run {previous['id']} is still training (pid {owner.get('pid', '?')} on {owner.get('host', '?')})",
                       "stop it first (Stop gracefully), then resume")
    ckpt = rl_checkpoint_dir(ws, previous["id"])
    if not any((d / "trainer_state.pt").exists() for d in (ckpt, ckpt.with_name(ckpt.name + ".old"))):  # .old: a save that crashed mid-swap
        raise K15Error(f"RL run {previous['id']} has no checkpoint to resume from (it stopped before its first one)", "start a new run")
    saved = {k: v for k, v in previous["config"].items() if k in Config.__dataclass_fields__}
    return config_from_dict(saved, overrides), ["--resume", *[a for kv in overrides for a in ("--set", kv)]]
