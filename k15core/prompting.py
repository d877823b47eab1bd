"""What the policy reads: a task's prompt, as the model was trained to read it.

A chat model (one whose tokenizer has a chat template, such as SmolLM2-135M-Instruct) gets each prompt as a
user turn of its own template, followed by the task's `instruction` (how to give the answer), with the
assistant turn opened; a base model or the tiny model (no template) gets the prompt as it is. Rollouts,
evaluation, the warm-up set, long2short and curation all call `render_prompt`, so the model is asked the same
way everywhere. Choice: no system turn is added; the template's own default (SmolLM2 has one) applies.
"""
from __future__ import annotations


def uses_chat_template(tokenizer) -> bool:
    """Whether prompts for this tokenizer's model are wrapped in its chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(tokenizer, prompt: str, instruction: str = "") -> str:
    """The text the model is given for `prompt`: the chat template's user turn (prompt + instruction) with the
    assistant turn opened, or `prompt` unchanged when the tokenizer has no chat template.

    >>> class Plain: chat_template = None
    >>> render_prompt(Plain(), "Q: 1+2\\n", " End with the answer.")
    'Q: 1+2\\n'
    """
    if not uses_chat_template(tokenizer):
        return prompt
    turn = [{"role": "user", "content": prompt + instruction}]
    return tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer, prompt: str, instruction: str = "") -> list[int]:
    """Token ids of `render_prompt(...)`; the template carries its own special tokens, so none are added."""
    return tokenizer(render_prompt(tokenizer, prompt, instruction), add_special_tokens=False)["input_ids"]
