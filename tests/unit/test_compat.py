"""The private Ray APIs behind rayprune.rllib.compat: refused on an untested Ray, and each one
present, under its name, in this one. Each test fails when Ray renames, moves or drops what
compat reads. They also run for real in tests/integration: local_learner in test_rllib.py
(through learner_module), steps_optimizers_plainly in every trial's update, connect_gcs in
test_cluster.py (a wrong token rejected)."""

import pytest

from rayprune.errors import ClusterError
from rayprune.rllib import compat


def test_an_untested_ray_is_refused_in_one_line():
    with pytest.raises(ClusterError, match="tested with Ray 2.60.x .* found Ray 2.61.0"):
        compat.check_ray_version("2.61.0")
    compat.check_ray_version()  # the installed one


def test_the_local_learner_is_where_compat_reads_it():
    from ray.rllib.core.learner.learner_group import LearnerGroup

    assert "_learner" in LearnerGroup.__init__.__code__.co_names


def test_a_torch_learner_keeps_its_scalers_and_schedulers_where_compat_reads_them():
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner

    written = TorchLearner.__init__.__code__.co_names
    read = TorchLearner.apply_gradients.__code__.co_names
    for attribute in ("_grad_scalers", "_lr_scheduler_classes"):
        assert attribute in written and attribute in read, attribute


def test_a_learner_that_scales_or_schedules_is_not_stepped_plainly():
    class Learner:  # the two attributes, as TorchLearner.__init__ sets them
        _grad_scalers = None
        _lr_scheduler_classes = None

    plain = Learner()
    assert compat.steps_optimizers_plainly(plain)
    scaled = Learner()
    scaled._grad_scalers = {}
    assert not compat.steps_optimizers_plainly(scaled)
    scheduled = Learner()
    scheduled._lr_scheduler_classes = [object]
    assert not compat.steps_optimizers_plainly(scheduled)


def test_the_gcs_client_and_the_auth_config_exist_in_this_ray():
    from ray._raylet import Config, GcsClient

    assert callable(Config.initialize)
    assert callable(GcsClient)


def test_trainable_reads_its_default_storage_from_the_global_compat_sets(tmp_path, monkeypatch):
    import ray.tune.trainable.trainable as tune_trainable

    assert "DEFAULT_STORAGE_PATH" in tune_trainable.Trainable._setup_logdir.__code__.co_names
    monkeypatch.setattr(tune_trainable, "DEFAULT_STORAGE_PATH", tune_trainable.DEFAULT_STORAGE_PATH)
    monkeypatch.chdir(tmp_path)
    compat.algorithm_logs_here()
    assert tune_trainable.DEFAULT_STORAGE_PATH == str(tmp_path)


def test_ray_init_sets_its_sigterm_handlers_where_compat_holds_them_off():
    import inspect
    import signal

    import ray._private.node as ray_node
    import ray._private.utils as ray_utils
    import ray._private.worker as ray_worker

    init = inspect.unwrap(ray_worker.init)  # under Ray's client-mode decorator
    assert "set_sigterm_handler" in init.__code__.co_names
    assert "set_sigterm_handler" in ray_node.Node._register_shutdown_hooks.__code__.co_names
    ours = signal.getsignal(signal.SIGTERM)
    original = ray_utils.set_sigterm_handler
    with compat.own_sigterm_handler():
        ray_utils.set_sigterm_handler(lambda signum, frame: None)  # what ray.init calls
        assert signal.getsignal(signal.SIGTERM) is ours
    assert ray_utils.set_sigterm_handler is original
