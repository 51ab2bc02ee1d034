"""The private Ray APIs rayprune relies on, behind one door.

Each has no public equivalent in Ray 2.60: the local Learner of a LearnerGroup (to read the
actor being trained), the GCS client (to check a cluster's token in one call instead of
ray.init's ~20 s of retries), and the folder where an Algorithm built outside Tune's own
Trainable keeps its logs. A Ray other than the tested one is refused here, in one line,
before either is used; tests/unit/test_compat.py exercises both.
"""

from __future__ import annotations

import os

import ray
import ray.tune.trainable.trainable as tune_trainable
from ray._raylet import Config, GcsClient

from rayprune.errors import ClusterError

TESTED_RAY = "2.60."


def check_ray_version(version: str = ray.__version__) -> None:
    if not version.startswith(TESTED_RAY):
        raise ClusterError(
            f"rayprune is tested with Ray {TESTED_RAY}x and uses private Ray APIs; found Ray {version}"
        )


def local_learner(algo):
    """The Learner of an Algorithm built with num_learners=0 (it runs in this process)."""
    check_ray_version()
    return algo.learner_group._learner


def connect_gcs(address: str) -> None:
    """Open a GCS client to `address` with this process's auth settings: raises
    ray.exceptions.AuthenticationError at once when the cluster rejects them."""
    check_ray_version()
    GcsClient(address=address, cluster_id=None)


def refresh_auth_mode() -> None:
    """Ray caches RAY_AUTH_MODE at import; this is how Ray itself re-reads it."""
    Config.initialize("")


def algorithm_logs_here() -> None:
    """An Algorithm built inside a function trainable has no Tune storage of its own, so each
    build made an empty folder in ~/ray_results (Trainable._setup_logdir): outside the results
    folder. Its logs go to the trial's working directory (in Ray's session folder) instead."""
    check_ray_version()
    tune_trainable.DEFAULT_STORAGE_PATH = os.getcwd()
