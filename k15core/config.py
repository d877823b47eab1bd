"""Every config of k15, in one place: typed dataclasses grouped by concern, each field with its default and
its meaning (shown by `k15 config`), each choice checked against the registry it selects from (k15core.choices)
when the config is built, so a bad value stops a command before any model is loaded or any run is recorded.

YAML files mirror this nesting (`model:`, `task:`, `sft:`, `eval:`, `rl:`, `long2short:`, `judge:` (its dataclass
sits beside the judge, k15core/judge/config.py), `report:` (the experiment trackers, k15core/reporting.py); presets in
assets/configs/). The keys of `rl:` stay flat, grouped below by concern in comments: every preset, notebook
and stored run uses those names, and a flat section reads like the configs of TRL or cleanrl.
Reading and checking files: `k15core.configfile`.

>>> cfg = load_config(overrides=["sft.lr=0.001", "eval.styles=[free, long]"])
>>> cfg.sft.lr, cfg.eval.styles
(0.001, ['free', 'long'])
>>> load_config(overrides=["rl.loss=grop"])
Traceback (most recent call last):
k15core.errors.K15Error: rl.loss is 'grop', which is not one of: grpo, k15, reinforce, rest
  fix: unknown loss; e.g. --set rl.loss=grpo
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k15core import configfile
from k15core.choices import check_choices
from k15core.judge.config import JudgeConfig
from k15core.long2short.config import Long2ShortConfig
from k15core.reporting import ReportConfig

# The preset `k15 demo` runs when no --config is given (present in a source checkout / editable install).
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "assets" / "configs" / "demo.yaml"


@dataclass
class ModelConfig:
    """The policy model: a local Hugging Face directory, or the tiny default built in the workspace."""

    path: str = ""
    """Directory of a Hugging Face causal LM. Empty: the tiny default model in the workspace."""
    hidden_size: int = 256
    """Tiny model only: width of the residual stream."""
    num_layers: int = 4
    """Tiny model only: number of decoder layers."""
    num_heads: int = 4
    """Tiny model only: attention heads."""
    num_kv_heads: int = 2
    """Tiny model only: key/value heads (grouped-query attention)."""
    intermediate_size: int = 688
    """Tiny model only: MLP width."""
    max_positions: int = 512
    """Tiny model only: longest prompt + response in tokens."""
    init_seed: int = 0
    """Tiny model only: seed of the random initialisation."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of all weights."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Module names that get LoRA adapters."""

@dataclass
class TaskConfig:
    """Where prompts come from."""

    name: str = "recurrence"
    """Task family: 'recurrence' (digit recurrence; the default, learnable by the tiny model in minutes), 'chains', 'arithmetic', 'math', 'code', 'gym' (reasoning-gym), 'mental' (arithmetic in words, for a pretrained chat model such as SmolLM2) or 'visual-recurrence' (the digit recurrence with its seed drawn in an image, for a vision-language model; 'visual-recurrence-grid': the same, each digit larger in its own third of the picture)."""
    levels: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    """Difficulty levels to draw problems from."""
    eval_per_level: int = 40
    """Held-out evaluation problems per difficulty level."""
    eval_seed: int = 20250122
    """Seed of the held-out evaluation set (kept fixed so runs are comparable)."""
    path: str = ""
    """Prompt file (JSONL/CSV/Parquet) of a file-based task ('math', 'code'); empty: the sample in assets/tasks/."""
    gym_dataset: str = "basic_arithmetic"
    """reasoning-gym generator of the 'gym' task (e.g. basic_arithmetic, gsm_symbolic, countdown, chain_sum)."""

    def __post_init__(self):
        check_choices("task", self)
        configfile.check_ranges("task", self, eval_per_level=(0, None))


@dataclass
class EvalConfig:
    """Held-out evaluation."""

    styles: list[str] = field(default_factory=lambda: ["free", "short", "long"])
    """'free': the model chooses how to answer; any other name prefills that style's opening."""
    max_new_tokens: int = 96
    """Longest response generated, in tokens."""
    batch_size: int = 128
    """Prompts generated together."""
    temperature: float = 0.0
    """0: greedy decoding. Above 0: sample `samples` answers per problem at this temperature."""
    samples: int = 1
    """Answers per problem when sampling (accuracy is their mean: Pass@1)."""
    seed: int = 0
    """Seed of sampled evaluation."""

    def __post_init__(self):
        configfile.check_ranges("eval", self, max_new_tokens=(1, None), batch_size=(1, None), temperature=(0, None), samples=(1, None))


@dataclass
class SFTConfig:
    """Long-CoT warm-up (supervised fine-tuning)."""

    examples: int = 24000
    """Problems in the warm-up set (each written in one style drawn from `style_mix`)."""
    epochs: int = 1
    """Passes over the warm-up set."""
    batch_size: int = 32
    """Examples per optimiser step."""
    microbatch_tokens: int = 1024
    """Each step's forward and backward run over slices of the batch of at most this many tokens (rows x padded
    length; a longer row still goes alone), their gradients summed: the same step, with the activations of one
    slice held at a time instead of the whole batch's (the demo's peak memory). 0: the whole batch at once."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), reached after `warmup_steps`, then cosine decay."""
    min_lr_ratio: float = 0.05
    """The cosine schedule ends at lr * min_lr_ratio."""
    warmup_steps: int = 30
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 disables)."""
    style_mix: dict[str, float] = field(default_factory=lambda: {"short": 0.4, "medium": 0.2, "long": 0.4})
    """Share of each solution style in the warm-up set (for levels not in `style_mix_by_level`)."""
    style_mix_by_level: dict[int, dict[str, float]] = field(default_factory=dict)
    """Style shares for particular difficulty levels, e.g. {5: {short: 0.7, medium: 0.1, long: 0.2}}."""
    bf16: str = "auto"
    """bf16 autocast: 'auto' (only where the hardware runs bf16 natively), 'on' or 'off'."""
    seed: int = 0
    """Seed for the warm-up set and the batch order."""
    checkpoint_every: int = 0
    """Save a checkpoint every N steps as well as at the end (0: only at the end)."""
    text_steps: int = 0
    """Vision-language models only (choice, issue 23): steps of a language stage before the read stage, on the
    task's text twin (the same problems with what the picture shows written in the prompt), at the warm-up's rate
    and schedule (`k15core.vlm.language`): the tiny VLM's language model learns the steps first, as a real VLM's was
    pretrained. 0: no stage."""
    text_examples: int = 0
    """Vision-language models only (choice, issue 23): examples of the task's text twin shuffled into the warm-up
    among its image prompts (`k15core.vlm.language.mixed_text_examples`): the language model practises the steps on
    cheap text while the pictures keep being read. 0: none."""
    read_steps: int = 0
    """Vision-language models only (choice, issue 23; the report does not describe one): steps of a "read the
    digits" stage before the warm-up, on image prompts whose target is only what the picture shows (the task's
    `reading`, e.g. 'x=3 y=7 z=2'), `batch_size` prompts a step (`k15core.vlm.read`). Why: in the mixed warm-up
    3 of some 40 target tokens depend on the picture, and the tiny VLM did not learn to read from it. 0: no stage."""
    read_lr: float = 3e-4
    """Learning rate of the read stage, constant. Choice: the tiny VLM reads at 3e-4 and stays at chance at 1e-3 or
    3e-3, where it settles on one digit whatever the picture (README, Vision-language models)."""
    vision_lr_scale: float = 1.0
    """Vision-language models only: the vision tower and projector train at this multiple of the warm-up's learning
    rate; the language model at the rate itself."""
    read_vision_lr_scale: float = 1.0
    """The same multiple in the read stage (the tower learns to read there, and may then move slowly in the warm-up)."""

    def __post_init__(self):
        check_choices("sft", self)
        configfile.check_ranges("sft", self, examples=(1, None), epochs=(1, None), batch_size=(1, None), microbatch_tokens=(0, None), lr=(0, None),
                                min_lr_ratio=(0, 1), warmup_steps=(0, None), weight_decay=(0, None), grad_clip=(0, None),
                                checkpoint_every=(0, None), text_steps=(0, None), text_examples=(0, None), read_steps=(0, None), read_lr=(0, None), vision_lr_scale=(0, None),
                                read_vision_lr_scale=(0, None))


@dataclass
class PhaseConfig:
    """One curriculum phase."""

    start_iteration: int = 0
    """First iteration of the phase."""
    levels: list[int] = field(default_factory=list)
    """Difficulty levels drawn in the phase (empty: all)."""

@dataclass
class RLConfig:
    """The RL phase. Values marked (choice) are not given by the report."""

    # -- Sampling: which prompts each iteration trains on (report §2.3.4)
    iterations: int = 40
    """RL iterations."""
    prompts_per_iter: int = 16
    """Groups (prompts) per iteration, buffered continuations included. (choice)"""
    pool_size: int = 2000
    """Training prompts drawn from the task for RL (never overlapping the held-out set)."""
    sampler: str = "prioritised"
    """'prioritised' (P ∝ 1 − success rate), 'curriculum' or 'uniform'."""
    curriculum: list[PhaseConfig] = field(default_factory=list)
    """Phases [{start_iteration, levels}] for 'curriculum' (and 'prioritised' within them)."""
    priority_floor: float = 0.0
    """Prioritised sampling: minimum weight, so solved prompts can still be drawn (0: the report's rule)."""
    success_prior: float = 0.5
    """Success rate assumed for prompts never sampled."""

    # -- Rollout: the k samples of each prompt (§2.6)
    k: int = 8
    """Samples per prompt. (choice)"""
    temperature: float = 1.0
    """Rollout sampling temperature. (choice)"""
    top_p: float = 1.0
    """Rollout nucleus sampling. (choice)"""
    max_response_tokens: int = 96
    """Longest response; longer ones are cut and marked truncated."""
    segment_tokens: int = 0
    """Partial rollouts: most tokens one response may generate per iteration (0: no limit)."""
    repeat_ngram: int = 8
    """Repeat detector: longest repeated n-gram looked for."""
    repeat_min_repeats: int = 4
    """Repeat detector: back-to-back repetitions that count as a loop."""
    engine: str = "hf"
    """Rollout engine: 'hf' (Hugging Face generate on the policy; any device) or 'vllm' (CUDA GPUs, the
    `gpu` extra; colocated, asleep while the policy trains)."""
    compact_rollouts: bool = True
    """HF engine: drop finished responses from the batch as they end (k15core/rollout/compact.py); off:
    Hugging Face `generate`, which computes every row until the longest ends. Same distribution."""
    vllm_gpu_memory: float = 0.3
    """vLLM only: share of the GPU's memory its weights and KV cache may take while awake."""
    vllm_max_model_len: int = 0
    """vLLM only: longest prompt + response it plans memory for (0: the model's full context; a smaller value
    leaves more of `vllm_gpu_memory` to concurrent sequences)."""
    vllm_max_batched_tokens: int = 0
    """vLLM only: most tokens one engine step schedules (its max_num_batched_tokens; 0: vLLM's default)."""
    vllm_enforce_eager: bool = False
    """vLLM only: no CUDA graphs (starts faster, runs slower: for tests and debugging)."""

    # -- Reward: correctness plus the length and repeat terms (§2.3.3)
    verifier: str = "rule"
    """Who decides correctness: 'rule' (the task's verifier), 'judge' (the chain-of-thought reward model, judge.*,
    report §2.3.5) or 'rule_then_judge' (the rule where it reads an answer, the judge elsewhere; k15core.judge)."""
    length_penalty: float = 0.0
    """Weight w of the length reward (0: off)."""
    length_penalty_warmup: int = 0
    """Iterations without the length penalty before it switches on."""
    repeat_penalty: float = 0.5
    """Reward subtracted from a response stopped by the repeat detector (its correctness is 0 as well)."""

    # -- Loss (§2.3.2)
    loss: str = "k15"
    """Policy loss: 'k15' (the report's), 'grpo', 'reinforce' or 'rest' (baselines; 'rest': likelihood of the
    correct responses only, the report's §3.5 ablation)."""
    tau: float = 0.05
    """τ of the k1.5 loss: weight of the squared log-ratio to π_θi. (choice, from the τ x epochs ablation, README:
    at one pass τ ∈ {0, 0.05, 0.5} learn alike; with rl.epochs=4 take 0.5: τ = 0 ran away from π_θi.)"""
    logz: str = "mean"
    """Estimate of τ log Z: 'mean' (the report's practical choice) or 'logmeanexp'."""
    clip_eps: float = 0.2
    """GRPO only: the PPO clip range."""
    mask_old_segments: bool = True
    """Partial rollouts: train each response's own last segment only; its earlier segments stay as context."""

    # -- Optimiser step
    lr: float = 5e-5
    """AdamW learning rate. (choice: the optimiser is reset every iteration, so its first steps are
    sign-like and move every weight by about lr; at 1e-4 that noise wore down the warm-up's long-CoT
    skill on the demo task (long answers 98% -> 84% right on level 5), at 5e-5 it did not.)"""
    minibatches: int = 2
    """Optimiser steps per pass over the iteration's batch (each on whole groups). (choice)"""
    epochs: int = 1
    """Passes over the iteration's batch, `minibatches` steps each, all against the same π_θi. Above 1 the policy
    moves away from π_θi within the iteration, so the k15 loss's τ term acts (report §2.3.2: a regularised
    sub-problem per iteration; watch rl/tau_share). (choice)"""
    reset_optimizer: bool = True
    """A fresh optimiser every iteration, as the report does. (vision.yaml keeps it instead: on the tiny VLM a fresh
    optimiser's sign-like first steps moved the policy 4 to 25 times as far as on the text model; README.)"""
    grad_clip: float = 1.0
    """Clip the global gradient norm (0 disables)."""
    microbatch_tokens: int = 0
    """Gradient accumulation by token budget: each optimiser step runs over micro-batches of at most this many
    padded tokens (rows x longest row; 0: no cap). Same gradient, less memory."""
    microbatch_overhead: int = 256
    """The cost of one more forward and backward, in padded tokens. Each step's rows are sorted by length and cut
    into the micro-batches that minimise padded tokens + this per micro-batch (`length_microbatches`): a split
    is made only where it saves more padding than it costs. Same gradient; 0 splits wherever padding drops,
    a huge value keeps one micro-batch (the old behaviour). On a 2-core CPU 256 and 64 are within noise of each
    other and 1.7x faster than one micro-batch; 0 (a forward per row) is slower (benchmarks/roofline.py)."""
    bf16: str = "auto"
    """bf16 autocast of the policy's forward passes: 'auto' (where bf16 runs natively: most CUDA GPUs, CPUs with
    AVX-512-BF16 or AMX), 'on' or 'off'.
    (On a CPU without native bf16 it is emulated, slowly: measured in benchmarks/warmup.py.)"""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of keeping them (less memory, about 30% more compute)."""

    # -- The run
    strategy: str = "ddp"
    """Under torchrun: 'ddp' (each rank holds all the weights) or 'fsdp2' (weights sharded across ranks;
    the rollout engine keeps a plain copy). Ignored in one process."""
    checkpoint_every: int = 10
    """Save a checkpoint every N iterations (also at the end, and on Ctrl-C / SIGTERM in one process)."""
    seed: int = 0
    """Seed of the prompt pool, the sampler and the rollouts."""

    # -- The doctor: alarms for a run that cannot learn (k15core.doctor; shown in the studio's Runs tab)
    doctor: bool = True
    """Check the run before and after every iteration; a fatal alarm stops it (checkpointed, resumable)."""
    doctor_go_on: bool = False
    """Record and print fatal alarms but train on (e.g. --resume --set rl.doctor_go_on=true after one stopped the run)."""
    doctor_patience: int = 6
    """Iterations in a row a fatal condition (no signal, truncation, format failures, no EOS) must last before it stops the run. (choice)"""
    doctor_max_truncated: float = 0.9
    """Fatal: this share of responses (or more) cut at rl.max_response_tokens."""
    doctor_max_unparsed: float = 0.9
    """Fatal: this share (or more) of the responses that ended by themselves (EOS) has no answer the task's verifier can read."""
    doctor_max_kl: float = 0.1
    """Warning: rl/kl above this (nats per token): the policy moved too far from the iteration's start policy in one iteration. (choice)"""
    doctor_entropy_factor: float = 10.0
    """Warning: rl/entropy above this many times, or under 1/this of, its value at the run's first iteration. (choice:
    five healthy 20-iteration SmolLM2 runs that learned +44 to +59 points fell 2.8-6.4x; 10 leaves them a margin)"""
    doctor_eval_every: int = 10
    """Held-out accuracy (rl/heldout_accuracy, greedy) every N iterations, for the reward-hacking check (0: never;
    measured in one process with the 'hf' engine only)."""
    doctor_eval_problems: int = 32
    """Held-out problems (spread over the levels) in that measurement."""
    doctor_hacking_margin: float = 0.1
    """Warning: between two held-out measurements the mean reward rose by at least this and held-out accuracy fell by at least this."""

    def __post_init__(self):
        check_choices("rl", self)
        configfile.check_ranges(
            "rl", self, iterations=(1, None), prompts_per_iter=(1, None), pool_size=(1, None), priority_floor=(0, 1),
            success_prior=(0, 1), k=(1, None), temperature=(0, None, "above"), top_p=(0, 1, "above"), max_response_tokens=(1, None),
            segment_tokens=(0, None), repeat_ngram=(0, None), repeat_min_repeats=(2, None), vllm_gpu_memory=(0, 1, "above"),
            vllm_max_model_len=(0, None), vllm_max_batched_tokens=(0, None),
            length_penalty=(0, None), length_penalty_warmup=(0, None), repeat_penalty=(0, None), tau=(0, None), clip_eps=(0, None),
            lr=(0, None), minibatches=(1, None), epochs=(1, None), grad_clip=(0, None), microbatch_tokens=(0, None), microbatch_overhead=(0, None),
            checkpoint_every=(0, None), doctor_patience=(1, None), doctor_max_truncated=(0, 1), doctor_max_unparsed=(0, 1),
            doctor_max_kl=(0, None, "above"), doctor_entropy_factor=(1, None, "above"), doctor_eval_every=(0, None),
            doctor_eval_problems=(1, None), doctor_hacking_margin=(0, 1),
        )

@dataclass
class Config:
    """Everything one k15 command needs. YAML files mirror this nesting (see assets/configs/)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    long2short: Long2ShortConfig = field(default_factory=Long2ShortConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] = (), layers: list[str | Path] = ()) -> Config:
    """Defaults, then the YAML file at `path` (if any), then each YAML file in `layers` (a preset on top of
    a config, e.g. long2short RL's), then `key=value` overrides (values parsed as YAML)."""
    data: dict[str, Any] = configfile.read_yaml(path) if path else {}
    for layer in layers:
        configfile.deep_update(data, configfile.read_yaml(layer))
    return config_from_dict(data, overrides)


def config_from_dict(data: dict[str, Any], overrides: list[str] = ()) -> Config:
    """A Config from nested dicts (a YAML file's, or a saved run's `to_dict()`) with `key=value` overrides on top."""
    return configfile.build(Config, configfile.apply_overrides(data, overrides))


def describe(cls: type = None, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every config field (of `cls`, default: the whole Config)."""
    return configfile.describe(cls or Config, prefix)
