"""A chat VLM's image prompt goes through its chat template (k15core.vlm.inputs): one user turn, the image where the
prompt's marker was, the assistant turn opened; the encoded prompt's image tokens match its picture's features."""
from __future__ import annotations

import torch
from PIL import Image

from k15core.vlm.inputs import encode_prompt
from k15core.vlm.model import IMAGE_TOKEN, load_vlm

# a small template of the usual shape (role headers, image parts written as the processor's image token)
TEMPLATE = ("{% for m in messages %}[{{ m.role }}]{% for c in m.content %}{% if c.type == 'image' %}<image>{% else %}"
            "{{ c.text }}{% endif %}{% endfor %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}")


def test_a_chat_vlm_reads_its_image_prompt_through_its_template(tiny_vlm_dir):
    model, processor = load_vlm(tiny_vlm_dir)
    picture = Image.new("RGB", (48, 48), "white")
    plain = encode_prompt(processor, f"Seq {IMAGE_TOKEN}, steps: 2", [picture], instruction=" Answer.")
    processor.chat_template = TEMPLATE
    chat = encode_prompt(processor, f"Seq {IMAGE_TOKEN}, steps: 2", [picture], instruction=" Answer.")
    tok = processor.tokenizer
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    text = tok.decode([i for i in chat.ids if i != image_id])
    assert text == "[user]Seq , steps: 2 Answer.\n[assistant]"
    first = chat.ids.index(image_id)
    assert tok.decode(chat.ids[:first]) == "[user]Seq "  # the image sits where the prompt's marker was
    assert chat.ids.count(image_id) == plain.ids.count(image_id) == 36
    assert torch.equal(chat.pixel_values, plain.pixel_values)
    assert tok.decode([i for i in plain.ids if i != image_id]) == "Seq , steps: 2"  # no template: the prompt as it is
    with torch.no_grad():  # the forward fills the 36 image tokens with the picture's 36 features
        model(input_ids=torch.tensor([chat.ids]), pixel_values=chat.pixel_values)
