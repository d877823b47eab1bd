"""Model merging (report §2.4): average the weights of a long-CoT and a short-CoT model, no training.

`merge_state_dicts` is the pure rule; `merge_models` loads two model folders, checks that they can be
merged (same architecture, same parameter shapes, same tokenizer), merges LoRA adapters into their
base first, and saves the result in the Hugging Face layout.

Choice (spec §7.1): `alpha` is the long model's weight; the report says "simply averaging", so 0.5.
Buffers that are not floating point (e.g. integer position ids) must be equal and are copied.
"""
from __future__ import annotations

from pathlib import Path

import torch

from k15core.errors import K15Error

# config keys that say nothing about the architecture
_IGNORED_CONFIG_KEYS = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "use_cache", "_commit_hash",
                        "architectures", "output_attentions", "output_hidden_states", "return_dict"}


def merge_state_dicts(long: dict[str, torch.Tensor], short: dict[str, torch.Tensor], alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """alpha * long + (1 - alpha) * short, tensor by tensor. Raises ValueError when the two do not line up."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is the long model's weight in [0, 1], got {alpha}")
    if long.keys() != short.keys():
        only = sorted(long.keys() ^ short.keys())
        raise ValueError(f"the models have different parameters, e.g. {only[:3]}")
    merged = {}
    for name, a in long.items():
        b = short[name]
        if a.shape != b.shape:
            raise ValueError(f"parameter {name} has shape {tuple(a.shape)} in the long model and {tuple(b.shape)} in the short one")
        if a.is_floating_point():
            merged[name] = (alpha * a.double() + (1.0 - alpha) * b.double()).to(a.dtype)
        elif torch.equal(a, b):
            merged[name] = a.clone()
        else:
            raise ValueError(f"non-float buffer {name} differs between the models and cannot be averaged")
    return merged


def architecture_differences(config_a: dict, config_b: dict) -> list[str]:
    """Config keys (architecture only) on which two model configs disagree."""
    keys = (config_a.keys() | config_b.keys()) - _IGNORED_CONFIG_KEYS
    return sorted(k for k in keys if config_a.get(k) != config_b.get(k))


def tokenizer_differences(tok_a, tok_b) -> list[str]:
    """What differs between two tokenizers that would make merged weights meaningless."""
    out = []
    if tok_a.get_vocab() != tok_b.get_vocab():
        out.append(f"vocabularies differ ({len(tok_a.get_vocab())} vs {len(tok_b.get_vocab())} tokens)")
    for attr in ("eos_token", "bos_token", "pad_token"):
        if getattr(tok_a, attr, None) != getattr(tok_b, attr, None):
            out.append(f"{attr} {getattr(tok_a, attr, None)!r} vs {getattr(tok_b, attr, None)!r}")
    return out


def _load_full(path: Path):
    """(model, tokenizer, what is saved beside the weights) with any LoRA adapter merged into its base, so weights are
    comparable. A vision-language model comes with its processor (saved with the merged weights)."""
    from k15core.model_kinds import kind_of
    from k15core.models import load_model

    if kind_of(path) == "vlm":
        from k15core.vlm.model import load_vlm

        model, processor = load_vlm(path)
        return model, processor.tokenizer, processor
    model, tokenizer = load_model(path)
    if hasattr(model, "merge_and_unload"):  # a peft model: fold the adapter in first
        model = model.merge_and_unload()
    return model, tokenizer, tokenizer


def image_processor_differences(saver_a, saver_b) -> list[str]:
    """Settings on which two models' image processors differ (size, normalisation, ...): merged weights would read
    pictures one of the two ways only. [] for text models (their tokenizers have no image processor)."""
    a, b = (getattr(s, "image_processor", None) for s in (saver_a, saver_b))
    if a is None or b is None:
        return []
    da, db = a.to_dict(), b.to_dict()
    return sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))


def merge_models(long_dir: str | Path, short_dir: str | Path, out_dir: str | Path, alpha: float = 0.5) -> Path:
    """Merge two saved models (full weights or LoRA adapters) into `out_dir`; a clear K15Error when they
    cannot be merged."""
    from k15core.models import save_model

    from k15core.model_kinds import kind_of

    kinds = {kind_of(long_dir), kind_of(short_dir)}
    if kinds == {"vlm", "text"}:
        raise K15Error("cannot merge a vision-language model and a text model", "merge two fine-tunes of the same base model")
    long_model, long_tok, long_saver = _load_full(Path(long_dir))
    short_model, short_tok, short_saver = _load_full(Path(short_dir))
    config_diff = architecture_differences(long_model.config.to_dict(), short_model.config.to_dict())
    if config_diff:
        shown = ", ".join(f"{k}: {long_model.config.to_dict().get(k)!r} vs {short_model.config.to_dict().get(k)!r}" for k in config_diff[:4])
        raise K15Error(f"cannot merge models of different architectures ({shown})", "merge two fine-tunes of the same base model")
    tok_diff = tokenizer_differences(long_tok, short_tok)
    if tok_diff:
        raise K15Error(f"cannot merge models with different tokenizers: {'; '.join(tok_diff)}", "merge two fine-tunes of the same base model")
    image_diff = image_processor_differences(long_saver, short_saver)
    if image_diff:
        raise K15Error(f"cannot merge models whose image processors differ ({', '.join(image_diff[:4])})", "merge two fine-tunes of the same base model")
    try:
        merged = merge_state_dicts(long_model.state_dict(), short_model.state_dict(), alpha)
    except ValueError as err:
        raise K15Error(f"cannot merge: {err}", "merge two fine-tunes of the same base model") from None
    long_model.load_state_dict(merged)
    return save_model(long_model, long_saver, out_dir)
