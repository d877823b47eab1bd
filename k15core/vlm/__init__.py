"""Vision-language models (report §2.2's multimodal training) on the same recipe as text models.

`model`: the tiny LLaVA-style model (a SigLIP vision tower + the tiny Qwen2 text model) built from configs,
saved in the Hugging Face layout and loaded back with the Auto classes, as a user's own VLM is.
`images`: the content-addressed image store of a workspace. `inputs`: prompts with images -> token ids and
pixel values. `sft`: the warm-up on image prompts.
"""
