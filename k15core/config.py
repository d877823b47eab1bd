"""Typed configuration: dataclasses grouped by concern, loaded from YAML with `key=value` overrides.

Every field has a default and a docstring (shown by `k15 config`). Loading is strict: an unknown key
or a value of the wrong type is a `K15Error` that names the key and what it expects, so a typo never
silently falls back to a default.

>>> cfg = load_config(overrides=["sft.lr=0.001", "eval.styles=[free, long]"])
>>> cfg.sft.lr, cfg.eval.styles
(0.001, ['free', 'long'])
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k15core.errors import K15Error
from k15core.long2short.train import Long2ShortConfig
from k15core.models import ModelConfig
from k15core.sft import SFTConfig
from k15core.trainer import RLConfig

# The preset `k15 demo` runs when no --config is given (present in a source checkout / editable install).
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "assets" / "configs" / "demo.yaml"


@dataclass
class TaskConfig:
    """Where prompts come from."""

    name: str = "recurrence"
    """Task family: 'recurrence' (digit recurrence; the default, learnable by the tiny model in minutes), 'chains', 'arithmetic', 'math', 'code' or 'gym' (reasoning-gym)."""
    levels: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    """Difficulty levels to draw problems from."""
    eval_per_level: int = 40
    """Held-out evaluation problems per difficulty level."""
    eval_seed: int = 20250122
    """Seed of the held-out evaluation set (kept fixed so runs are comparable)."""
    path: str = ""
    """Prompt file (JSONL/CSV/Parquet) of a file-based task ('math', 'code'); empty: the sample in assets/tasks/."""
    gym_dataset: str = "basic_arithmetic"
    """reasoning-gym generator of the 'gym' task (e.g. basic_arithmetic, gsm_symbolic, countdown, chain_sum)."""


@dataclass
class EvalConfig:
    """Held-out evaluation."""

    styles: list[str] = field(default_factory=lambda: ["free", "short", "long"])
    """'free': the model chooses how to answer; any other name prefills that style's opening."""
    max_new_tokens: int = 96
    """Longest response generated, in tokens."""
    batch_size: int = 128
    """Prompts generated together."""
    temperature: float = 0.0
    """0: greedy decoding. Above 0: sample `samples` answers per problem at this temperature."""
    samples: int = 1
    """Answers per problem when sampling (accuracy is their mean: Pass@1)."""
    seed: int = 0
    """Seed of sampled evaluation."""


@dataclass
class Config:
    """Everything one k15 command needs. YAML files mirror this nesting (see assets/configs/)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    long2short: Long2ShortConfig = field(default_factory=Long2ShortConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp` (int, float, str, bool, list[X], dict[str, X], dataclass)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = K15Error(
        f"config key {key!r} must be {_type_name(tp)}, got {value!r} ({type(value).__name__})",
        f"write e.g. {key}={_example(tp)}",
    )
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key + ".")
    if origin is list:
        if not isinstance(value, list):
            raise bad
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        if args[0] is int:  # a config saved as JSON (a run's stored config) has string keys: "5" -> 5
            value = {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in value.items()}
        return {_coerce(k, args[0], f"{key} key"): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"config field {key} has an unsupported annotation {tp}")


def _example(tp: Any) -> str:
    return {int: "3", float: "0.001", str: "text", bool: "true"}.get(tp, "[...]" if typing.get_origin(tp) is list else "{...}")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            raise K15Error(f"unknown config key '{prefix}{key}'", f"{hint}known keys here: {', '.join(prefix + n for n in names)}")
    return cls(**{k: _coerce(v, hints[k], prefix + k) for k, v in data.items()})


def _set_path(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise K15Error(f"config key {dotted!r} goes through {part!r}, which is not a group", "check the key")
    node[parts[-1]] = value


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        raise K15Error(f"cannot read config file {str(path)!r}: {err.strerror}", "check the path") from err
    except yaml.YAMLError as err:
        raise K15Error(f"config file {str(path)!r} is not valid YAML: {err}", "fix the YAML syntax") from err
    if loaded is not None and not isinstance(loaded, dict):
        raise K15Error(f"config file {str(path)!r} must hold a mapping of groups (model:, sft:, ...)", "see assets/configs/")
    return loaded or {}


def _deep_update(base: dict, layer: dict) -> dict:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def load_config(path: str | Path | None = None, overrides: list[str] = (), layers: list[str | Path] = ()) -> Config:
    """Defaults, then the YAML file at `path` (if any), then each YAML file in `layers` (a preset on top of
    a config, e.g. long2short RL's), then `key=value` overrides (values parsed as YAML)."""
    data: dict[str, Any] = _read_yaml(path) if path else {}
    for layer in layers:
        _deep_update(data, _read_yaml(layer))
    return config_from_dict(data, overrides)


def config_from_dict(data: dict[str, Any], overrides: list[str] = ()) -> Config:
    """A Config from nested dicts (a YAML file's, or a saved run's `to_dict()`) with `key=value` overrides on top."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise K15Error(f"override {item!r} is not of the form key=value", "e.g. --set sft.lr=0.001")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_path(data, key.strip(), value)
    return _build(Config, data)


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field, from the dataclass field docstrings in the source."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    for node, nxt in zip(body, body[1:] + [None]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    out = []
    default = cls()
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            out += describe(type(value), prefix + f.name + ".")
        else:
            out.append((prefix + f.name, repr(value), docs.get(f.name, "")))
    return out
