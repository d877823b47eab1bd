"""The kinds of model k15 builds and loads, behind one registry: text causal LMs and vision-language models.

A kind knows the workspace name of its tiny default model, how to build it, how to load a folder of its kind
(model + the object that turns prompts into inputs: a tokenizer, or a processor holding one) and how to tell a
folder of its kind. `kind_of(path)` picks the kind of any local Hugging Face folder, so a user's SmolVLM or
LLaVA folder takes the path the tiny VLM takes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from k15core.config import ModelConfig
from k15core.models import build_tiny_model, load_model
from k15core.registry import Registry
from k15core.vlm.model import build_tiny_vlm, is_vision_model, load_vlm


@dataclass(frozen=True)
class ModelKind:
    tiny_name: str
    """The workspace name of the kind's tiny default model (models/<tiny_name>; the text one is `stages.BASE_MODEL`,
    tested: stages dispatches on the kind, so this module cannot import it)."""
    build: Callable[[ModelConfig, Path], Path]
    """(model settings, folder) -> the folder, the tiny model saved in it."""
    load: Callable[[Path], tuple]
    """folder -> (model, tokenizer or processor)."""
    recognises: Callable[[Path], bool]
    """Whether a Hugging Face folder holds a model of this kind."""


MODEL_KINDS: Registry[ModelKind] = Registry("model kind")
MODEL_KINDS.register("text")(ModelKind("tiny", build_tiny_model, lambda path: load_model(path), lambda path: not is_vision_model(path)))
MODEL_KINDS.register("vlm")(ModelKind("tiny-vlm", build_tiny_vlm, lambda path: load_vlm(path), is_vision_model))


def kind_of(path: str | Path) -> str:
    """The name of the kind a local model folder holds ('vlm' when its config has a vision tower, else 'text')."""
    return "vlm" if MODEL_KINDS.get("vlm").recognises(Path(path)) else "text"
