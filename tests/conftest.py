"""The fast tier (`./scripts/test.sh --fast`, RAYPRUNE_FAST_TIER=1): tests marked integration,
cluster or slow are deselected there, and a test left in that starts Ray fails, saying to mark
it slow, so the tier stays free of Ray, servers and apt packages."""

import os

import pytest

FAST_TIER = os.environ.get("RAYPRUNE_FAST_TIER") == "1"


@pytest.fixture(autouse=True)
def _no_ray_in_the_fast_tier(monkeypatch):
    if FAST_TIER:
        import ray

        def refuse(*args, **kwargs):
            raise AssertionError("the fast tier starts no Ray: mark this test slow")

        monkeypatch.setattr(ray, "init", refuse)
