"""Benchmarks run in smoke mode and print their JSON contract (no timing assertions here).

Most run in the test's own process (`benchmark_runner.run_benchmark`); those that measure a process's memory,
start processes of their own or kill them keep a process of their own (subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmark_runner import run_benchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_warmup_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "warmup.py", "--smoke")[-1])
    assert result["smoke"] is True
    assert result["fp32_tokens_per_s"] > 0 and result["bf16_tokens_per_s"] > 0
    assert result["bf16_over_fp32"] == pytest.approx(result["bf16_tokens_per_s"] / result["fp32_tokens_per_s"], rel=0.02)  # both sides rounded
    assert isinstance(result["bf16_native"], bool)


def _demo_learning():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_learning", ROOT / "benchmarks" / "demo_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_learning_ablation_rows_and_their_statistics():
    bench = _demo_learning()
    groups = bench.ablation_rows(tau=0.05, iterations=30)
    assert list(groups["grid"]) == [f"loss=k15,tau={t},epochs={e}" for e in (1, 4) for t in ("0", "0.05", "0.5")]
    assert groups["grid"]["loss=k15,tau=0.5,epochs=4"] == ["rl.loss=k15", "rl.tau=0.5", "rl.epochs=4"]
    assert list(groups["losses"]) == ["loss=k15", "loss=grpo", "loss=reinforce", "loss=rest"]
    assert groups["samplers"]["sampler=curriculum"][1] == 'rl.curriculum=[{"start_iteration": 0, "levels": [1, 2, 3]}, {"start_iteration": 10, "levels": [4, 5]}]'
    rows = bench.select_rows(groups, ["loss=rest", "grid"])  # a row and a group, in the order given
    assert list(rows) == ["loss=rest", *groups["grid"]]
    with pytest.raises(SystemExit, match="unknown ablation row 'loss=rset'"):
        bench.select_rows(groups, ["loss=rset"])
    # hand numbers: acc 0.5 and 0.7 -> mean 0.6, population sd 0.1; tau share 0.2 and 0.2 -> 0.2 ± 0
    stats = bench.row_stats([{"acc_rl": 0.5, "tau_share": 0.2}, {"acc_rl": 0.7, "tau_share": 0.2}], ("acc_rl", "tau_share"))
    assert stats == pytest.approx({"acc_rl": 0.6, "acc_rl_std": 0.1, "tau_share": 0.2, "tau_share_std": 0.0})


def test_demo_learning_keeps_each_run_and_reads_it_back(tmp_path):
    bench = _demo_learning()
    calls = []

    def run():
        calls.append(1)
        return {"acc_rl": 0.25 * len(calls)}

    first = bench.cached_run(tmp_path, "default-s0", {"rl": {"tau": 0.05}}, run)
    again = bench.cached_run(tmp_path, "default-s0", {"rl": {"tau": 0.05}}, run)
    other = bench.cached_run(tmp_path, "default-s0", {"rl": {"tau": 0.5}}, run)  # another config trains again
    assert bench.cached_run(tmp_path, "default-s0", {"rl": {"tau": 0.5, "microbatch_tokens": 64}}, run)["reused"]  # speed only
    assert first == {"acc_rl": 0.25} and again == {"acc_rl": 0.25, "reused": True} and other == {"acc_rl": 0.5}
    assert len(calls) == 2 and len(list(tmp_path.glob("*.json"))) == 2 and not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_demo_learning_benchmark_smoke(tmp_path, monkeypatch, capsys):
    """The whole script on a tiny model, with a tiny ablation table: two rows that share the default config (one run),
    a ReST row and one of the τ x epochs grid, one seed, one iteration each."""
    rows = ["loss=k15", "sampler=prioritised", "loss=rest", "loss=k15,tau=0.5,epochs=4"]
    out = run_benchmark(monkeypatch, capsys, "demo_learning.py", "--smoke", "--seeds", "3", "--samples", "1",
                        "--ablations", "--ablation-iterations", "1", "--ablation-rows", *rows, "--workspace", str(tmp_path / "ws"))
    lines = [json.loads(line) for line in out]
    result = lines[-1]
    interim = [x for x in lines[:-1] if "acc_rl" in x and "per_seed" in x]
    assert len(interim) == 1 and "ablations" not in interim[0] and interim[0]["acc_rl"] == result["acc_rl"]
    for key in ("acc_warmup", "acc_rl", "hard_len_warmup", "hard_len_rl", "rl_minutes"):
        assert isinstance(result[key], float), key
    assert [s["seed"] for s in result["per_seed"]] == [3]
    assert result["acc_rl"] == pytest.approx(result["per_seed"][0]["acc_rl"])
    assert len(result["hard_len_by_iteration"]) == 2  # smoke: 2 RL iterations
    ablations = result["ablations"]
    assert list(ablations["results"]) == rows and ablations["tau"] == 0.05 and ablations["iterations"] == 1
    runs = {x["label"]: x for x in lines if "label" in x}  # rows with the same config share one run
    assert {"loss-k15-s3", "loss-rest-s3", "loss-k15-tau-0.5-epochs-4-s3"} <= set(runs) and "sampler-prioritised-s3" not in runs
    assert ablations["results"]["loss=k15"] == ablations["results"]["sampler=prioritised"]
    for name, row in ablations["results"].items():
        assert set(row) == {f"{k}{s}" for k in ("acc_rl", "hard_acc_rl", "logratio_abs", "tau_share", "rl_minutes") for s in ("", "_std")}, name
        assert 0 <= row["tau_share"] <= 1 and row["logratio_abs"] >= 0 and row["acc_rl_std"] == 0.0, name  # one seed: sd 0
    assert ablations["results"]["loss=rest"]["tau_share"] == 0.0  # ReST has no τ term
    assert result["length_penalty"]["weight"] == 0.3 and result["length_penalty"]["warmup_iterations"] == 10


@pytest.mark.slow
def test_studio_queries_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "studio_queries.py", "--trajectories", "600", "--repeats", "1")[-1])
    assert result["trajectories"] == 600 and result["iterations"] == 5 and result["metric_rows"] == 150
    filters = result["rollouts_filters"]
    assert filters["iteration_range"]["matches"] == 128 + 128 + 88  # iterations 2..4 of 0..4 (the last one is partial)
    assert result["rollouts_worst_filter_s"] == max(f["seconds"] for f in filters.values())
    assert result["rollouts_goal_met"] == (result["rollouts_worst_filter_s"] < 1.0)
    assert result["trajectories_written_per_s"] > 0 and result["write_s"] <= result["build_s"] + 0.05  # the writes are part of the build (rounded)


@pytest.mark.slow
def test_long2short_benchmark_smoke(tmp_path, monkeypatch, capsys):
    out = run_benchmark(monkeypatch, capsys, "long2short.py", "--smoke", "--workspace", str(tmp_path / "ws"), "--save", str(tmp_path / "s0.json"))
    result = json.loads(out[-1])
    combined = run_benchmark(monkeypatch, capsys, "long2short.py", "--combine", str(tmp_path / "s0.json"))
    assert json.loads("\n".join(combined)) == result  # the saved rows give the same summary
    assert result["benchmark"] == "long2short" and result["seeds"] == [0]
    # the smoke model is untrained: a method that cannot run says why instead of vanishing
    assert {"long", "short", "merge", "rl"} <= set(result["methods"]) and set(result["methods"]) | set(result["errors"]) >= {"rejection", "dpo"}
    for m in result["methods"].values():
        assert 0 <= m["accuracy"] <= 1 and m["len_mean"] > 0
    assert result["methods"]["long"]["points_vs_long"] == 0.0


@pytest.mark.slow
def test_distributed_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distributed.py"), "--smoke"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True and result["nproc"] == 2
    assert result["wall_s_1proc"] > 0 and result["wall_s_2proc"] > 0
    assert result["speedup"] == pytest.approx(result["wall_s_1proc"] / result["wall_s_2proc"], rel=0.02)
    assert 0 < result["iteration_s_1proc"] < result["wall_s_1proc"]  # phase timings of one iteration, not a rate


@pytest.mark.slow
def test_roofline_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "roofline.py", "--smoke")[-1])
    assert result["smoke"] is True and result["peak_gflops"] == max(result["peak_gflops_runs"]) > 0
    for step in ("rl_step", "sft_step"):
        assert result[step]["tokens_per_s"] > 0
        assert result[step]["fraction_of_peak"] == pytest.approx(result[step]["gflops"] / result["peak_gflops"], rel=0.02, abs=1e-4)
    assert result["goal_met"] == (result["rl_step"]["fraction_of_peak"] >= 0.30)


@pytest.mark.slow
def test_memory_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory.py"), "--smoke"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # the demo loads models and trains on top of the same imports: its peak must be above the bare imports'
    assert result["demo_peak_rss_mib"] > result["imports_peak_rss_mib"] > 50
    assert result["demo_over_imports"] == pytest.approx(result["demo_peak_rss_mib"] / result["imports_peak_rss_mib"], rel=0.01)


@pytest.mark.slow
def test_vs_trl_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "vs_trl.py", "--smoke")[-1])
    assert result["smoke"] is True and result["k15_s_per_iteration"] > 0 and result["trl_s_per_step"] > 0
    assert result["speedup_vs_trl"] == pytest.approx(result["trl_s_per_step"] / result["k15_s_per_iteration"], rel=0.01)
    # the work is reported for both sides: at most 2 prompts x 2 samples x 8 tokens (an untrained model rarely stops sooner)
    assert 0 < result["k15_generated_tokens_per_iteration"] <= 32 and 0 < result["trl_generated_tokens_per_step"] <= 32


@pytest.mark.slow
def test_rollout_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "rollout.py", "--smoke")[-1])
    assert result["smoke"] is True and set(result["tokens_per_s"]) == {"generate", "generate_logits", "k15"}
    assert result["speedup_vs_generate"] == pytest.approx(result["tokens_per_s"]["k15"] / result["tokens_per_s"]["generate"], rel=0.02)
    assert all(side["max"] <= result["max_tokens"] for side in result["lengths"].values())


@pytest.mark.slow
def test_real_model_step_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_model_step.py"), "--smoke"], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True and result["rows"] == 16 and result["same_loss"] is True
    for side in ("k15", "full_log_softmax"):
        assert result[side]["peak_rss_mib"] > 0 and result[side]["seconds"] > 0
    assert result["peak_rss_ratio_k15_over_full"] == pytest.approx(result["k15"]["peak_rss_mib"] / result["full_log_softmax"]["peak_rss_mib"], rel=0.01)


def test_import_preview_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "import_preview.py", "--smoke", "--repeats", "1")[-1])
    assert result["smoke"] is True and result["rows"] == result["rows_read"] == 1000 and result["importable"] is True and result["bad_rows"] == 0
    assert result["preview_over_read"] == pytest.approx(result["preview_s"] / result["read_s"], rel=0.05, abs=0.01)


def test_gpu_benchmark_smoke(monkeypatch, capsys):
    """On the CPU with --smoke: both rollout sides make every token (random weights seldom end early) and the
    MFU is the step's model FLOP/s over the matrix product's, as the JSON says."""
    result = json.loads(run_benchmark(monkeypatch, capsys, "gpu.py", "--smoke")[-1])
    assert result["smoke"] is True and set(result["rollout_tokens_per_s"]) == {"generate", "k15"}
    assert result["k15_over_generate"] == pytest.approx(result["rollout_tokens_per_s"]["k15"] / result["rollout_tokens_per_s"]["generate"], rel=0.01)
    assert result["mfu_vs_measured_matmul"] == pytest.approx(result["train_model_tflops"] / result["matmul_tflops"], rel=0.1, abs=0.01)


@pytest.mark.slow
def test_real_model_iteration_benchmark_smoke(tmp_path):
    """The tiny model: the k15 side's phases add up to its iterations, both sides report a peak RSS."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_model_iteration.py"), "--smoke", "--workspace", str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True and result["rows"] == 4 and result["iterations"] == 2
    k15 = result["k15"]
    assert set(k15["phases_median_s"]) >= {"rollout", "train", "reward", "sync"}
    assert k15["iteration_s_median"] == pytest.approx(sum(k15["phases_median_s"].values()), rel=1e-6)
    assert k15["peak_rss_mib"] > 0 and result["generate"]["peak_rss_mib"] > 0 and 0 < result["generate"]["tokens"] <= 4 * 8


@pytest.mark.slow
def test_real_model_learning_benchmark_smoke(tmp_path, monkeypatch, capsys):
    """The tiny model: the summary's gain is after minus base, per seed, and the held-out set is the task's."""
    result = json.loads(run_benchmark(monkeypatch, capsys, "real_model_learning.py", "--smoke", "--seeds", "0", "1", "--workspace", str(tmp_path / "ws"))[-1])
    assert result["smoke"] is True and [r["seed"] for r in result["per_seed"]] == [0, 1] and result["held_out_answers"] == 8
    for r, gain in zip(result["per_seed"], result["gain_points_per_seed"]):
        assert gain == pytest.approx(100 * (r["after"]["accuracy"] - result["base"]["accuracy"]))
    assert result["every_seed_gains"] == all(g > 0 for g in result["gain_points_per_seed"])


@pytest.mark.slow
def test_soak_resume_benchmark_smoke():
    """Two SIGKILLs aimed at a checkpoint save and a store write, each followed by `k15 train --resume`: the store is
    whole, every iteration stored once, and the run equals an uninterrupted one bit for bit (as the design says)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak_resume.py"), "--smoke"], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True and result["errors"] == []
    assert result["kills"] == 2 and result["kills_by_mode"] == {"checkpoint": 1, "store": 1} and result["resumes"] == 2
    assert result["resumes_that_took_over"] == 2  # each resume found the killed trainer's run and took it over
    assert result["integrity_check"] == "ok" and result["run_status"] == ["finished"]
    assert result["iterations_stored_once"] is True and result["trajectories_per_iteration_ok"] is True
    assert result["same_trajectories_as_uninterrupted"] is True and result["same_metrics_as_uninterrupted"] is True
    assert result["weights_moved"] is True  # else equal weights would prove nothing
    assert result["final_weights_equal"] is True and result["max_weight_diff"] == 0.0


@pytest.mark.slow
def test_vlm_step_benchmark_smoke(monkeypatch, capsys):
    result = json.loads(run_benchmark(monkeypatch, capsys, "vlm_step.py", "--smoke")[-1])
    assert result["smoke"] is True and result["rollout_rows"] == 4
    for side in ("vlm", "text"):
        assert result[side]["sft_step_s"] > 0 and 0 < result[side]["rollout_tokens"] <= 4 * 8
    assert result["vlm"]["prompt_tokens"] == result["text"]["prompt_tokens"] + 36 - 3  # 36 image tokens instead of 3 digits
    assert result["sft_step_ratio_vlm_over_text"] == pytest.approx(result["vlm"]["sft_step_s"] / result["text"]["sft_step_s"])


@pytest.mark.slow
def test_labelling_rate_benchmark_smoke():
    import os
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no chromium on PATH")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "labelling_rate.py"), "--prompts", "3", "--no-train"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    idle = json.loads(out.stdout.strip().splitlines()[-1])["idle"]
    assert (idle["prompts"], idle["events_meant"], idle["events_stored"], idle["events_lost"], idle["events_extra"]) == (3, 6, 6, 0, 0)
    assert idle["in_order"] and idle["seconds_per_prompt"] > 0

