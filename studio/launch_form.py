"""The Launch tab's settings form, as plain data: one field per config key (type, preset value, documentation, and
for a key that names a registered variant its registered names), the `key=value` overrides a filled-in form means,
and a K15Error said in the form's words. No gradio here: launch_tab.py draws these fields.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass

from k15core.choices import CHOICES
from k15core.config import DEMO_CONFIG, Config, describe, load_config
from k15core.errors import K15Error


@dataclass(frozen=True)
class ConfigField:
    key: str
    type: typing.Any
    value: typing.Any
    help: str
    choices: tuple[str, ...] = ()
    """The registered names a key of k15core.choices.CHOICES may take (the form shows a drop-down); () for a free value."""


def preset() -> Config:
    """The config a launch starts from: the demo preset where it ships (a source checkout), else the defaults."""
    return load_config(DEMO_CONFIG) if DEMO_CONFIG.exists() else Config()


def config_fields(base: Config | None = None) -> list[ConfigField]:
    """Every config key with its type, its value in `base` (default: the preset), its documentation and its choices."""
    base = base if base is not None else preset()
    helps = {key: text for key, _, text in describe()}
    out: list[ConfigField] = []

    def walk(obj, prefix):
        hints = typing.get_type_hints(type(obj))
        for f in dataclasses.fields(obj):
            value, key = getattr(obj, f.name), prefix + f.name
            if dataclasses.is_dataclass(value):
                walk(value, key + ".")
            else:
                choices = tuple(CHOICES[key].names()) if key in CHOICES else ()
                out.append(ConfigField(key, hints[f.name], value, helps.get(key, ""), choices))

    walk(base, "")
    return out


def as_text(value) -> str:
    """A value as the form's text box shows it: lists and maps as JSON (which YAML reads back), the rest as str."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, list):
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def overrides_from_form(fields: list[ConfigField], values: list) -> list[str]:
    """`key=value` overrides for the fields whose form value differs from the preset (values are YAML)."""
    out = []
    for f, v in zip(fields, values):
        if f.type is bool:
            if bool(v) != f.value:
                out.append(f"{f.key}={'true' if v else 'false'}")
        elif f.type in (int, float):
            if v is not None and float(v) != float(f.value):
                out.append(f"{f.key}={int(v) if f.type is int else float(v)}")
        else:
            text = "" if v is None else str(v)
            if text != as_text(f.value):
                out.append(f"{f.key}={text}")
    return out


# The engine's errors give their fixes as command lines ("e.g. --set rl.loss=grpo"); in the form a key is set in
# its field, so the fix says that instead of a flag the person never types here.
_SET_FLAG = re.compile(r"(?:k15 train )?(--resume )?--set ([\w.]+)=(\S+)")


def in_form_terms(text: str) -> str:
    """`text` with each `--set key=value` (and `k15 train --resume --set ...`) said as the form does it.

    >>> in_form_terms("then start a new run, or k15 train --resume --set rl.doctor_go_on=true to train on regardless")
    'then start a new run, or resume with rl.doctor_go_on set to true in the settings below to train on regardless'
    """
    def say(m: re.Match) -> str:
        resume, key, value = m.groups()
        return f"resume with {key} set to {value} in the settings below" if resume else f"set {key} to {value} in the settings below"

    return _SET_FLAG.sub(say, text)


def form_message(err: K15Error, verb: str = "not started") -> str:
    """`err` as the Launch form says it: what stopped the launch, then the fix in the form's terms.

    >>> form_message(K15Error("rl.loss is 'grop', which is not one of: grpo, k15", "unknown loss; e.g. --set rl.loss=grpo"))
    "not started: rl.loss is 'grop', which is not one of: grpo, k15 — fix: unknown loss; e.g. set rl.loss to grpo in the settings below"
    """
    return f"{verb}: {err.problem}" + (f" — fix: {in_form_terms(err.fix)}" if err.fix else "")
