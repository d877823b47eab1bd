"""The four findings of the security probe, each held by a test: a catastrophic regex froze the whole studio,
no Host-header check on a loopback studio without --auth (DNS rebinding), no limit on sign-in attempts, and
label writes for prompt ids that do not exist."""
from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from gradio_client import Client

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.types import TrajectoryRecord
from studio import prompts_tab, rollouts_tab
from studio_fixtures import served_studio

STUCK = r"(.|.)*[#~]"
"""Exponential backtracking in `re` and in `regex` alike on a text with neither character: it never finishes."""
PROBED = r"(.|.)*!"
"""The probe's pattern: exponential in `re`; `regex` sees that no "!" is in the text and fails it at once."""


def _add_trajectories(studio_data, n: int = 3000) -> None:
    """`n` more samples in the run (iteration 3), each ~70 characters with neither '!', '#' nor '~'."""
    store = Store(studio_data.root / "k15.db")
    pids = studio_data.prompt_ids
    records = [
        TrajectoryRecord(prompt_id=pids[i % len(pids)], sample_index=i % 4, prompt="Seq 17, steps: 3", response=f"Answer: the sequence goes 1, 2, 3, 5, 8 and so on, so x = {i}",
                         token_ids=[1, 2], logprobs=[-0.1, -0.2], reward=0.0, correct=0.0, length=2, tag="group:x", group=1000 + i // 4)
        for i in range(n)
    ]
    store.record_iteration(studio_data.run_id, 3, {"rl/reward": 0.5}, records)
    store.close()


def _filter(studio_data, pattern: str):
    return rollouts_tab.make_filter(studio_data.run_id, "", "", pattern, True, "any", "", "", "any", "any")


@pytest.fixture
def loopback(studio_data):
    """The studio on a free loopback port without --auth: (app, url, port)."""
    with served_studio(studio_data.root) as (app, url):
        yield app, url, urllib.parse.urlsplit(url).port


# -- 1. a regex with catastrophic backtracking -----------------------------------------------------

def test_a_catastrophic_regex_ends_with_a_clear_message_while_other_calls_answer(ctx, studio_data):
    _add_trajectories(studio_data)
    out: dict = {}

    def run_search():
        start = time.monotonic()
        out["result"] = rollouts_tab.search(ctx.store, _filter(studio_data, STUCK))
        out["seconds"] = time.monotonic() - start

    worker = threading.Thread(target=run_search, daemon=True)
    worker.start()
    time.sleep(0.5)
    start = time.monotonic()
    assert rollouts_tab.run_choices(ctx.store)  # another handler, on another thread, while the regex runs
    assert time.monotonic() - start < 1.0
    worker.join(15)
    assert not worker.is_alive()
    frame, said = out["result"]
    assert frame.empty and said == f"the regex took longer than {rollouts_tab.REGEX_TIME_LIMIT_S:g} s; simplify it"
    assert out["seconds"] < 10

    start = time.monotonic()
    _, said = rollouts_tab.search(ctx.store, _filter(studio_data, PROBED))  # the probe's own pattern
    assert time.monotonic() - start < 10 and said.startswith("0 samples match")
    # the pooled connections that ran the timed-out query still match regexes as before
    assert ctx.store.count_matching(TrajectoryFilter(run_id=studio_data.run_id, text=r"^Answer: \d$", regex=True)) == 30
    assert ctx.store.count_matching(TrajectoryFilter(run_id=studio_data.run_id, text=r"x = 29\d\d$", regex=True)) == 100


def test_a_served_studio_answers_config_while_a_regex_runs(studio_data, loopback):
    _add_trajectories(studio_data)
    _, url, _ = loopback
    client = Client(url, download_files=False, verbose=False)
    start = time.monotonic()
    job = client.submit(studio_data.run_id, "", "", STUCK, True, "any", "", "", "any", "any", "rl", api_name="/search_rollouts")
    time.sleep(1.0)
    answers = []
    while not job.done() and time.monotonic() - start < 15:
        t = time.monotonic()
        with urllib.request.urlopen(url + "config", timeout=10) as r:
            assert r.status == 200
        answers.append(time.monotonic() - t)
        time.sleep(0.2)
    _, said = job.result(timeout=15)
    assert "the regex took longer than" in said and "simplify it" in said
    assert time.monotonic() - start < 12
    assert answers and max(answers) < 2.0


# -- 2. DNS rebinding: the Host header of a loopback studio without --auth ----------------------------

def _get(port: int, host: str, path: str = "/config") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_loopback_studio_refuses_foreign_host_headers(loopback):
    _, _, port = loopback
    for good in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}"):
        assert _get(port, good) == 200, good
    for bad in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"localhost.evil.example:{port}", "", f"127.0.0.1:{port}@evil"):
        assert _get(port, bad) in (400, 403), bad
        assert _get(port, bad, "/") in (400, 403), bad


# -- 3. sign-in attempts ------------------------------------------------------------------------------

def _login(base: str, user: str, password: str):
    """(status, headers) of one sign-in POST, as a browser's login form sends it."""
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(base + "login", data=data, method="POST"), timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as err:
        return err.code, err.headers


@pytest.fixture
def with_auth(studio_data):
    with served_studio(studio_data.root, auth=[("ann", "secret"), ("bob", "hunter2")]) as (_, url):
        yield url


def test_rapid_wrong_passwords_are_refused_and_the_right_user_gets_back_in(with_auth):
    start = time.monotonic()
    codes = [_login(with_auth, "ann", f"guess{i}")[0] for i in range(100)]
    checked = codes.count(400)  # a password was compared; 429: refused without looking
    assert time.monotonic() - start < 30
    assert checked <= 7 and codes.count(429) >= 90, codes
    code, headers = _login(with_auth, "ann", "secret")
    assert code == 429 and int(headers["Retry-After"]) >= 1  # the right password waits out the window too
    time.sleep(int(headers["Retry-After"]) + 0.2)
    assert _login(with_auth, "ann", "secret")[0] == 200


def test_guessing_many_users_from_one_address_is_refused_too(with_auth):
    codes = [_login(with_auth, f"user{i}", "password")[0] for i in range(30)]
    assert codes.count(400) <= 12 and codes.count(429) >= 18, codes


# -- 4. labels for prompts that do not exist -------------------------------------------------------

def test_label_writers_refuse_unknown_prompt_ids(ctx, studio_data):
    pid = studio_data.prompt_ids[0]
    for decision in ("keep", "exclude", "flag", "d3"):
        action, said = prompts_tab.decide(ctx.store, "no-such-prompt", decision, "ann")
        assert action is None and "no prompt with id 'no-such-prompt'" in said
    action, said = prompts_tab.save_reference(ctx.store, "no-such-prompt", "7", "ann")
    assert action is None and "no prompt with id 'no-such-prompt'" in said
    actions, said = prompts_tab.save_tags_and_note(ctx.store, "no-such-prompt", "a, b", "note", "ann")
    assert actions == [] and "no prompt with id 'no-such-prompt'" in said
    action, said = prompts_tab.bulk_apply(ctx.store, [pid, "ghost-1", "ghost-2"], "exclude", "ann")
    assert action is None and "ghost-1" in said and "ghost-2" in said and "nothing written" in said
    assert ctx.store.label_events() == []
    assert prompts_tab.decide(ctx.store, pid, "keep", "ann")[0]  # a real prompt is labelled as before


def test_the_api_refuses_a_decision_on_an_unknown_prompt(studio_data, loopback):
    app, url, _ = loopback
    out = Client(url, download_files=False, verbose=False).predict("ghost", ["ghost"], api_name="/decide_exclude")
    assert "no prompt with id 'ghost'" in out[-1]
    assert app.k15_context.store.label_events() == []
