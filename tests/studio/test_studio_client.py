"""The launched studio through gradio_client: its API writes the rows it should, under the right user,
and its safety settings hold (loopback by default, auth required elsewhere, 401 without credentials)."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from gradio_client import Client

from k15core.errors import K15Error
from studio.app import build_app, read_auth_file, serve


@pytest.fixture
def served(studio_data):
    """The studio on a free loopback port with one user, ann."""
    app = build_app(studio_data.root)
    url = serve(app, auth=[("ann", "secret")], block=False, quiet=True)
    yield app, url
    app.close()
    app.k15_context.store.close()


def test_api_labels_are_recorded_under_the_signed_in_user(served, studio_data):
    app, url = served
    client = Client(url, auth=("ann", "secret"), download_files=False, verbose=False)
    pid = studio_data.prompt_ids[0]
    client.predict(pid, [pid], api_name="/decide_exclude")
    client.predict(pid, [pid], api_name="/decide_exclude")  # fired twice: one row
    events = app.k15_context.store.label_events()
    assert [(e["prompt_id"], e["field"], e["value"], e["author"], e["source"]) for e in events] == [(pid, "status", "excluded", "ann", "studio")]
    client.predict(pid, api_name="/undo")
    assert not app.k15_context.store.prompt_labels([pid])[pid].excluded
    found = client.predict(studio_data.run_id, "", "", "Answer", False, "wrong", "", "", "any", "any", "rl", api_name="/search_rollouts")
    assert "18 samples match" in found[1]


def test_without_credentials_the_app_answers_401(served):
    _, url = served
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "config", timeout=10)
    assert err.value.code == 401


def test_monitoring_is_off_and_labels_default_to_the_local_user(studio_data, monkeypatch):
    monkeypatch.setenv("K15_USER", "local-ann")
    app = build_app(studio_data.root)
    url = serve(app, block=False, quiet=True)
    try:
        with pytest.raises(urllib.error.HTTPError) as err:  # Gradio's /monitoring dashboard is not served
            urllib.request.urlopen(url + "monitoring", timeout=10)
        assert err.value.code in (403, 404)  # Gradio answers 403 when monitoring is off; 200 would serve the dashboard
        Client(url, download_files=False, verbose=False).predict(studio_data.prompt_ids[1], [], api_name="/decide_flag")
        assert [e["author"] for e in app.k15_context.store.label_events()] == ["local-ann"]
    finally:
        app.close()
        app.k15_context.store.close()


def test_non_loopback_host_needs_auth(studio_data, tmp_path):
    app = build_app(studio_data.root)
    try:
        with pytest.raises(K15Error, match="without authentication"):
            serve(app, host="0.0.0.0", block=False, quiet=True)
    finally:
        app.k15_context.store.close()
    bad = tmp_path / "auth.txt"
    bad.write_text("# users\nann\n")
    with pytest.raises(K15Error, match="line 2"):
        read_auth_file(bad)
    bad.write_text("ann:pw\n\nbob: two words\n")
    assert read_auth_file(bad) == [("ann", "pw"), ("bob", " two words")]


@pytest.mark.slow
def test_exclusion_in_the_ui_stops_a_training_run_drawing_the_prompts(tmp_path, tiny_model_dir):
    """The live loop end to end: a real `k15 train` process trains; prompts excluded through the studio's
    API are never drawn by an iteration that starts after the exclusion."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from k15core.store import Store
    from k15core.store.db import TrajectoryFilter

    ws = tmp_path / "ws"
    small = ["rl.prompts_per_iter=4", "rl.k=2", "rl.max_response_tokens=12", "rl.minibatches=1", "rl.pool_size=20", "rl.iterations=400",
             "rl.checkpoint_every=1000", "rl.sampler=uniform", "task.levels=[1,2]", "task.eval_per_level=2",
             "rl.doctor=false"]  # the untrained model cannot learn: the doctor would stop the run before the test is done with it
    cmd = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet", "--model", str(tiny_model_dir)]
    cmd += [a for o in small for a in ("--set", o)]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": os.getcwd()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if (ws / "k15.db").exists():
                store = Store(ws / "k15.db")
                runs = store.runs(kind="rl")
                if runs and (store.last_iteration(runs[0]["id"]) or 0) >= 1:
                    break
                store.close()
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.5)
        run_id = runs[0]["id"]
        app = build_app(ws)
        url = serve(app, block=False, quiet=True)
        try:
            client = Client(url, download_files=False, verbose=False)
            level_one = [p["id"] for p in store.prompts() if p["difficulty"] == 1]
            client.predict("", "all", 1, "exclude", "", api_name="/bulk")  # bulk action on the filter "level 1"
            excluded_at = store.last_iteration(run_id)
            assert all(s.excluded for s in store.prompt_labels(level_one).values()) and len(store.prompt_labels(level_one)) == len(level_one)
            while time.time() < deadline + 120 and (store.last_iteration(run_id) or 0) < excluded_at + 6:
                assert proc.poll() is None, proc.stderr.read()[-2000:]
                time.sleep(0.5)
        finally:
            app.close()
            app.k15_context.store.close()
        later = store.find_trajectories(TrajectoryFilter(run_id=run_id, iteration_min=excluded_at + 2), limit=10_000)
        before = store.find_trajectories(TrajectoryFilter(run_id=run_id, iteration_max=excluded_at), limit=10_000)
        assert later and not {t["prompt_id"] for t in later} & set(level_one)
        assert {t["prompt_id"] for t in before} & set(level_one)  # they were being drawn until then
        metrics = {m["iteration"]: m["value"] for m in store.metrics(run_id, names=["rl/excluded_prompts"])}
        assert metrics[max(metrics)] == len(level_one)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
