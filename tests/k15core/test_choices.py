"""k15core.choices: the one table of config keys that name a registered variant, checked when a config is built."""
from __future__ import annotations

import pytest

from k15core.choices import CHOICES
from k15core.config import Config, describe, load_config
from k15core.errors import K15Error


def test_every_choice_is_a_config_key_whose_default_is_registered():
    keys = {k for k, _, _ in describe()}
    assert set(CHOICES) <= keys
    defaults = Config().to_dict()
    for key, registry in CHOICES.items():
        group, name = key.split(".", 1)
        assert defaults[group][name] in registry.names(), key


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_each_choice_is_checked_when_the_config_is_built(key):
    with pytest.raises(K15Error, match=f"{key} is 'nope', which is not one of: " + ", ".join(CHOICES[key].names())):
        load_config(overrides=[f"{key}=nope"])
