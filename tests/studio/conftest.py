"""Fixtures of the studio tests; the workspace they use is built by studio_fixtures.fill_workspace."""
from __future__ import annotations

import pytest
from studio_fixtures import StudioData, fill_workspace


@pytest.fixture
def studio_data(tmp_path, tiny_model_dir) -> StudioData:
    return fill_workspace(tmp_path / "ws", tiny_model_dir)


@pytest.fixture
def ctx(studio_data):
    from studio.context import StudioContext

    c = StudioContext.open(studio_data.root)
    c.local_user = "tester"
    yield c
    c.store.close()
