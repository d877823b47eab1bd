"""The workspace: one folder holding the run store (k15.db), model checkpoints (models/<name>/) and the images of
image prompts (images/, content-addressed).

Chosen by `--workspace DIR`, else the K15_WORKSPACE environment variable, else ./k15-workspace.
The run store can live elsewhere: `--store URL`, else K15_STORE (a PostgreSQL database a team shares,
postgresql://user@host/dbname; README: A shared store); the checkpoints stay in the workspace.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from k15core.errors import K15Error

ENV_VAR = "K15_WORKSPACE"
STORE_ENV_VAR = "K15_STORE"
DEFAULT_DIR = "k15-workspace"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""What a name inside the workspace may be (a model, a launch): one plain path segment, never '..' or a path."""


def is_plain_name(name: object) -> bool:
    return isinstance(name, str) and NAME.fullmatch(name) is not None and ".." not in name


def check_name(name: str, what: str = "model name") -> str:
    """`name` itself if it is a plain name (NAME) that stays inside its folder; else a K15Error naming it.

    >>> check_name("rl-2")
    'rl-2'
    >>> check_name("../../x")
    Traceback (most recent call last):
    k15core.errors.K15Error: model name '../../x' is not a plain name
      fix: use letters, digits, '.', '_' and '-' only (at most 100), starting with a letter or digit
    """
    if not is_plain_name(name):
        raise K15Error(f"{what} {name!r} is not a plain name", "use letters, digits, '.', '_' and '-' only (at most 100), starting with a letter or digit")
    return name


@dataclass(frozen=True)
class Workspace:
    root: Path
    store_url: str | None = None
    """The run store's URL (or file) when it is not the workspace's own k15.db: --store, else $K15_STORE."""

    @classmethod
    def resolve(cls, flag: str | None = None, store: str | None = None) -> "Workspace":
        store = store or os.environ.get(STORE_ENV_VAR) or None
        root = Path(flag or os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise K15Error(f"workspace {str(root)!r} exists and is not a folder", "pass --workspace with a folder path")
        try:
            (root / "models").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise K15Error(f"cannot create workspace {str(root)!r}: {err.strerror}", "pass --workspace with a writable folder") from err
        return cls(root, store)

    @property
    def db_path(self) -> Path:
        """The workspace's own SQLite store (used unless `store_url` names another)."""
        return self.root / "k15.db"

    @property
    def store_name(self) -> str:
        """The run store as messages name it: k15.db's path, or the URL without its password."""
        if self.store_url is None:
            return str(self.db_path)
        from k15core.store.backends import display, store_url

        return display(store_url(self.store_url))

    def has_store(self) -> bool:
        """Whether there is a store to read already (a server's database always counts: opening it creates the tables)."""
        return self.store_url is not None or self.db_path.exists()

    def model_dir(self, name: str) -> Path:
        """models/<name>: refused (K15Error) unless `name` is a plain name, so no model is written outside models/."""
        return self.root / "models" / check_name(name)

    def has_model(self, name: str) -> bool:
        if not is_plain_name(name):
            return False  # a path or an odd name is no model of this workspace
        return (self.model_dir(name) / "config.json").exists() or (self.model_dir(name) / "adapter_config.json").exists()

    @property
    def images(self):
        """The content-addressed image store of image prompts (images/<aa>/<address>.png)."""
        from k15core.vlm.images import ImageStore

        return ImageStore(self.root / "images")

    def store(self):
        from k15core.store import Store

        return Store(self.store_url or self.db_path)
