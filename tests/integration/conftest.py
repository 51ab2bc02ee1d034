import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A private Ray for in-process tests; ray.shutdown() stops exactly the processes it started."""
    import ray

    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()
