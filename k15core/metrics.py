"""Every metric k15 stores, documented in one place: name pattern -> meaning and formula.

The studio reads these descriptions for plot captions. `{style}` is an evaluation style ('free' when
the model chooses how to answer, otherwise the prefilled style), `{d}` a difficulty level.
"""
from __future__ import annotations

METRICS: dict[str, str] = {
    "sft/loss": "Warm-up SFT: mean cross-entropy per response token of the last batch (prompt tokens excluded).",
    "sft/lr": "Warm-up SFT: learning rate at this step.",
    "sft/tokens_per_s": "Warm-up SFT: tokens processed per second since the start (prompt + response, padding excluded).",
    "sft/text_loss": "A VLM's language stage before its warm-up (k15core.vlm.language): sft/loss on the task's text twin.",
    "sft/text_lr": "A VLM's language stage: learning rate at this step.",
    "sft/text_tokens_per_s": "A VLM's language stage: tokens processed per second since its start.",
    "sft/read_loss": "A VLM's read stage (k15core.vlm.read): mean cross-entropy per token of what the picture shows (the last batch).",
    "sft/read_lr": "A VLM's read stage: learning rate at this step (constant).",
    "sft/read_tokens_per_s": "A VLM's read stage: tokens processed per second since its start.",
    "eval/{style}/accuracy": "Held-out evaluation: share of problems whose final answer verifies (greedy decoding), all levels.",
    "eval/{style}/accuracy/d{d}": "Held-out evaluation: accuracy on difficulty level d.",
    "eval/{style}/len_mean": "Held-out evaluation: mean response length in tokens (EOS included), all levels.",
    "eval/{style}/len_mean/d{d}": "Held-out evaluation: mean response length in tokens on level d.",
    "eval/{style}/len_p50/d{d}": "Held-out evaluation: median response length in tokens on level d.",
    "eval/{style}/len_p90/d{d}": "Held-out evaluation: 90th percentile of response length in tokens on level d.",
    "eval/{style}/truncated": "Held-out evaluation: share of responses cut by eval.max_new_tokens.",
    # RL, one value per iteration, over the groups that finished in it (all k samples ended)
    "rl/reward": "RL: mean total reward (correctness + w * length reward + repeat penalty) of the iteration's finished responses.",
    "rl/accuracy": "RL: share of the iteration's finished responses whose answer verifies (sampled at rl.temperature); a response cut at "
                   "rl.max_response_tokens or stopped by the repeat detector counts as wrong (rewards.correctness).",
    "rl/accuracy/d{d}": "RL: accuracy of the responses to prompts of difficulty d.",
    "rl/len_mean": "RL: mean response length in tokens (every segment of a partial rollout counts).",
    "rl/len_mean/d{d}": "RL: mean response length in tokens on difficulty d.",
    "rl/len_p{q}": "RL: q-th percentile (10, 50, 90) of response length in tokens.",
    "rl/len_mean_correct": "RL: mean length of the correct responses.",
    "rl/len_mean_wrong": "RL: mean length of the wrong responses.",
    "rl/truncated": "RL: share of responses cut at rl.max_response_tokens.",
    "rl/finished": "RL: share of responses that ended with EOS (neither cut at rl.max_response_tokens nor stopped as a loop).",
    "rl/unparsed": "RL: share of the responses that ended with EOS whose final answer the task cannot read (extract_answer is None); absent when none ended.",
    "judge/judged_share": "RL with a judge (rl.verifier judge or rule_then_judge): share of the iteration's responses whose correctness the "
                          "chain-of-thought judge decided (the rest: the task's rule, or cut and never verified).",
    "judge/malformed_share": "RL with a judge: share of the judge's verdicts that were malformed (no strict {\"correct\": true|false} last line; "
                             "scored 0), out of the responses it judged.",
    "rl/heldout_accuracy": "RL: greedy accuracy on rl.doctor_eval_problems held-out problems, every rl.doctor_eval_every iterations (the doctor's reward-hacking check).",
    "doctor/{check}": "The doctor (k15core.doctor): the alarm {check} fired after this iteration (iteration -1: before the run); the value is what it measured.",
    "rl/repeated": "RL: share of responses stopped by the repeat detector.",
    "rl/segments_mean": "RL: mean number of iterations (partial-rollout segments) a response was generated in.",
    "rl/masked_token_share": "RL: share of the response tokens kept as context only, out of the loss: sum over responses of the tokens before "
                             "the response's own last segment / sum of response tokens (0 with rl.mask_old_segments=false or without partial rollouts).",
    "rl/length_reward": "RL: mean weighted length reward w * len_reward (0 while the penalty is off).",
    "rl/length_penalty_weight": "RL: the length-penalty weight w in force this iteration (0 during its warm-up).",
    "rl/same_reward_groups": "RL: share of groups whose k samples all got the same reward (no learning signal from them).",
    "rl/groups": "RL: groups (prompts with their k samples) trained on this iteration.",
    "rl/buffered_groups": "RL: groups left unfinished in the replay buffer at the end of the iteration.",
    "rl/excluded_prompts": "RL: prompts excluded by labels (never drawn) at this iteration.",
    "rl/loss": "RL: mean policy loss over the iteration's mini-batches.",
    "rl/kl": "RL: k3 estimate of KL(pi_theta || pi_theta_i) per trained token, over every step of every pass (rl.epochs x rl.minibatches), each measured before its step.",
    "rl/logratio_abs": "RL: mean over the last step's responses of |rho_j|, rho_j = sum over trained tokens of (log pi_theta - log pi_theta_i): the sequence log-ratio the k15 loss's tau term penalises, measured before that step (0 when the iteration takes one step).",
    "rl/tau_share": "RL: the tau term's share of the k15 gradient at the last step, sum_j |tau rho_j| / (sum_j |A_j| + sum_j |tau rho_j|) over its responses (losses.tau_share; 0 for losses without a tau term).",
    "rl/entropy": "RL: mean entropy (nats) of pi_theta_i's next-token distribution over response tokens.",
    "time/rollout_tokens_per_s": "RL: tokens generated per second in the rollout phase.",
    "time/train_tokens_per_s": "RL: tokens (prompt + response) per second through the training forward and backward passes.",
    "time/{phase}_s": "RL: seconds spent in a phase of the iteration: steer, rollout, reward, train, sync (the new weights to the rollout engine), store.",
}


def describe_metric(name: str) -> str:
    """The documentation of a concrete metric name, matching `{placeholders}` against any path segment text."""
    import re

    for pattern, text in METRICS.items():
        regex = "^" + re.sub(r"\\\{[a-z]+\\\}", r"[^/]+", re.escape(pattern)) + "$"
        if re.match(regex, name):
            return text
    return ""
