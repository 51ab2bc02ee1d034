"""The private Ray APIs rayprune relies on, behind one door.

Each has no public equivalent in Ray 2.60 and was read from Ray 2.60.0's source: the local
Learner of a LearnerGroup (to read the actor being trained), whether a TorchLearner steps its
optimizers plainly (no AMP scaler, no LR scheduler: the path PruningPPOLearner.apply_gradients
takes over), the GCS client (to check a cluster's token in one call instead of ray.init's ~20 s
of retries), Ray's cached auth mode, the SIGTERM handlers ray.init installs, and the folder where an Algorithm built outside Tune's own
Trainable keeps its logs. A Ray other than the tested one is refused here, in one line, before
any is used. tests/unit/test_compat.py fails when Ray renames or drops any of them, and
tests/unit/test_layers.py that no other module touches a private part of Ray.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import ray
import ray._private.utils as ray_utils
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
    """The Learner of an Algorithm built with num_learners=0 (it runs in this process):
    LearnerGroup._learner (Ray 2.60.0)."""
    check_ray_version()
    return algo.learner_group._learner


def steps_optimizers_plainly(learner) -> bool:
    """Whether TorchLearner.apply_gradients would only set the gradients and step each
    optimizer: no AMP grad scaler (`_grad_scalers`) and no LR scheduler
    (`_lr_scheduler_classes`), both set in TorchLearner.__init__ (Ray 2.60.0)."""
    check_ray_version()
    return learner._grad_scalers is None and learner._lr_scheduler_classes is None


def connect_gcs(address: str) -> None:
    """Open a GCS client to `address` with this process's auth settings: raises
    ray.exceptions.AuthenticationError at once when the cluster rejects them
    (ray._raylet.GcsClient, Ray 2.60.0)."""
    check_ray_version()
    GcsClient(address=address, cluster_id=None)


def refresh_auth_mode() -> None:
    """Ray caches RAY_AUTH_MODE at import; this is how Ray itself re-reads it
    (ray._raylet.Config.initialize, Ray 2.60.0)."""
    check_ray_version()
    Config.initialize("")


def algorithm_logs_here() -> None:
    """An Algorithm built inside a function trainable has no Tune storage of its own, so each
    build made an empty folder in ~/ray_results (Trainable._setup_logdir): outside the results
    folder. Its logs go to the trial's working directory (in Ray's session folder) instead:
    a monkeypatch of the module global Trainable reads (Ray 2.60.0)."""
    check_ray_version()
    tune_trainable.DEFAULT_STORAGE_PATH = os.getcwd()


@contextlib.contextmanager
def own_sigterm_handler() -> Iterator[None]:
    """While in the block, ray.init keeps this process's SIGTERM handler: it replaces it, through
    ray._private.utils.set_sigterm_handler (Ray 2.60.0), with handlers that exit at once (code
    15, or 1 after killing the node) and say nothing. (The C++ handler of the driver's core
    worker is put back by the caller after init.)"""
    check_ray_version()
    original = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = original
