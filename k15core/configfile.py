"""Reading configs: strict YAML + `key=value` overrides into any nested config dataclass, and their documentation.

Loading is strict: an unknown key or a value of the wrong type is a `K15Error` that names the key and what it
expects, so a typo never silently falls back to a default. The dataclasses themselves live in `k15core.config`.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any

import yaml

from k15core.errors import K15Error


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
        return build(tp, value, key + ".")
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


def build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from nested dicts, every key and value checked."""
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


def read_yaml(path: str | Path) -> dict[str, Any]:
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


def deep_update(base: dict, layer: dict) -> dict:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def check_ranges(section: str, config: Any, **bounds: tuple) -> None:
    """A K15Error for the first field of `config` outside its bounds: name=(low, high) with None for no bound, both
    inclusive, or (low, high, "above") where the value must be strictly above `low` (a temperature of 0 divides).

    >>> from types import SimpleNamespace
    >>> check_ranges("rl", SimpleNamespace(k=8, top_p=1.0), k=(1, None), top_p=(0, 1, "above"))
    >>> check_ranges("rl", SimpleNamespace(k=0), k=(1, None))
    Traceback (most recent call last):
    k15core.errors.K15Error: rl.k is 0, which is below its least value 1
      fix: set rl.k to a value of at least 1
    """
    for name, bound in bounds.items():
        low, high, strict = bound[0], bound[1], len(bound) > 2
        value, key = getattr(config, name), f"{section}.{name}"
        if low is not None and (value <= low if strict else value < low):
            word = f"above {low}" if strict else f"of at least {low}"
            raise K15Error(f"{key} is {value}, which is {'not above' if strict else 'below its least value'} {low}",
                           f"set {key} to a value {word}" + (f" and at most {high}" if high is not None else ""))
        if high is not None and value > high:
            raise K15Error(f"{key} is {value}, which is above its largest value {high}", f"set {key} to at most {high}")


def apply_overrides(data: dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """A copy of nested dicts `data` with each `key=value` override (the value parsed as YAML) set in it."""
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
    return data


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
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


SPEED_ONLY = {"sft": ("microbatch_tokens",), "rl": ("microbatch_tokens", "microbatch_overhead")}
"""Settings that change how fast a stage runs and how much memory it holds, not what it computes (slices of a batch
give the whole batch's gradient): a cached warm-up model, or a benchmark's cached run, stays valid when they change."""


def without_speed_only(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict (`Config.to_dict()` or some of its sections) without the `SPEED_ONLY` keys.

    >>> without_speed_only({"rl": {"lr": 1e-4, "microbatch_tokens": 512}, "task": {"name": "recurrence"}})
    {'rl': {'lr': 0.0001}, 'task': {'name': 'recurrence'}}
    """
    return {section: ({k: v for k, v in values.items() if k not in SPEED_ONLY.get(section, ())} if isinstance(values, dict) else values)
            for section, values in config.items()}
