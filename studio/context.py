"""What every tab's handlers share: the workspace, its run store, tokenizers, and who is labelling."""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from k15core.store import Store
from k15core.workspace import Workspace


@dataclass
class StudioContext:
    """One studio's view of one workspace. The store is opened once and shared by all handlers (it is thread-safe:
    every call takes a pooled connection for one short transaction)."""

    workspace: Workspace
    store: Store
    local_user: str = field(default_factory=lambda: os.environ.get("K15_USER") or _login_name())
    """Author of labels when the studio runs without --auth (a loopback studio has one person at it)."""

    @classmethod
    def open(cls, workspace: Workspace | str | Path | None) -> "StudioContext":
        """On a resolved Workspace (its store as --store chose it), or on a folder (its store: $K15_STORE or its k15.db)."""
        ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(str(workspace) if workspace is not None else None)
        return cls(ws, ws.store())

    def author(self, request) -> str:
        """The user a label is recorded under: the authenticated user, else the local one."""
        name = getattr(request, "username", None) if request is not None else None
        return name or self.local_user

    def tokenizer_for_run(self, run: dict | None):
        """The tokenizer of a run's model (None when its folder is gone): from the config the run recorded."""
        if run is None:
            return None
        cfg = run["config"]
        for key in ("base_model", "model_dir"):
            path = cfg.get(key)
            if path and (Path(path) / "tokenizer_config.json").exists():
                return _load_tokenizer(str(path))
        for name in ("warmup", "tiny"):
            if (self.workspace.model_dir(name) / "tokenizer_config.json").exists():
                return _load_tokenizer(str(self.workspace.model_dir(name)))
        return None


@lru_cache(maxsize=8)
def _load_tokenizer(path: str):
    from k15core.models import load_tokenizer  # the engine's loader: the tiny model's character tokenizer needs it

    return load_tokenizer(Path(path))


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "local"
