"""Held-out evaluation: accuracy by difficulty and response length (mean, p50, p90) for each answer style.

Style 'free' lets the model choose how to answer (what RL changes); any other style prefills that
style's opening, which measures what the model can do when made to answer briefly or at length.
Decoding is greedy by default (reproducible); with `eval.temperature` > 0 each problem gets
`eval.samples` sampled answers with a fixed seed (Pass@1 averaged over samples, as the report
measures), which is what shows the policy RL actually trains: greedy decoding hides a 40/60 choice
between styles behind whichever is more likely.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from k15core.config import EvalConfig
from k15core.errors import K15Error
from k15core.prompting import render_prompt
from k15core.rollout.hf import generate
from k15core.tasks.base import Task
from k15core.tasks.problem import Problem
from k15core.types import TrajectoryRecord

ALL = 0  # the difficulty value of a row that covers every level


@dataclass
class EvalRow:
    style: str
    difficulty: int
    """Difficulty level, or ALL (0) for the row over every level."""
    n: int
    accuracy: float
    len_mean: float
    len_p50: float
    len_p90: float
    truncated: float


def _rows(style: str, records: list[TrajectoryRecord]) -> list[EvalRow]:
    rows = []
    levels = sorted({r.difficulty for r in records})
    for level in levels + [ALL]:
        sel = [r for r in records if level == ALL or r.difficulty == level]
        lengths = np.array([r.length for r in sel], dtype=float)
        rows.append(
            EvalRow(
                style=style, difficulty=level, n=len(sel), accuracy=float(np.mean([r.correct for r in sel])),
                len_mean=float(lengths.mean()), len_p50=float(np.percentile(lengths, 50)), len_p90=float(np.percentile(lengths, 90)),
                truncated=float(np.mean([r.truncated for r in sel])),
            )
        )
    return rows


def evaluate(model, tokenizer, task: Task, problems: list[Problem], cfg: EvalConfig, progress: bool = True,
             encode=None) -> tuple[list[EvalRow], list[TrajectoryRecord]]:
    """Generate one greedy response per problem and style; verify; summarise by difficulty. `encode(problem)`, if
    given, encodes each prompt with its images (`vlm.inputs.ImagePromptEncoder`: image prompts of a VLM)."""
    from tqdm.auto import tqdm

    if not problems:
        raise K15Error("there are no problems to evaluate", "check the prompt file or task.eval_per_level")
    for style in cfg.styles:
        if style != "free" and style not in task.styles:
            raise K15Error(f"unknown eval style {style!r}", f"use 'free' or one of {list(task.styles)}")
    rows: list[EvalRow] = []
    records: list[TrajectoryRecord] = []
    encoded = [encode(p) for p in problems] if encode is not None else None
    bar = tqdm(total=len(problems) * len(cfg.styles), desc="evaluating", unit="answer", disable=not progress)
    for style in cfg.styles:
        prefixes = None if style == "free" else [task.style_prefix(style)] * len(problems)
        greedy = cfg.temperature <= 0
        gens = generate(
            model, tokenizer, [render_prompt(tokenizer, p.prompt, task.instruction) for p in problems], k=1 if greedy else cfg.samples, greedy=greedy,
            temperature=cfg.temperature if not greedy else 1.0, max_new_tokens=cfg.max_new_tokens,
            prefixes=prefixes, batch_size=cfg.batch_size, seed=cfg.seed, progress=lambda n: bar.update(n / (1 if greedy else cfg.samples)),
            encoded=encoded,
        )
        style_records = []
        for g in gens:
            p = problems[g.prompt_index]
            correct = task.verify(g.text, p.reference)
            style_records.append(
                TrajectoryRecord(
                    prompt_id=p.id, sample_index=g.sample_index, prompt=p.prompt, response=g.text, token_ids=g.token_ids, logprobs=g.logprobs, entropies=g.entropies,
                    reward=correct, correct=correct, length=g.length, reward_parts={"correct": correct}, finished=g.finished,
                    truncated=g.truncated, difficulty=p.difficulty, tag=style,
                )
            )
        rows += _rows(style, style_records)
        records += style_records
    bar.close()
    return rows, records


def eval_metrics(rows: list[EvalRow]) -> dict[str, float]:
    """Flatten rows into the metric names documented in k15core.metrics."""
    out: dict[str, float] = {}
    for r in rows:
        suffix = "" if r.difficulty == ALL else f"/d{r.difficulty}"
        out[f"eval/{r.style}/accuracy{suffix}"] = r.accuracy
        out[f"eval/{r.style}/len_mean{suffix}"] = r.len_mean
        if r.difficulty != ALL:
            out[f"eval/{r.style}/len_p50{suffix}"] = r.len_p50
            out[f"eval/{r.style}/len_p90{suffix}"] = r.len_p90
        else:
            out[f"eval/{r.style}/truncated"] = r.truncated
    return out


def render_table(rows: list[EvalRow], title: str = "Held-out evaluation"):
    """A rich Table: one line per style and difficulty; accuracy in %, lengths in tokens."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("style", "difficulty", "n", "accuracy", "len mean", "len p50", "len p90"):
        table.add_column(col, justify="left" if col == "style" else "right")
    for r in rows:
        table.add_row(
            r.style, "all" if r.difficulty == ALL else str(r.difficulty), str(r.n), f"{100 * r.accuracy:.1f}%",
            f"{r.len_mean:.1f}", f"{r.len_p50:.0f}", f"{r.len_p90:.0f}", end_section=r.difficulty == ALL,
        )
    return table


def record_eval(store, run_id: int, run) -> list[EvalRow]:
    """`run()` -> (rows, records), recorded in `store` (a k15core.store.Store) as the eval run's one iteration; the
    run ends 'finished', or 'stopped' when `run` raises (the error goes on). Returns the rows."""
    try:
        rows, records = run()
    except BaseException:
        store.set_run_status(run_id, "stopped")
        raise
    store.record_iteration(run_id, 0, eval_metrics(rows), records)
    store.set_run_status(run_id, "finished")
    return rows
