"""k15core: the engine of k15 studio — the Kimi k1.5 RL recipe, from a laptop CPU up.

Entry points: the `k15` command (k15core.cli), the stages (k15core.stages), and the pieces they
are built from: models, tasks, sft, evaluate, store.
"""
__version__ = "0.1.0"
