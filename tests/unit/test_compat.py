"""The private Ray APIs behind rayprune.rllib.compat: refused on an untested Ray, present in
this one. They run for real in tests/integration: local_learner in test_rllib.py (through
learner_module), connect_gcs in test_cluster.py (a wrong token rejected)."""

import pytest

from rayprune.errors import ClusterError
from rayprune.rllib import compat


def test_an_untested_ray_is_refused_in_one_line():
    with pytest.raises(ClusterError, match="tested with Ray 2.60.x .* found Ray 2.61.0"):
        compat.check_ray_version("2.61.0")
    compat.check_ray_version()  # the installed one


def test_the_private_apis_exist_in_this_ray():
    from ray._raylet import Config, GcsClient  # noqa: F401  (what compat imports)
    from ray.rllib.core.learner.learner_group import LearnerGroup

    assert "_learner" in LearnerGroup.__init__.__code__.co_names
    assert callable(Config.initialize)
