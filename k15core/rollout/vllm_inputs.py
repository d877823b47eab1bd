"""vLLM's request for one context of the trainer: token ids, and for an image prompt its pictures.

The trainer's contexts hold a VLM's prompt as its processor encoded it: each `<image>` marker already expanded to
the image's run of image tokens (36 for the tiny model). vLLM wants a token prompt with one marker per image and
the raw picture (`{"prompt_token_ids": ..., "multi_modal_data": {"image": PIL.Image}}`): its own multimodal
processor resizes and normalises the picture and expands the marker (vLLM's "tokenized prompt + multimodal data"
path). So each run of image tokens goes back to one marker per image (`collapse_image_runs`), and each picture is
read from the workspace's image store by the address its prompt carries (`vllm_prompt`): the trajectories carry
addresses, never pixels (choice: a picture is re-read per request rather than kept in memory for the run).
"""
from __future__ import annotations

from k15core.errors import K15Error


def collapse_image_runs(ids: list[int], image_token_id: int, tokens_per_image: int | None = None) -> tuple[list[int], int]:
    """(`ids` with each run of image tokens replaced by one marker per image, number of images). A run is
    `tokens_per_image` tokens per image (two pictures side by side make one run of twice that); without it, one
    run is one image.

    >>> collapse_image_runs([1, 9, 9, 9, 2, 9, 9, 9, 9, 9, 9, 3], image_token_id=9, tokens_per_image=3)
    ([1, 9, 2, 9, 9, 3], 3)
    >>> collapse_image_runs([1, 2], image_token_id=9)
    ([1, 2], 0)
    """
    out, images, i = [], 0, 0
    while i < len(ids):
        if ids[i] != image_token_id:
            out.append(ids[i])
            i += 1
            continue
        j = i
        while j < len(ids) and ids[j] == image_token_id:
            j += 1
        run = j - i
        if tokens_per_image and run % tokens_per_image:
            raise K15Error(f"a run of {run} image tokens is not a whole number of images of {tokens_per_image} tokens",
                           "encode the prompt with the model's own processor")
        count = run // tokens_per_image if tokens_per_image else 1
        out += [image_token_id] * count
        images += count
        i = j
    return out, images


def vllm_prompt(context: list[int], images: tuple[str, ...] | list[str], store, image_token_id: int | None,
                tokens_per_image: int | None = None) -> dict:
    """The vLLM token prompt (a `TokensPrompt` dict) of one context: its ids as they are for a text prompt; for an
    image prompt the ids with one marker per image and `multi_modal_data` holding the pictures the addresses
    `images` name, read from `store`, in marker order. K15Error when markers and addresses disagree in number."""
    if not images:
        return {"prompt_token_ids": list(context)}
    if store is None or image_token_id is None:
        raise K15Error("the vLLM engine got an image prompt but has no image store or image token",
                       "build it for a vision-language policy (k15 train does: rl.engine=vllm with a VLM)")
    ids, count = collapse_image_runs(list(context), image_token_id, tokens_per_image)
    if count != len(images):
        raise K15Error(f"the prompt has {count} image(s) in its tokens and names {len(images)} picture(s)",
                       "give one picture address per <image> marker")
    pictures = [store.load(a) for a in images]
    return {"prompt_token_ids": ids, "multi_modal_data": {"image": pictures[0] if len(pictures) == 1 else pictures}}
