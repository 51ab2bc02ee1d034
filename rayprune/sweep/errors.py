"""Errors a user can fix, importable without loading Ray (the CLI catches them at start-up)."""


class SweepError(RuntimeError):
    """A sweep cannot be started or resumed as asked."""


class ClusterError(RuntimeError):
    """The cluster or the tracking server a sweep would use cannot work: fix before starting."""
