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
