"""The workspace: one folder holding the run store (k15.db) and model checkpoints (models/<name>/).

Chosen by `--workspace DIR`, else the K15_WORKSPACE environment variable, else ./k15-workspace.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from k15core.errors import K15Error

ENV_VAR = "K15_WORKSPACE"
DEFAULT_DIR = "k15-workspace"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, flag: str | None = None) -> "Workspace":
        root = Path(flag or os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise K15Error(f"workspace {str(root)!r} exists and is not a folder", "pass --workspace with a folder path")
        try:
            (root / "models").mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise K15Error(f"cannot create workspace {str(root)!r}: {err.strerror}", "pass --workspace with a writable folder") from err
        return cls(root)

    @property
    def db_path(self) -> Path:
        return self.root / "k15.db"

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / name

    def has_model(self, name: str) -> bool:
        return (self.model_dir(name) / "config.json").exists() or (self.model_dir(name) / "adapter_config.json").exists()

    def store(self):
        from k15core.store import Store

        return Store(self.db_path)
