"""Long2short (report §2.4): make a long-CoT model answer in fewer tokens.

Four methods: weight merging (`merge`), shortest rejection sampling and DPO on responses sampled from
the long model (`selection` picks which responses; `train` runs them; DPO can also train on the pairs
people marked in the studio, `stages.run_dpo(pairs=...)`), and long2short RL (the RL trainer with a
preset config). `compare` evaluates them side by side on the held-out set.
"""
