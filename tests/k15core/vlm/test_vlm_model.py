"""The tiny VLM: a standard Hugging Face folder the Auto classes load, whose image reaches the logits."""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from k15core.model_kinds import MODEL_KINDS, kind_of
from k15core.models import build_char_tokenizer
from k15core.vlm.model import IMAGE_TOKEN, VisionTowerConfig, is_vision_model, load_vlm

PROMPT = f"Seq {IMAGE_TOKEN}, steps: 4\n"


def _image(text: str) -> Image.Image:
    img = Image.new("RGB", (48, 48), "white")
    ImageDraw.Draw(img).text((8, 16), text, fill="black")
    return img


def test_auto_classes_load_the_saved_folder(tiny_vlm_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir)
    processor = AutoProcessor.from_pretrained(tiny_vlm_dir)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    inputs = processor(text=[PROMPT], images=[_image("372")], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert ids.count(image_id) == VisionTowerConfig().image_tokens == 36  # one token per 8 x 8 patch of 48 x 48
    assert inputs["pixel_values"].shape == (1, 3, 48, 48)
    # the text around the image is tokenised exactly as the text model's character tokenizer does it
    text_ids = [i for i in ids if i != image_id]
    assert text_ids == build_char_tokenizer()(PROMPT.replace(IMAGE_TOKEN, ""), add_special_tokens=False)["input_ids"]


def test_the_image_changes_the_logits(tiny_vlm_dir):
    model, processor = load_vlm(tiny_vlm_dir)
    model.eval()

    def logits(img):
        with torch.no_grad():
            return model(**processor(text=[PROMPT], images=[img], return_tensors="pt")).logits[0, -1]

    a, a_again, b = logits(_image("372")), logits(_image("372")), logits(_image("815"))
    assert torch.equal(a, a_again)
    assert (a - b).abs().max() > 1e-4


def test_loader_pads_left_and_refuses_a_text_model(tiny_vlm_dir, tiny_model_dir):
    import pytest

    from k15core.errors import K15Error

    _, processor = load_vlm(tiny_vlm_dir)
    assert processor.tokenizer.padding_side == "left" and processor.tokenizer.pad_token == "<pad>"
    with pytest.raises(K15Error, match="not a vision-language model"):
        load_vlm(tiny_model_dir)


def test_kind_of_tells_the_two_folders_apart(tiny_vlm_dir, tiny_model_dir):
    assert is_vision_model(tiny_vlm_dir) and not is_vision_model(tiny_model_dir)
    assert (kind_of(tiny_vlm_dir), kind_of(tiny_model_dir)) == ("vlm", "text")
    assert MODEL_KINDS.get("vlm").tiny_name == "tiny-vlm"


def test_k15_build_model_builds_the_tiny_vlm(workspace, capsys):
    from k15core.cli import main

    assert main(["build-model", "--kind", "vlm", "--workspace", str(workspace.root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tiny vlm model:" in out and "tiny-vlm" in out
    assert kind_of(workspace.model_dir("tiny-vlm")) == "vlm" and not workspace.has_model("tiny")
