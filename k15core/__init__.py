"""k15core: the engine of k15 studio — the Kimi k1.5 RL recipe, from a laptop CPU up.

Where each step of the recipe lives (the README's "Where things live" has the same map):

    report                          module
    §2.1  prompt set curation       curation/ (difficulty, hackable, formats, dedup); tasks/ (families, verifiers)
    §2.3.5 code test cases          curation/testgen/ (generated inputs, majority outputs, keep rule; k15 curate testgen)
    §2.2  long-CoT warm-up          sft.py (the warm-up SFT); stages.py (build, warm up, evaluate, RL as stages)
    §2.3  one RL iteration          trainer.py: rl_iteration, in the report's order:
          steer (labels)              labels.py (overlay of a person's labels); store/
          sampling §2.3.4             sampling.py (SAMPLERS: uniform, curriculum, prioritised)
          rollout §2.6                rollout/ (ENGINES: hf, vllm; partial.py: partial rollouts; repeat.py)
          reward §2.3.3               rewards.py (length penalty, repeat penalty); tasks/ (verifiers)
          correctness §2.3.5          judge/ (VERIFIERS: rule, judge, rule_then_judge; the CoT judge; its agreement)
          loss §2.3.2                 losses.py (LOSSES: k15, grpo, reinforce, rest; LOGZ_ESTIMATES); policy_step.py
          sync §2.6.3                 trainer.sync_weights -> the engine's load_weights
          record                      records.py (metrics.py documents every metric, curves.py how each reads on a plot); store/;
                                      reporting.py (REPORTERS: tensorboard, trackio; --report-to)
          checkpoints, resume         checkpoint.py (crash-safe swap); stopping.py (SIGTERM between iterations);
                                      runlock.py (one process trains a run)
    §2.4  long2short                long2short/ (merge, shortest rejection sampling, DPO, long2short RL)
    §2.6  scale                     dist.py (STRATEGIES: none, ddp, fsdp2; rank-aware helpers)

Shared by all of them: config.py (every config; configfile.py reads YAML), types.py (the typed records
between modules), tokens.py (padding, masks, log-probs, entropy), models.py (load any local Hugging Face causal
LM; the tiny model), precision.py (the bf16 rule), lora.py (merged LoRA weights), registry.py, errors.py.
Entry point: the `k15` command (cli/).
"""
__version__ = "0.1.0"
